"""Parse `format=json&raw=1` answers and the loosely typed values inside them.

The API answers errors with HTTP 200 and `status="error"`; values are mostly
strings ("1", "t", "407"). Everything here is defensive about both.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from syncd.errors import ProtocolError, api_error_for

# How much of an unparseable body to quote in an error message.
SNIPPET_CHARS = 200
# Only small XML answers are parsed (errors raised before the body's format=json was read).
MAX_XML_CHARS = 64 * 1024

_TRUE = frozenset({"1", "t", "true", "y", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "n", "no", "off", ""})


def parse_flag(value: object, default: bool | None = None) -> bool | None:
    """0/1, "0"/"1", "t"/"f", true/false -> bool; anything else -> default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return default


def parse_int(value: object, default: int | None = None) -> int | None:
    """123, "123", "123.0" -> 123; anything else -> default."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return int(float(text))
            except ValueError:
                return default
    return default


def parse_float(value: object, default: float | None = None) -> float | None:
    """55.248, "55.248", "0" -> float; "", NaN, infinities and anything else -> default."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return default
    else:
        return default
    return number if math.isfinite(number) else default


def parse_time(value: object) -> datetime | None:
    """An `*_ansi` time ("2010-02-16 18:13:32") as a naive datetime; None if not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)  # the site names no zone; a stray offset is dropped


def parse_str(value: object) -> str:
    """IDs come as strings or numbers; normalise to str ("" for missing)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def snippet(text: str) -> str:
    text = text.strip().replace("\n", " ")
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "..."


def decode(text: str, method: str) -> dict[str, Any]:
    """The JSON object of an answer, or ProtocolError. Accepts `var visual = {...}` too."""
    body = text.strip()
    if body.startswith("<"):
        return _decode_xml(body, method)
    if body.startswith("var ") and "=" in body:
        body = body.split("=", 1)[1].strip().rstrip(";")
    try:
        data = json.loads(body)
    except ValueError:
        raise ProtocolError(f"{method}: answer is not JSON: {snippet(text)!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{method}: answer is JSON but not an object: {snippet(text)!r}")
    return data


def _decode_xml(body: str, method: str) -> dict[str, Any]:
    """The attributes of an XML `<response>`: how a server answers when it rejects a
    request before reading the multipart body that asked for JSON (e.g. a bad signature)."""
    try:
        root = ET.fromstring(body) if len(body) <= MAX_XML_CHARS else None
    except ET.ParseError:
        root = None
    if root is None or root.tag != "response":
        raise ProtocolError(f"{method}: answer is not JSON: {snippet(body)!r}")
    return dict(root.attrib)


def check(data: dict[str, Any], method: str) -> dict[str, Any]:
    """Raise the matching syncd error for status="error"; return data when ok."""
    status = str(data.get("status", "")).lower()
    if status == "ok":
        return data
    if status == "error":
        # The overview's examples say `code`, its prose `error_code`: read either.
        code = parse_str(data.get("code")) or parse_str(data.get("error_code")) or "unknown_error"
        message = parse_str(data.get("message")) or "(no message)"
        raise api_error_for(code, message, method)
    raise ProtocolError(f"{method}: answer has no status ok/error: {snippet(json.dumps(data))!r}")


def payload(data: dict[str, Any], key: str, method: str) -> Any:
    """The value under `key` (e.g. "upload"), or ProtocolError naming what is missing."""
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise ProtocolError(f"{method}: answer lacks {key!r} (keys: {keys})")
    return data[key]
