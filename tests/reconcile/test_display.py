"""What the operator sees: a live phase line on a terminal, a line per phase elsewhere, and the
summary table by class."""

from __future__ import annotations

import io

from rich.console import Console

from syncd.plan.reconcile import Decision, Kind, ReconcileAction
from syncd.reconcile.display import PlainPhases, RichPhases, render_reconcile
from syncd.reconcile.report import ActionResult, Outcome, ReconcileReport


def test_a_terminal_sees_each_phase_with_its_count() -> None:
    out = io.StringIO()
    phases = RichPhases(Console(file=out, force_terminal=True, width=100))
    phases.begin("listing the site")
    phases.advance(500)
    phases.end("1000 item(s) on the site in 12 request(s)")
    with phases.uploads() as sink:
        sink.note("uploading")
    phases.close()
    text = out.getvalue()
    assert "listing the site: 500" in text
    assert "1000 item(s) on the site in 12 request(s)" in text


def test_plain_output_has_one_line_per_phase() -> None:
    out = io.StringIO()
    phases = PlainPhases(out)
    phases.begin("listing the site")
    phases.advance(500)
    phases.end("1000 item(s) on the site")
    assert out.getvalue().splitlines() == ["1000 item(s) on the site"]


def test_the_summary_table_counts_classes_by_outcome() -> None:
    drift = ReconcileAction(Kind.DRIFT, Decision.REPORT, "/a/x.mp4", "7", detail="unpublished")
    kept = ReconcileAction(Kind.LOCAL_DELETED, Decision.KEEP, "/a/y.mp4", "8")
    report = ReconcileReport(
        results=[ActionResult(drift, Outcome.REPORTED), ActionResult(kept, Outcome.NOTHING)],
        rows=2,
        remote_items=2,
    )
    out = io.StringIO()
    render_reconcile(Console(file=out, width=120), report)
    text = out.getvalue()
    assert "drift" in text and "local-deleted" in text and "reported" in text
    assert "reported: drift /a/x.mp4 photo 7 (unpublished): report" in text
    assert "/a/y.mp4" not in text.split("┘", 1)[1]  # a kept file is counted, not listed
    assert text.rstrip().endswith("out of step: differences left (exit 1)")
    assert report.exit_status() == 1
