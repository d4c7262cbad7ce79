"""Where log lines go and how they look: a terminal, journald, or a log shipper.

- On a terminal (or a file, or cron's mail): `2026-01-02 10:00:00,123 WARNING syncd.x: ...`.
- Under systemd, when stderr *is* the journal stream (`$JOURNAL_STREAM` names stderr's
  device and inode, as systemd.exec(5) says to check): no timestamp of our own (journald
  stamps each line) and an sd-daemon(3) priority prefix, `<3>` error, `<4>` warning,
  `<6>` info, `<7>` debug, on every line, so a traceback keeps its priority.
- `--log-format json`: one JSON object per line (python-json-logger) with `time`, `level`,
  `logger`, `message` and any `extra=` fields; under journald it gets the prefix too, which
  journald strips, so MESSAGE is the bare JSON object and PRIORITY is right.

Whatever the format, the values given to `hide_secrets` are replaced by `********` in the
finished line: a safety net under the rule that code never logs a secret.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from collections.abc import Mapping
from enum import StrEnum
from typing import TextIO

from syncd.text import PrintableFormatter

JOURNAL_STREAM_ENV = "JOURNAL_STREAM"
# Today's human format, kept for terminals and files.
TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# journald adds the time, the unit and the pid itself.
JOURNAL_FORMAT = "%(name)s: %(message)s"
MASK = "********"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def journal_priority(levelno: int) -> int:
    """The syslog priority journald files a Python log level under."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def stream_is_journal(stream: TextIO | None, env: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd connected, not merely when
    `$JOURNAL_STREAM` is set (a child whose stderr was redirected inherits the variable)."""
    env = os.environ if env is None else env
    expected = env.get(JOURNAL_STREAM_ENV)
    if not expected or stream is None:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or not a real file
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


# --- secrets ------------------------------------------------------------------------------

_secrets: frozenset[str] = frozenset()  # replaced whole, so handler threads need no lock


def hide_secrets(*values: str) -> None:
    """Mask these values in every log line from now on (empty values are ignored)."""
    global _secrets
    _secrets = _secrets | {v for v in values if v}


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
        escaped = json.dumps(secret)[1:-1]  # as it appears inside a JSON string
        if escaped != secret and escaped in text:
            text = text.replace(escaped, MASK)
    return text


# --- formatters ---------------------------------------------------------------------------


class _ServiceFormatter(logging.Formatter):
    """Formats with `inner`, masks secrets, and under journald prefixes every line."""

    def __init__(self, inner: logging.Formatter, journal: bool) -> None:
        super().__init__()
        self.inner = inner
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = _redact(self.inner.format(record))
        if not self.journal:
            return text
        prefix = f"<{journal_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.split("\n"))


def _json_value(value: object) -> object:
    """Non-JSON values in `extra=`: times as ISO 8601, anything else as its str(), which
    for syncd's own types (Secret, the config dataclasses) never shows a secret."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def json_formatter() -> logging.Formatter:
    # Imported here: ~20 ms that only --log-format json should pay (every command imports this).
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # UTC, ISO 8601, from the record's creation time
        json_default=_json_value,
    )


def make_formatter(log_format: LogFormat, journal: bool) -> logging.Formatter:
    if log_format is LogFormat.JSON:
        inner = json_formatter()
    else:
        # Records carry file names and the site's messages: escaped, whichever module logs.
        inner = PrintableFormatter(JOURNAL_FORMAT if journal else TERMINAL_FORMAT)
    return _ServiceFormatter(inner, journal)


# --- setup --------------------------------------------------------------------------------

_installed: logging.Handler | None = None


def setup_logging(
    level: int,
    log_format: LogFormat = LogFormat.TEXT,
    *,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send every log record at `level` or above to `stream` (default: stderr) in the
    form above. Calling it again replaces the handler it installed before."""
    global _installed
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(log_format, stream_is_journal(stream, env)))
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    return handler
