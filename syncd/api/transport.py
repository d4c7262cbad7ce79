"""Translate requests/urllib3 failures and HTTP status codes into syncd errors, once.

Nothing above this module sees a requests exception. `ambiguous` is True when
the server may have received the whole request and acted on it.
"""

from __future__ import annotations

import email.utils
import re
import socket
import ssl
import time
from collections.abc import Mapping

import requests
import urllib3.exceptions

from syncd.errors import (
    ConnectError,
    ConnectionCut,
    InvalidRequest,
    RateLimited,
    ServerError,
    SyncdError,
    TimeoutError_,
)

# A URL's query string (it may carry a token) is left out of messages.
_QUERY = re.compile(r"\?[^\s'\"]*")
# requests' errors for a request that can never be sent as built (checked before any byte
# goes out): not transport faults, so never retried. InvalidProxyURL is an InvalidURL.
_UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidHeader,
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds from a Date header, None if absent or unparseable."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def check_status(status: int, headers: Mapping[str, str], method: str) -> None:
    """Raise for transport-level HTTP statuses: 429, 5xx. Others are the caller's business."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status == 429:
        raise RateLimited(f"{method}: HTTP 429 Too Many Requests", retry_after=retry_after)
    if status == 503 and retry_after is not None:
        raise RateLimited(f"{method}: HTTP 503 Service Unavailable", retry_after=retry_after)
    if status >= 500:
        raise ServerError(status, f"{method}: HTTP {status} from the server")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        args = getattr(current, "args", ())
        reason = getattr(current, "reason", None)
        nested = [a for a in args if isinstance(a, BaseException)]
        if isinstance(reason, BaseException):
            nested.insert(0, reason)
        current = nested[0] if nested else (current.__cause__ or current.__context__)
    return seen


def translate(exc: requests.RequestException, host: str, method: str, sent_all: bool) -> SyncdError:
    """One syncd error for a requests exception: a TransportError (retryable), or
    InvalidRequest when the request could never be sent (a malformed URL).

    `sent_all`: the whole body was handed to the socket before the failure, so
    the server may have acted on it (ambiguous) unless we know nothing was sent.
    """
    where = f"{method} on {host}"
    if isinstance(exc, _UNSENDABLE):
        # A header's text may hold a signature or token: name the kind of problem only.
        what = (
            "a request header is invalid"
            if isinstance(exc, requests.exceptions.InvalidHeader)
            else f"invalid URL: {_QUERY.sub('?...', _last_words([exc]))}"
        )
        return InvalidRequest(
            f"{where}: the request cannot be sent ({what}); check site.domain and"
            " site.scheme (or oauth_base_url) in the config"
        )
    chain = _chain(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TimeoutError_(f"{where}: connect timeout (nothing sent)")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TimeoutError_(f"{where}: no answer within the read timeout", ambiguous=True)
    if isinstance(exc, requests.exceptions.SSLError):
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), str(exc))
        return ConnectError(f"{where}: TLS handshake with {host} failed: {detail}")
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return ConnectError(f"{where}: DNS lookup of {host} failed (check site.domain)")
    if any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return ConnectError(f"{where}: connection refused by {host} (is the server up?)")
        return ConnectError(f"{where}: cannot connect to {host}: {_last_words(chain)}")
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return ConnectionCut(f"{where}: connection cut while reading the answer", ambiguous=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return TimeoutError_(f"{where}: timeout", ambiguous=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        phase = "after sending the request" if sent_all else "while sending the request"
        return ConnectionCut(
            f"{where}: connection cut {phase}: {_last_words(chain)}", ambiguous=sent_all
        )
    return ConnectionCut(f"{where}: {type(exc).__name__}: {_last_words(chain)}", ambiguous=True)


def _last_words(chain: list[BaseException]) -> str:
    """The innermost exception, briefly (never includes request headers)."""
    inner = chain[-1]
    text = str(inner) or type(inner).__name__
    return text if len(text) < 200 else text[:200] + "..."
