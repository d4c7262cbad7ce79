"""Summaries print paths and messages as they are: brackets in a file name are not markup.
Plain progress says what is queued as a running total, not a line per hand-over."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import syncd.ui
from syncd.model import FileRow, ItemState
from syncd.pipeline.report import RunReport
from syncd.ui import PlainProgress, render_report, render_status

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
