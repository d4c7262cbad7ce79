"""Summaries print paths and messages as they are: brackets in a file name are not markup.
Plain progress says what is queued as a running total, not a line per hand-over."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import syncd.ui
from syncd.model import FileRow, ItemState
from syncd.pipeline.report import RunReport
from syncd.ui import PlainProgress, RichProgress, render_report, render_status

ODD = "/archive/[red]clip[/red] [b].mp4"


def _row(state: ItemState, message: str) -> FileRow:
    return FileRow(
        path=ODD,
        root="/archive",
        size=1,
        mtime_ns=0,
        inode=1,
        sha256=None,
        state=state,
        photo_id=None,
        attempts=1,
        error_code="e",
        error_message=message,
        next_attempt_at=None,
        lease_owner=None,
        lease_until=None,
        stable_since=None,
        duplicate_of=None,
        desired_digest=None,
        applied_digest=None,
        upload_mode=None,
        created_at=0.0,
        updated_at=0.0,
    )


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


def test_report_lines_keep_brackets() -> None:
    console, out = _console()
    report = RunReport(
        failed=[_row(ItemState.FAILED, "refused [x]")],
        waiting=[_row(ItemState.RETRY, "later [y]")],
        skipped=[_row(ItemState.SKIPPED, "empty [z]")],
    )
    render_report(console, report)
    text = out.getvalue()
    assert f"FAILED {ODD}: refused [x]" in text
    assert f"NOT LANDED (retry) {ODD}: later [y]" in text
    assert f"SKIPPED {ODD}: empty [z]" in text


def test_status_lines_keep_brackets() -> None:
    console, out = _console()
    row = {"path": ODD, "error_message": "refused [x]", "error_code": "e"}
    render_status(console, {"counts": {"failed": 1}, "failed": [row], "parked": []})
    assert f"FAILED {ODD}: refused [x]" in out.getvalue()


def test_plain_progress_queued_lines_are_running_totals_at_most_each_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    plain = PlainProgress(out)
    for _ in range(100):  # a burst of small hand-overs within the first second: no line
        plain.add_work(1, 10)
    assert "queued" not in out.getvalue()
    monkeypatch.setattr(syncd.ui, "QUEUED_LINE_EVERY_SECONDS", 0.0)
    plain.file_started("/a.mp4", 10)
    plain.file_finished("/a.mp4", "synced", "1")  # the pending total comes out first
    plain.add_work(2, 20)
    plain.add_work(0, 0)  # nothing new: no line
    lines = out.getvalue().splitlines()
    assert lines[0] == "queued 100 file(s), 1000 bytes so far"
    assert lines[1].startswith("synced /a.mp4 (10 bytes")
    assert lines[2:] == ["queued 102 file(s), 1020 bytes so far"]


# --- names and messages that hold control characters --------------------------------

CLEARER = "/archive/\x1b[2Jclear.mp4"  # "erase the screen" inside a file name
FORGER = "/archive/a\nFAILED x.mp4"  # a newline that would forge a FAILED line


def test_rich_progress_shows_names_and_notes_escaped() -> None:
    """The live display (a terminal): its own styling uses escape codes, a file name's
    never do, and a name's newline never starts a line."""
    out = io.StringIO()
    console = Console(file=out, width=300, force_terminal=True, color_system="standard")
    with RichProgress(console) as rich:
        rich.add_work(2, 20)
        for path in (CLEARER, FORGER):
            rich.file_started(path, 10)
            rich.file_bytes(path, 10)
        rich.file_finished(CLEARER, "failed", f"{CLEARER}.json: title: expected a string")
        rich.file_finished(FORGER, "retry", "the site said \x1b]0;owned\x07")
        rich.note(f"recovered interrupted upload: {FORGER}")
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0;" not in text
    assert "\nFAILED x.mp4" not in text
    assert "failed /archive/\\x1b[2Jclear.mp4: /archive/\\x1b[2Jclear.mp4.json: title:" in text
    assert "retry /archive/a\\nFAILED x.mp4: the site said \\x1b]0;owned\\x07" in text
    assert "recovered interrupted upload: /archive/a\\nFAILED x.mp4" in text


def test_plain_progress_escapes_every_line() -> None:
    out = io.StringIO()
    plain = PlainProgress(out)
    plain.file_started(FORGER, 10)
    plain.file_finished(FORGER, "synced", "1")
    plain.note(f"skipped {CLEARER}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("synced /archive/a\\nFAILED x.mp4 (10 bytes, ")
    assert lines[1] == "skipped /archive/\\x1b[2Jclear.mp4"


def test_plain_progress_gives_no_size_for_a_file_that_never_started() -> None:
    out = io.StringIO()
    PlainProgress(out).file_finished("/a.mp4", "failed", "/a.mp4.json: not a regular file")
    assert out.getvalue() == "failed /a.mp4: /a.mp4.json: not a regular file\n"


def test_report_and_status_escape_messages_too() -> None:
    console, out = _console()
    failed = _row(ItemState.FAILED, f"{FORGER}.json: invalid JSON")
    render_report(console, RunReport(failed=[failed]))
    row = {"path": CLEARER, "error_message": "site says \x1b[31mred", "error_code": "e"}
    render_status(console, {"counts": {"failed": 1}, "failed": [row], "parked": []})
    render_status(console, {"file": None, "path": FORGER, "events": []})
    history = [{"at": "t", "from": "ready", "to": "failed", "detail": f"{CLEARER}: gone"}]
    render_status(console, {"file": {"path": CLEARER}, "events": history})
    text = out.getvalue()
    assert "\x1b" not in text
    assert not [line for line in text.splitlines() if line.startswith("FAILED x.mp4")]
    assert f"FAILED {ODD}: /archive/a\\nFAILED x.mp4.json: invalid JSON" in text
    assert "FAILED /archive/\\x1b[2Jclear.mp4: site says \\x1b[31mred" in text
    assert "/archive/a\\nFAILED x.mp4: not in the journal" in text
    assert "ready -> failed  /archive/\\x1b[2Jclear.mp4: gone" in text


def test_scan_progress_shows_files_per_second_bytes_hashed_and_a_total() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    with syncd.ui.RichScanProgress(console, total=2000) as bar:
        bar.scanned(500, 3 * 1024 * 1024)
        bar.scanned(1000, 5 * 1024 * 1024)
        bar.progress.refresh()
    text = out.getvalue()
    assert "1000/2000" in text and "files/s" in text and "hashed 5.0 MiB" in text


def test_plain_scan_progress_is_a_line_now_and_then() -> None:
    out = io.StringIO()
    plain = syncd.ui.PlainScanProgress(out, every=0.0)
    plain.scanned(10, 2048)
    plain.scanned(20, 4096)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("scanned 20 files (")
    assert lines[1].endswith("files/s), hashed 4.0 KiB")
    quiet = io.StringIO()
    rare = syncd.ui.PlainScanProgress(quiet, every=3600.0)
    rare.scanned(10, 0)
    assert quiet.getvalue() == ""
