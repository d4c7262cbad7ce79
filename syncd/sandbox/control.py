"""Control endpoints under /_sandbox/ (only with control=True): inspect items and requests,
reset, add/clear faults, approve OAuth request tokens, expire upload tokens, shift time."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from syncd.sandbox.envelope import Response
from syncd.sandbox.server import BodyError, BodyReader, Handler

if TYPE_CHECKING:
    from syncd.sandbox.core import Sandbox

# Control request bodies are small JSON or form documents.
MAX_CONTROL_BODY = 1 << 20


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json; charset=utf-8")


def _body_params(h: Handler, body: BodyReader) -> tuple[bytes, dict[str, Any]]:
    raw = body.read_all(MAX_CONTROL_BODY)
    ctype = (h.headers.get("Content-Type") or "").lower()
    if ctype.startswith("application/json") and raw.strip():
        data = json.loads(raw)
        return raw, data if isinstance(data, dict) else {}
    return raw, dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def make_route(sb: Sandbox) -> Any:
    def route(app: Any, h: Handler, url: Any, body: BodyReader) -> Response:
        if not sb.control:
            return Response(404, b"not found (control endpoints are off; use --control)\n")
        action = url.path[len("/_sandbox/") :].strip("/")
        try:
            return _dispatch(sb, h, action, body, url)
        except (ValueError, KeyError, BodyError) as exc:
            return _json({"error": str(exc)}, 400)

    return route


def _dispatch(sb: Sandbox, h: Handler, action: str, body: BodyReader, url: Any) -> Response:
    get = h.command in ("GET", "HEAD")
    if action == "items" and get:
        return _json(sb.items())
    if action == "requests" and get:
        return _json(sb.app.records())
    if action == "faults" and get:
        return _json(sb.faults.as_json())
    if get:
        return Response(
            404 if action not in _POSTS else 405, f"no GET /_sandbox/{action}\n".encode()
        )
    raw, params = _body_params(h, body)
    if action == "reset":
        sb.reset()
        return _json({"ok": True})
    if action == "faults":
        # JSON (object or list) or the compact spec language; form posts use `spec=`.
        ctype = (h.headers.get("Content-Type") or "").lower()
        text = params.get("spec", "") if "urlencoded" in ctype else raw.decode("utf-8")
        rules = sb.faults.load(text)
        return _json({"added": [r.id for r in rules], "rules": sb.faults.as_json()})
    if action == "faults/clear":
        sb.faults.clear()
        return _json({"ok": True})
    if action == "approve":
        verifier = sb.approve(str(params["oauth_token"]))
        return _json({"oauth_verifier": verifier})
    if action == "expire-upload-token":
        sb.expire_upload_token(str(params["upload_token"]))
        return _json({"ok": True})
    if action == "time-offset":
        sb.set_time_offset(float(params["seconds"]))
        return _json({"ok": True, "offset": sb.time_offset})
    return Response(404, f"no such control endpoint /_sandbox/{action}\n".encode())


_POSTS = ("reset", "faults/clear", "approve", "expire-upload-token", "time-offset")
