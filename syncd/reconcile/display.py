"""What the operator sees of a reconcile: a live status while the archive and the site are
read (a terminal), a line per phase otherwise, and at the end a table by class and every
action that was not simply in step."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from syncd.plan.reconcile import Decision
from syncd.progress import ProgressSink
from syncd.reconcile.report import Outcome, ReconcileReport
from syncd.text import printable
from syncd.ui import PlainProgress, RichProgress


class PlainPhases:
    """One line when a phase ends (logs, pipes, systemd's journal)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._progress = PlainProgress(stream)

    def begin(self, text: str, total: int | None = None) -> None:
        pass

    def advance(self, done: int) -> None:
        pass

    def end(self, text: str) -> None:
        self._progress.note(text)

    def note(self, text: str) -> None:
        self._progress.note(text)

    @contextmanager
    def uploads(self) -> Iterator[ProgressSink]:
        yield self._progress


class RichPhases:
    """A spinner with the phase and its count on a terminal; the upload bars after."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._status: Status | None = None
        self._text = ""
        self._total: int | None = None

    def begin(self, text: str, total: int | None = None) -> None:
        with self._lock:
            self._text, self._total = text, total
            if self._status is None:
                self._status = self.console.status(Text(text))
                self._status.start()
            else:
                self._status.update(Text(text))

    def advance(self, done: int) -> None:
        with self._lock:
            if self._status is not None:
                of = f"/{self._total}" if self._total else ""
                self._status.update(Text(f"{self._text}: {done}{of}"))

    def end(self, text: str) -> None:
        self.console.log(printable(text), highlight=False, markup=False)

    def note(self, text: str) -> None:
        self.console.log(printable(text), highlight=False, markup=False)

    def close(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    @contextmanager
    def uploads(self) -> Iterator[ProgressSink]:
        self.close()  # one live display at a time
        progress = RichProgress(self.console)
        with progress:
            yield progress


def render_reconcile(console: Console, report: ReconcileReport) -> None:
    """The summary table by class and outcome, then each action worth a look."""
    title = "reconcile plan (dry run: nothing changed)" if report.dry_run else "reconcile"
    _line(
        console,
        f"{title}: {report.rows} journal row(s), {report.local_files} file(s), "
        f"{report.remote_items} item(s) on the site ({report.untracked} not in the journal), "
        f"{report.requests} read request(s)",
    )
    summary = report.summary()
    if summary:
        outcomes = [o.value for o in Outcome if any(o.value in c for c in summary.values())]
        table = Table("class", *outcomes, "total")
        for kind, counts in summary.items():
            table.add_row(
                kind, *(str(counts.get(o, "")) for o in outcomes), str(sum(counts.values()))
            )
        console.print(table)
    else:
        _line(console, "in step: nothing differs")
    for result in report.results:
        action = result.action
        if action.decision is Decision.KEEP and not report.dry_run:
            continue
        extra = f" - {result.message}" if result.message else ""
        _line(console, f"  {result.outcome.value}: {action}{extra}")
    if report.blocked:
        _line(console, f"max_delete: {report.blocked}")
    for problem in report.problems:
        _line(console, f"problem: {problem}")
    pipeline = report.pipeline
    if pipeline is not None:
        for row in pipeline.failed:
            _line(console, f"FAILED {row.path}: {row.error_message or row.error_code or 'failed'}")
        for row in pipeline.waiting:
            _line(console, f"not landed: {row.path} ({row.state})")
        if pipeline.synced_by_run:
            _line(console, f"{pipeline.synced_by_run} file(s) synced by this run")
    if report.error is not None:
        _line(console, f"stopped: {report.error}")
    _line(console, _verdict(report))


def _line(console: Console, text: str) -> None:
    """A line holding paths and the site's messages: no markup or highlighting, control
    characters escaped, so it stays one line and drives no terminal."""
    console.print(printable(text), markup=False, highlight=False)


def _verdict(report: ReconcileReport) -> str:
    status = report.exit_status()
    if status == 0:
        return "in step" if not report.dry_run else "in step: nothing to do"
    if status == 1:
        return "out of step: differences left (exit 1)"
    if status == 2:
        return "errors (exit 2)"
    return "interrupted"
