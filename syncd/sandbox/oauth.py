"""RFC 5849 (OAuth 1.0a) HMAC-SHA1, written out by hand: percent-encoding (3.6), base string
(3.4.1), signature (3.4.2) and the Authorization header syntax (3.5.1).

Deliberately independent of oauthlib so the client's signer and this verifier cannot share a bug.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import quote, unquote, urlsplit

# RFC 5849 3.6: everything except ALPHA / DIGIT / "-" / "." / "_" / "~" is %XX (uppercase hex).
_UNRESERVED = "-._~"

# One `name="value"` pair of an OAuth Authorization header, with its trailing comma.
_HEADER_PAIR = re.compile(r'\s*([A-Za-z0-9_.~%-]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


class OAuthFormatError(ValueError):
    """The Authorization header or an OAuth parameter is malformed."""


def pct(value: str) -> str:
    """Percent-encode per RFC 5849 3.6 (UTF-8 first, then %XX for everything not unreserved)."""
    return quote(value.encode("utf-8"), safe=_UNRESERVED)


def parse_authorization(header: str) -> dict[str, str]:
    """Parse `OAuth k="v", ...` into decoded params; raises OAuthFormatError on any defect."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise OAuthFormatError("Authorization header does not use the OAuth scheme")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _HEADER_PAIR.match(rest, pos)
        if match is None or match.end() == pos:
            raise OAuthFormatError(f"Authorization header is malformed near character {pos}")
        name, raw = unquote(match.group(1)), match.group(2)
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError as exc:
            raise OAuthFormatError(f"Authorization parameter {name!r} is not UTF-8") from exc
        if name in params:
            raise OAuthFormatError(f"Authorization parameter {name!r} appears twice")
        params[name] = value
        pos = match.end()
    if not params:
        raise OAuthFormatError("Authorization header carries no OAuth parameters")
    return params


def base_string_uri(url: str) -> str:
    """RFC 5849 3.4.1.2: lowercase scheme and host, default port dropped, no query/fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def normalize_params(params: list[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.3.2: encode each name and value, sort, join with = and &."""
    encoded = sorted((pct(k), pct(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def base_string(http_method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.1: METHOD & encoded base URI & encoded normalized params."""
    return "&".join(
        (pct(http_method.upper()), pct(base_string_uri(url)), pct(normalize_params(params)))
    )


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 3.4.2: base64(HMAC-SHA1(key = encoded secrets joined by &, base string))."""
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    digest = hmac.new(key, base.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison so timing does not leak how much of a signature was right."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
