"""Answers in the platform's formats: XML by default, `format=json` as `var visual = {...};`
(`varname`, `callback`), `raw` as plain JSON. Errors are HTTP 200 envelopes.

Shapes chosen where the public documentation is silent:
- JSON scalar values are strings ("photo_id": "10001", flags "0"/"1"); lists stay lists.
- XML: the root `<response>` carries status, permission_level, cached (and p, size, total_count
  on lists) as attributes. A single object's fields are child elements of <response>; a list is
  one element per entry (<photo>, <album>, ...) whose fields are child elements; a list of
  strings (tags) is <tags><tag>x</tag></tags>. Errors: <response status="error" code=".."
  message=".." .../> (same attributes as the JSON keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class ApiError(Exception):
    """An API-level error: HTTP 200, status="error", code, message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Payload:
    """A successful answer: `value` sits under JSON key `key` (XML: see module doc)."""

    key: str | None
    value: Any = None
    item_tag: str = "item"  # XML element per entry when value is a list
    page: tuple[int, int, int] | None = None  # p, size, total_count
    extra: dict[str, str] = field(default_factory=dict)  # more root attributes (e.g. message)


@dataclass
class Response:
    """A finished HTTP answer (plain text, redirect, HTML, envelope bytes)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def stringify(value: Any) -> Any:
    """Scalars to strings the way the platform sends them; containers recurse."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return {str(k): stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stringify(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def check_format_params(params: dict[str, str]) -> None:
    """Refuse varname/callback values that are not JavaScript identifiers (XSS-safe output)."""
    for name in ("varname", "callback"):
        if name in params and not _IDENT.match(params[name]):
            raise ApiError("invalid_input", f"parameter {name!r} must be a JavaScript identifier")


def safe_format_params(params: dict[str, str]) -> dict[str, str]:
    """The format params without unusable varname/callback values (for rendering errors)."""
    return {k: v for k, v in params.items() if k not in ("varname", "callback") or _IDENT.match(v)}


def render(
    params: dict[str, str],
    head: dict[str, str],
    site: dict[str, str],
    endpoint: str,
    payload: Payload | None = None,
    error: ApiError | None = None,
) -> Response:
    """The envelope for one answer in the format the caller asked for."""
    root: dict[str, str] = dict(head)
    if error is not None:
        root = {"status": "error", **root, "code": error.code, "message": error.message}
    else:
        root = {"status": "ok", **root}
        assert payload is not None
        if payload.page is not None:
            p, size, total = payload.page
            root.update(p=str(p), size=str(size), total_count=str(total))
        root.update(payload.extra)
    if params.get("format", "").lower() == "json":
        doc: dict[str, Any] = dict(root)
        doc["site"] = site
        doc["endpoint"] = endpoint
        if payload is not None and payload.key is not None:
            doc[payload.key] = stringify(payload.value)
        text = json.dumps(doc, ensure_ascii=False)
        if "raw" in params:
            return Response(200, text.encode(), "application/json; charset=utf-8")
        if "callback" in params:
            body = f"{params['callback']}({text})"
        else:
            body = f"var {params.get('varname', 'visual')} = {text};"
        return Response(200, body.encode(), "text/javascript; charset=utf-8")
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in root.items())
    inner = ""
    if payload is not None and payload.value is not None:
        value = stringify(payload.value)
        if isinstance(value, list):
            inner = "".join(_xml_element(payload.item_tag, v) for v in value)
        elif isinstance(value, dict):
            inner = "".join(_xml_element(k, v) for k, v in value.items())
        else:
            inner = escape(value)
    body = f'<?xml version="1.0" encoding="utf-8"?>\n<response{attrs}>{inner}</response>\n'
    return Response(200, body.encode("utf-8"), "text/xml; charset=utf-8")


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") and len(name) > 1 else "item"


def _xml_element(name: str, value: Any) -> str:
    if _XML_NAME.match(name):
        open_tag, close_tag = name, name
    else:  # keys that are not XML names (echoed parameters) go in an attribute
        open_tag, close_tag = f"item key={quoteattr(name)}", "item"
    if isinstance(value, dict):
        inner = "".join(_xml_element(k, v) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml_element(_singular(name), v) for v in value)
    else:
        inner = escape(value)
    return f"<{open_tag}>{inner}</{close_tag}>"
