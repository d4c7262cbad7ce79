"""Log records carry file names and the site's messages: the CLI's formatter escapes them."""

from __future__ import annotations

import io
import logging

from syncd.text import PrintableFormatter


def test_log_records_are_escaped_and_a_traceback_keeps_its_lines() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(PrintableFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("syncd.test_text")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("%s: metadata not applied yet", "/a/x\nWARNING forged\x1b[2J.mp4")
        try:
            raise ValueError("bad name /a/\x1b[2Jy.mp4")
        except ValueError:
            log.exception("a worker failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "WARNING /a/x\\nWARNING forged\\x1b[2J.mp4: metadata not applied yet"
    assert lines[1] == "ERROR a worker failed"
    assert lines[2] == "Traceback (most recent call last):"  # still one line per frame
    assert lines[-1] == "ValueError: bad name /a/\\x1b[2Jy.mp4"
