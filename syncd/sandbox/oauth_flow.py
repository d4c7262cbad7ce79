"""The three-legged OAuth endpoints: /oauth/request_token, /oauth/authorize,
/oauth/access_token. Refusals: HTTP 401 (signature) or 400 (missing parameter), plain text."""

from __future__ import annotations

import html
import secrets
from typing import Any
from urllib.parse import urlencode

from syncd.sandbox import creds
from syncd.sandbox.app import ApiError, SandboxApp, parse_pairs
from syncd.sandbox.auth import AuthError, TokenInfo, authenticate
from syncd.sandbox.envelope import Response
from syncd.sandbox.server import BodyError, BodyReader, Handler
from syncd.sandbox.state import State

# Request tokens must be exchanged within this many seconds.
REQUEST_TOKEN_TTL = 3600
MAX_FORM = 64 * 1024


def _form(data: dict[str, str]) -> Response:
    return Response(200, urlencode(data).encode(), "application/x-www-form-urlencoded")


def route(app: SandboxApp, h: Handler, url: Any, body: BodyReader) -> Response:
    step = url.path[len("/oauth/") :].strip("/")
    try:
        query = parse_pairs(url.query, "query string")
        form: list[tuple[str, str]] = []
        if (h.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            form = parse_pairs(body.read_all(MAX_FORM), "form body")
    except (ApiError, BodyError) as exc:
        return Response(400, f"{exc}\n".encode())
    if step == "authorize":
        return _authorize(app, h, dict(query + form))
    if step not in ("request_token", "access_token"):
        return Response(404, b"no such OAuth endpoint\n")
    state = app.state

    def token_info(consumer: str, token: str) -> TokenInfo | None:
        rec = state.get("request_tokens", token)
        if step == "access_token" and rec is not None and rec["consumer_key"] == consumer:
            return TokenInfo(rec["secret"], "none", None)
        return None

    try:
        _, oauth = authenticate(
            h.command,
            app.signing_url(h, url.path),
            h.headers.get("Authorization"),
            query,
            form,
            lambda c: creds.consumer_secret(state, c),
            token_info,
            lambda c: "anonymous",
            app.nonces,
            app.clock(),
        )
    except AuthError as exc:
        return Response(401, f"invalid_signature: {exc}\n".encode())
    if not oauth:
        return Response(401, b"invalid_signature: this endpoint needs a signed request\n")
    if step == "request_token":
        callback = oauth.get("oauth_callback")
        if not callback:
            return Response(400, b"oauth_callback is required (use 'oob' for no callback)\n")
        token, secret = f"rt-{secrets.token_hex(8)}", secrets.token_hex(16)
        state.put(
            "request_tokens",
            token,
            {
                "secret": secret,
                "consumer_key": oauth["oauth_consumer_key"],
                "callback": callback,
                "verifier": None,
                "created": app.clock(),
            },
        )
        return _form(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )
    token = oauth.get("oauth_token", "")
    rec = state.get("request_tokens", token)
    if rec is None:
        return Response(401, b"invalid_signature: oauth_token is not a request token\n")
    if rec["verifier"] is None:
        return Response(401, b"request token not approved yet (open /oauth/authorize)\n")
    if oauth.get("oauth_verifier") != rec["verifier"]:
        return Response(401, b"oauth_verifier does not match\n")
    if app.clock() - rec["created"] > REQUEST_TOKEN_TTL:
        return Response(401, b"request token expired\n")
    state.delete("request_tokens", token)
    access, secret = f"at-{secrets.token_hex(8)}", secrets.token_hex(16)
    creds.add_token(
        state, rec["consumer_key"], access, secret, creds.FLOW_TOKEN_LEVEL, creds.FLOW_USER_ID
    )
    return _form(
        {
            "oauth_token": access,
            "oauth_token_secret": secret,
            "domain": app.domain(),
            "user_id": str(creds.FLOW_USER_ID),
        }
    )


def approve(state: State, request_token: str) -> str:
    """Mark a request token approved; returns its verifier (same one if approved twice)."""
    with state.lock:
        rec = state.get("request_tokens", request_token)
        if rec is None:
            raise KeyError(f"no such request token {request_token!r}")
        if rec["verifier"] is None:
            rec["verifier"] = secrets.token_hex(8)
            state.put("request_tokens", request_token, rec)
        return rec["verifier"]


def _authorize(app: SandboxApp, h: Handler, params: dict[str, str]) -> Response:
    token = params.get("oauth_token", "")
    rec = app.state.get("request_tokens", token)
    page = "<!doctype html><html><head><title>Authorize</title></head><body>{}</body></html>"
    if rec is None:
        return Response(
            400, page.format("<p>Unknown request token.</p>").encode(), "text/html; charset=utf-8"
        )
    if h.command != "POST":
        form = (
            '<p>An application asks for access to this sandbox site.</p><form method="post">'
            f'<input type="hidden" name="oauth_token" value="{html.escape(token)}">'
            '<button type="submit">Approve</button></form>'
        )
        return Response(200, page.format(form).encode(), "text/html; charset=utf-8")
    verifier = approve(app.state, token)
    if rec["callback"] == "oob":
        text = f"<p>Approved. Your verifier: <code id='verifier'>{verifier}</code></p>"
        return Response(200, page.format(text).encode(), "text/html; charset=utf-8")
    cb = rec["callback"]
    sep = "&" if "?" in cb else "?"
    location = cb + sep + urlencode({"oauth_token": token, "oauth_verifier": verifier})
    return Response(302, b"", headers=[("Location", location)])
