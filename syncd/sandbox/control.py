"""Control endpoints under /_sandbox/ (only with control=True): inspect items and requests,
reset, add/clear faults, approve OAuth request tokens, expire upload tokens, shift time,
read and change the profile.

Bodies are JSON or form-encoded (`curl -d`); a body that asks for nothing is refused with
HTTP 400 and a message, never accepted as a no-op.
    GET  /_sandbox/items | requests | faults | profile
    POST /_sandbox/reset | faults/clear
    POST /_sandbox/faults          JSON or compact spec; form: one rule (method=..&status=..)
                                   or spec=<spec>
    POST /_sandbox/profile         {"profile": "strict", "careless": "tags"} or the same as a
                                   form or a spec string (strict,careless=tags)
    POST /_sandbox/approve         oauth_token=...
    POST /_sandbox/expire-upload-token  upload_token=...
    POST /_sandbox/time-offset     seconds=... (shifts OAuth checks, expiry and `Date`)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from syncd.sandbox import profile as profiles
from syncd.sandbox.envelope import Response
from syncd.sandbox.faults import parse_spec, rule_from_form
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
    if action == "profile" and get:
        return _json(sb.profile.as_json())
    if get:
        return Response(
            404 if action not in _POSTS else 405, f"no GET /_sandbox/{action}\n".encode()
        )
    raw, params = _body_params(h, body)
    if action == "reset":
        sb.reset()
        return _json({"ok": True})
    if action == "faults":
        rules = _add_faults(sb, h, raw, params)
        return _json({"added": [r.id for r in rules], "rules": sb.faults.as_json()})
    if action == "profile":
        return _json(_set_profile(sb, h, raw, params).as_json())
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

_FAULT_FORMS = (
    "send JSON, the compact spec (photo/upload:503:count=2), form fields "
    "(method=photo/upload&status=503&count=2) or spec=<compact spec>"
)


def _is_form(h: Handler) -> bool:
    return "urlencoded" in (h.headers.get("Content-Type") or "").lower()


def _add_faults(sb: Sandbox, h: Handler, raw: bytes, params: dict[str, Any]) -> list[Any]:
    """Rules from the body in any of its forms; ValueError (HTTP 400) when it holds none."""
    if _is_form(h) and "spec" not in params:
        items = [rule_from_form({str(k): str(v) for k, v in params.items()})] if params else []
    else:
        text = str(params.get("spec", "")) if _is_form(h) else raw.decode("utf-8", "replace")
        items = parse_spec(text)
    if not items:
        raise ValueError(f"no fault rule in the request body: {_FAULT_FORMS}")
    return sb.faults.add_all(items)


def _set_profile(sb: Sandbox, h: Handler, raw: bytes, params: dict[str, Any]) -> Any:
    """The profile changed by the body: form fields, a JSON object or a spec string."""
    if _is_form(h):
        fields = dict(params)
        name = fields.pop("profile", None)
    else:
        name, fields = profiles.parse_spec(raw.decode("utf-8", "replace"))
    if not name and not fields:
        raise ValueError(
            "no profile or switch in the request body: send e.g. profile=strict, "
            'careless=tags, or {"no_such_tag": true}'
        )
    return sb.set_profile(name, **fields)
