"""Helpers for the sandbox tests: a hand-written RFC 5849 signer (independent of both the
sandbox's verifier and oauthlib) and a requests-oauthlib caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote

import requests
from requests_oauthlib import OAuth1

from syncd.sandbox import Credentials, Sandbox


def enc(s: str) -> str:
    """RFC 5849 3.6 percent-encoding."""
    return quote(s.encode("utf-8"), safe="~-._")


def hand_header(
    http_method: str,
    url: str,
    params: list[tuple[str, str]],
    c: Credentials,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    consumer_secret: str | None = None,
) -> str:
    """Authorization header per RFC 5849 3.4.1 (base string) + 3.4.2 (HMAC-SHA1)."""
    oauth = {
        "oauth_consumer_key": c.consumer_key,
        "oauth_token": c.access_token,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_nonce": nonce or secrets.token_hex(8),
        "oauth_version": "1.0",
    }
    pairs = sorted((enc(k), enc(v)) for k, v in [*params, *oauth.items()])
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join([http_method.upper(), enc(url), enc(normalized)])
    key = enc(consumer_secret or c.consumer_secret) + "&" + enc(c.access_token_secret)
    sig = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
    oauth["oauth_signature"] = sig
    return "OAuth " + ", ".join(f'{enc(k)}="{enc(v)}"' for k, v in oauth.items())


def oauth1(sb: Sandbox, level: str = "super") -> OAuth1:
    c = sb.credentials(level)
    return OAuth1(c.consumer_key, c.consumer_secret, c.access_token, c.access_token_secret)


def call(
    sb: Sandbox,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    level: str | None = "super",
    post: bool = False,
    files: dict[str, Any] | None = None,
    fmt: str = "json",
) -> requests.Response:
    """Call /api/<method>, signed at `level` (None = unsigned); fmt json (raw) or xml."""
    p = dict(params or {})
    if fmt == "json":
        p.update(format="json", raw="1")
    auth = oauth1(sb, level) if level else None
    url = f"{sb.base_url}/api/{method}"
    if post or files:
        return requests.post(url, data=p, files=files, auth=auth, timeout=30)
    return requests.get(url, params=p, auth=auth, timeout=30)


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["status"] == "ok", data
    return data


def upload(sb: Sandbox, content: bytes = b"video-bytes", name: str = "v.mp4", **fields: Any) -> Any:
    resp = call(sb, "photo/upload", fields, files={"file": (name, content)})
    return ok(resp)["upload"]
