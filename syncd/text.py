"""Text safe to show an operator: file names and messages may hold anything.

A file name can hold a newline (which could forge a `FAILED ...` line in a summary), escape
sequences (which can clear or recolour a terminal), bidirectional overrides (which reorder
what is shown) and bytes that are not UTF-8. Everything syncd prints or logs that came from
the file system or the site goes through `printable()`.
"""

from __future__ import annotations

import logging
from typing import Any

# Format characters that reorder or hide text (bidi embeddings, overrides and isolates).
_BIDI_CONTROLS = frozenset(
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return (
        code < 0x20  # C0 controls: newline, escape, bell, ...
        or 0x7F <= code <= 0x9F  # DEL and C1 controls (0x9B is a one-byte CSI)
        or 0xD800 <= code <= 0xDFFF  # surrogates: undecodable bytes
        or ch in _BIDI_CONTROLS
    )


def printable(text: str) -> str:
    """`text` with control characters, bidi overrides and undecodable bytes escaped
    (`\\n`, `\\x1b`, `\\u202e`, `\\xff`); everything else, non-ASCII letters included, as is."""
    if text.isprintable():  # the common case, in C: nothing to escape
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


class PrintableFormatter(logging.Formatter):
    """Log lines with `printable()` applied: a path or a site's message in a log record
    cannot forge another record or drive the terminal, whichever module logged it.

    A traceback keeps its line breaks (it is many lines by nature); each of its lines is
    escaped on its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return _each_line(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _each_line(super().formatStack(stack_info))


def _each_line(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))
