"""Who is calling: verifies an OAuth 1.0a HMAC-SHA1 signed request and returns its principal.

Where the OAuth params may travel: Authorization header, GET query, form-urlencoded body.
Signed: header OAuth params (minus realm and oauth_signature), query params, form params.
Multipart fields are never signed. Refusals raise AuthError with a message that helps and
never contains a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from syncd.sandbox import oauth

# Permission levels, ascending; each includes those below.
LEVELS = ("none", "anonymous", "read", "write", "admin", "super")
# OAuth timestamps further than this from server time are refused (seconds).
TIMESTAMP_WINDOW = 300


def level_at_least(level: str, required: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(required)


class AuthError(Exception):
    """The request's OAuth signature is refused (answer: invalid_signature)."""


@dataclass(frozen=True)
class Principal:
    level: str
    consumer_key: str | None = None
    token: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class TokenInfo:
    secret: str
    level: str
    user_id: int | None


ANONYMOUS = Principal("anonymous")


class NonceCache:
    """Seen (consumer, token, nonce, timestamp) tuples, forgotten once outside the window."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str, str], float] = {}
        self._lock = threading.Lock()

    def check_and_add(self, key: tuple[str, str, str, str], now: float) -> bool:
        with self._lock:
            if len(self._seen) > 10_000:
                cutoff = now - 2 * TIMESTAMP_WINDOW
                self._seen = {k: t for k, t in self._seen.items() if t > cutoff}
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def authenticate(
    http_method: str,
    url: str,
    header: str | None,
    query: list[tuple[str, str]],
    form: list[tuple[str, str]],
    consumer_secret: Callable[[str], str | None],
    token_info: Callable[[str, str], TokenInfo | None],
    consumer_level: Callable[[str], str],
    nonces: NonceCache,
    now: float,
) -> tuple[Principal, dict[str, str]]:
    """Verify the request; returns the principal and the oauth_* params it carried.

    Unsigned requests (no OAuth params anywhere) are anonymous.
    """
    header_params: dict[str, str] = {}
    if header is not None and header.strip():
        try:
            header_params = oauth.parse_authorization(header)
        except oauth.OAuthFormatError as exc:
            raise AuthError(str(exc)) from exc
        header_params.pop("realm", None)
    other_oauth = {k: v for k, v in (*query, *form) if k.startswith("oauth_")}
    if header_params and other_oauth:
        raise AuthError("OAuth parameters given both in the Authorization header and elsewhere")
    oauth_params = header_params or other_oauth
    if not oauth_params:
        return ANONYMOUS, {}
    if "oauth_signature" not in oauth_params:
        raise AuthError("request carries OAuth parameters but no oauth_signature")
    method = oauth_params.get("oauth_signature_method")
    if method != "HMAC-SHA1":
        raise AuthError(f"oauth_signature_method must be HMAC-SHA1, got {method!r}")
    if oauth_params.get("oauth_version", "1.0") != "1.0":
        raise AuthError("oauth_version must be 1.0")
    for name in ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce"):
        if not oauth_params.get(name):
            raise AuthError(f"missing {name}")
    ts_text = oauth_params["oauth_timestamp"]
    if not ts_text.isdigit():
        raise AuthError("oauth_timestamp must be whole seconds since the epoch")
    skew = int(ts_text) - now
    if abs(skew) > TIMESTAMP_WINDOW:
        raise AuthError(
            f"oauth_timestamp is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            f"server time (allowed: {TIMESTAMP_WINDOW} s); check the client's clock"
        )
    consumer_key = oauth_params["oauth_consumer_key"]
    c_secret = consumer_secret(consumer_key)
    if c_secret is None:
        raise AuthError("unknown oauth_consumer_key (revoked or never issued)")
    token = oauth_params.get("oauth_token", "")
    info: TokenInfo | None = None
    if token:
        info = token_info(consumer_key, token)
        if info is None:
            raise AuthError("unknown or revoked oauth_token for this consumer")
    signed = [(k, v) for k, v in header_params.items() if k != "oauth_signature"]
    signed += [(k, v) for k, v in (*query, *form) if k != "oauth_signature"]
    base = oauth.base_string(http_method, url, signed)
    expected = oauth.sign(base, c_secret, info.secret if info else "")
    if not oauth.signature_matches(expected, oauth_params["oauth_signature"]):
        raise AuthError(
            "signature does not match (check the secrets, the URL "
            f"{oauth.base_string_uri(url)!r} and the signed parameters)"
        )
    if not nonces.check_and_add((consumer_key, token, oauth_params["oauth_nonce"], ts_text), now):
        raise AuthError("oauth_nonce already used with this timestamp (replayed request)")
    if info is None:
        return Principal(consumer_level(consumer_key), consumer_key), oauth_params
    return Principal(info.level, consumer_key, token, info.user_id), oauth_params
