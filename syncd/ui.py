"""What the operator sees: rich progress bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from syncd.model import ItemState
from syncd.text import printable

if TYPE_CHECKING:
    from rich.progress import TaskID

    from syncd.index import IndexResult
    from syncd.pipeline.report import RunReport

# Per-file bars for more files than this would scroll the terminal away.
MAX_FILE_BARS = 8
# Plain output says how much is queued at most this often (the run hands work over in
# many small batches while uploads and the scan overlap: a line each would be noise).
QUEUED_LINE_EVERY_SECONDS = 1.0


def _short(path: str, width: int = 40) -> str:
    name = printable(os.path.basename(path))
    return name if len(name) <= width else "…" + name[-(width - 1) :]


class PlainProgress:
    """One line per event: for logs, pipes and systemd's journal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._started: dict[str, tuple[float, int]] = {}
        self._queued = (0, 0)  # files, bytes queued in all
        self._queued_said = (0, 0)
        # Not at once: a run over within the first second needs no "queued" line at all.
        self._queued_said_at = time.monotonic()
        self._stream_broken = False

    def _say(self, text: str) -> None:
        # One event, one line: a newline or escape sequence in a file name or a site's
        # message is shown escaped, never acted on (it could forge a line or clear the screen).
        text = printable(text)
        with self._lock:
            if self._stream_broken:
                return
            try:
                print(text, file=self.stream, flush=True)
            except (OSError, ValueError):
                # A closed pipe (`syncd push 2>&1 | head`) or a full disk behind the stream
                # must not stop the uploads; the journal and the summary still tell.
                self._stream_broken = True

    def add_work(self, files: int, nbytes: int) -> None:
        with self._lock:
            self._queued = (self._queued[0] + files, self._queued[1] + nbytes)
        self._say_queued()

    def _say_queued(self) -> None:
        """The running total, if it changed and the last such line is a second old."""
        with self._lock:
            now = time.monotonic()
            if self._queued == self._queued_said:
                return
            if now - self._queued_said_at < QUEUED_LINE_EVERY_SECONDS:
                return
            self._queued_said, self._queued_said_at = self._queued, now
            files, nbytes = self._queued
        self._say(f"queued {files} file(s), {nbytes} bytes so far")

    def file_started(self, path: str, size: int) -> None:
        with self._lock:
            self._started[path] = (time.monotonic(), size)

    def file_bytes(self, path: str, nbytes: int) -> None:
        pass

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        with self._lock:
            started = self._started.pop(path, None)
        # A file can finish without starting (its sidecar or folder could not be read):
        # then there is no size or time to tell, and "0 bytes" would be wrong.
        sent = ""
        if started is not None:
            began, size = started
            sent = f" ({size} bytes, {time.monotonic() - began:.1f} s)"
        extra = f": {detail}" if detail else ""
        self._say_queued()
        self._say(f"{outcome} {path}{sent}{extra}")

    def note(self, text: str) -> None:
        self._say(text)


class RichProgress:
    """Overall bytes and files with rate and ETA, plus a bar per active file."""

    def __init__(self, console: Console) -> None:
        # Imported here: only a terminal shows bars (rich.progress is ~7 ms of a start-up).
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = console
        self._lock = threading.Lock()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.files = Progress(
            TextColumn("files"), BarColumn(), MofNCompleteColumn(), console=console
        )
        self.total = self.progress.add_task("total", total=0)
        self.files_task = self.files.add_task("files", total=0)
        self._bars: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        from rich.console import Group
        from rich.live import Live

        self._live = Live(
            Group(self.progress, self.files), console=self.console, refresh_per_second=8
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def add_work(self, files: int, nbytes: int) -> None:
        with self._lock:
            task = self.progress.tasks[self.total]
            self.progress.update(self.total, total=(task.total or 0) + nbytes)
            ftask = self.files.tasks[self.files_task]
            self.files.update(self.files_task, total=(ftask.total or 0) + files)

    def file_started(self, path: str, size: int) -> None:
        with self._lock:
            if len(self._bars) < MAX_FILE_BARS and path not in self._bars:
                self._bars[path] = self.progress.add_task(_short(path), total=size)

    def file_bytes(self, path: str, nbytes: int) -> None:
        with self._lock:
            self.progress.advance(self.total, nbytes)
            bar = self._bars.get(path)
            if bar is not None:
                self.progress.advance(bar, nbytes)

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        with self._lock:
            bar = self._bars.pop(path, None)
            if bar is not None:
                self.progress.remove_task(bar)
            if outcome in ("synced", "failed"):
                self.files.advance(self.files_task, 1)
        if outcome not in ("synced", "uploaded"):
            self.note(f"{outcome} {path}" + (f": {detail}" if detail else ""))

    def note(self, text: str) -> None:
        _verbatim(self.console, text)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def report_dict(report: RunReport) -> dict[str, object]:
    """The machine-readable form of a push report (`--json`)."""
    return {
        "ok": report.all_landed and not report.interrupted,
        "interrupted": report.interrupted,
        "stopped_by": str(report.stopped_by) if report.stopped_by else None,
        "counts": {state.value: n for state, n in report.counts.items() if n},
        "synced_this_run": report.synced_by_run,
        "failed": [
            {"path": printable(r.path), "code": r.error_code, "message": r.error_message}
            for r in report.failed
        ],
        "not_landed": [
            {
                "path": printable(r.path),
                "state": r.state.value,
                "message": r.error_message,
                "next_attempt_at": r.next_attempt_at,
            }
            for r in report.waiting
        ],
        "metadata_behind": [
            {
                "path": printable(r.path),
                "state": r.state.value,
                "code": r.error_code,
                "message": r.error_message,
            }
            for r in report.metadata_behind
        ],
        "in_progress_elsewhere": [
            {"path": printable(r.path), "owner": r.lease_owner} for r in report.elsewhere
        ],
        "problems": [{"path": printable(p.path), "message": p.message} for p in report.problems],
        "not_media": [{"path": printable(p.path), "message": p.message} for p in report.not_media],
        "skipped": [{"path": printable(r.path), "reason": r.error_message} for r in report.skipped],
        "plan": report.plans,
    }


def _verbatim(console: Console, text: str) -> None:
    """A line that holds paths and messages: no markup or highlighting, and control
    characters escaped (see syncd.text), so the line is one line and changes no terminal."""
    console.print(printable(text), markup=False, highlight=False)


def render_report(console: Console, report: RunReport) -> None:
    """The summary table after a push, then every file that did not land, with why."""
    from rich.table import Table

    if report.dry_run:
        console.print("[bold]plan[/bold] (--dry-run: nothing was sent)")
        if not report.plans:
            console.print("  nothing to upload")
        for line in report.plans:
            _verbatim(console, "  " + line)
    table = Table(title="syncd push", show_edge=False)
    table.add_column("state")
    table.add_column("files", justify="right")
    for state, n in report.counts.items():
        if n:
            table.add_row(state.value, str(n))
    console.print(table)
    if not report.dry_run:
        console.print(
            f"{report.synced_by_run} file(s) synced by this run,"
            f" {report.synced_before} already synced before it"
        )
    for row in report.failed:
        _verbatim(console, f"FAILED {printable(row.path)}: {row.error_message or row.error_code}")
    for row in report.waiting:
        why = row.error_message or "not finished"
        _verbatim(console, f"NOT LANDED ({row.state.value}) {printable(row.path)}: {why}")
    for row in report.skipped:
        _verbatim(console, f"SKIPPED {printable(row.path)}: {row.error_message or row.error_code}")
    for row in report.metadata_behind:
        why = row.error_message or "metadata update pending"
        label = "NOT LANDED (uploaded)" if row.state.value == "uploaded" else "METADATA BEHIND"
        _verbatim(console, f"{label} {printable(row.path)}: {why}")
    for row in report.elsewhere:
        _verbatim(
            console,
            f"IN PROGRESS ELSEWHERE {printable(row.path)}: another syncd process"
            f" ({_owner_text(row.lease_owner)}) is uploading it",
        )
    for problem in report.problems:
        _verbatim(console, f"PROBLEM {printable(problem.path)}: {problem.message}")
    for skipped in report.not_media:
        _verbatim(console, f"SKIPPED {printable(skipped.path)}: {skipped.message} (not media)")
    if report.stopped_by:
        _verbatim(console, f"STOPPED: {report.stopped_by}")
    if report.interrupted:
        console.print("interrupted: the journal is consistent; run the same command to continue")


def _owner_text(owner: str | None) -> str:
    """ "host:pid:start" as "pid N on host"."""
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3:
        return "unknown"
    return f"pid {parts[1]} on {printable(parts[0])}"


def render_status(console: Console, data: dict[str, Any]) -> None:
    """`syncd status` for people."""
    from rich.table import Table

    if "file" in data:
        info = data["file"]
        if info is None:
            _verbatim(console, f"{data['path']}: not in the journal")
            if not data.get("events"):
                return
        assert info is None or isinstance(info, dict)
        for key, value in (info or {}).items():
            if value is not None:
                _verbatim(console, f"{key:>16}: {value}")
        chunked = data.get("chunked")
        if isinstance(chunked, dict):
            console.print(
                f"{'chunked':>16}: {chunked['chunks_done']}/{chunked['chunks_total']} chunks,"
                f" token valid until {chunked['token_valid_until']}",
                markup=False,
            )
        console.print("history:")
        for event in data.get("events", []):
            _verbatim(
                console,
                f"  {event['at']}  {event['from'] or '-'} -> {event['to'] or '-'}"
                f"  {event['detail']}",
            )
        return
    if data.get("site"):
        _verbatim(console, f"site: {data['site']}")
    table = Table(title="syncd journal", show_edge=False)
    table.add_column("state")
    table.add_column("files", justify="right")
    table.add_column("size", justify="right")
    counts = data.get("counts", {})
    sizes = data.get("bytes", {})
    assert isinstance(counts, dict) and isinstance(sizes, dict)
    for state, n in counts.items():
        table.add_row(state, str(n), human_bytes(sizes.get(state, 0)))
    console.print(table)
    for key, label in (("failed", "FAILED"), ("parked", "PARKED")):
        rows = data.get(key, [])
        for row in rows:
            why = row["error_message"] or row["error_code"]
            extra = (
                f" (next attempt {row['next_attempt_at']})" if row.get("next_attempt_at") else ""
            )
            _verbatim(console, f"{label} {row['path']}: {why}{extra}")
        more = int(data.get(f"{key}_total", len(rows))) - len(rows)
        if more > 0:
            console.print(
                f"... and {more} more {key} (most recent first; --limit 0 lists all)",
                markup=False,
            )
    for row in data.get("uploading", []):
        _verbatim(
            console,
            f"UPLOADING {row['path']} ({_owner_text(row['owner'])}, since {row['since']})",
        )
    for s in data.get("chunked_in_progress", []):
        _verbatim(
            console,
            f"CHUNKED {s['path']}: {s['chunks_done']}/{s['chunks_total']} chunks,"
            f" token valid until {s['token_valid_until']}",
        )
    unconfirmed = data.get("unconfirmed", [])
    for u in unconfirmed:
        _verbatim(console, f"UNCONFIRMED {u['path']}: {u['detail']}")
    if unconfirmed:
        _verbatim(
            console,
            f"{len(unconfirmed)} synced file(s) carry metadata the site did not confirm; "
            "docs/upload-modes.md says what each upload mode guarantees",
        )


def render_journal(console: Console, data: dict[str, Any]) -> None:
    """`syncd status --journal` for people."""
    per_file = data.get("bytes_per_file")
    retention = data.get("event_retention_days")
    lines = [
        f"journal {data['path']}",
        f"  file      {human_bytes(data['file_bytes'])}"
        f" ({data['pages']} pages of {data['page_size']} B, {data['free_pages']} free)",
        f"  WAL       {human_bytes(data['wal_bytes'])}",
        f"  files     {data['files']}",
        f"  events    {data['events']} (oldest {data['oldest_event'] or '-'};"
        f" kept {'for ever' if retention is None else f'{retention:g} days'})",
        f"  per file  {'-' if per_file is None else human_bytes(per_file)} (file and WAL)",
    ]
    for line in lines:
        _verbatim(console, line)


class PlainScanProgress:
    """`syncd scan` on a pipe or in a log: a line every few seconds."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self._started = time.monotonic()
        self._said = self._started

    def scanned(self, files: int, hashed_bytes: int) -> None:
        now = time.monotonic()
        if now - self._said < self.every:
            return
        self._said = now
        rate = files / max(now - self._started, 1e-9)
        line = f"scanned {files} files ({rate:.0f} files/s), hashed {human_bytes(hashed_bytes)}"
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the scan
            print(line, file=self.stream, flush=True)


class RichScanProgress:
    """`syncd scan` on a terminal: files against the total a first walk counted (with
    files per second and an ETA), and bytes hashed."""

    def __init__(self, console: Console, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class FilesPerSecond(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text("-" if speed is None else f"{speed:,.0f} files/s")

        self.progress = Progress(
            TextColumn("scan"),
            BarColumn(),
            MofNCompleteColumn(),
            FilesPerSecond(),
            TextColumn("hashed {task.fields[hashed]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("scan", total=total, hashed=human_bytes(0))

    def __enter__(self) -> RichScanProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def scanned(self, files: int, hashed_bytes: int) -> None:
        self.progress.update(self.task, completed=files, hashed=human_bytes(hashed_bytes))


def render_index(console: Console, result: IndexResult, *, as_json: bool) -> dict[str, Any]:
    """What `syncd scan` found, and what the journal now holds under its roots; printed
    for people unless `as_json` (then only returned)."""
    r = result.report
    rate = r.seen / result.seconds if result.seconds > 0 else 0.0
    data: dict[str, Any] = {
        "seconds": round(result.seconds, 3),
        "files": r.seen,
        "files_per_second": round(rate, 1),
        "hashed_bytes": r.hashed_bytes,
        "new": r.new,
        "changed": r.changed,
        "unchanged": r.unchanged,
        "moved": r.moved,
        "vanished": r.vanished,
        "ready": r.became_ready,
        "duplicates": r.duplicates,
        "empty": r.empty,
        "still_pending": r.still_pending,
        "metadata_changed": r.metadata_changed,
        "interrupted": result.interrupted,
        "journal": {
            state.value: {"files": n, "bytes": nbytes}
            for state, (n, nbytes) in result.totals.items()
            if n
        },
        "problems": [str(p) for p in r.problems],
        "not_media": [str(p) for p in r.skipped],
    }
    if as_json:
        return data
    _verbatim(
        console,
        f"scanned {r.seen} files in {result.seconds:.1f} s ({rate:.0f} files/s), hashed "
        f"{human_bytes(r.hashed_bytes)}: {r.new} new, {r.changed} changed, {r.unchanged} "
        f"unchanged, {r.moved} moved, {r.vanished} vanished"
        + (f", {r.still_pending} not stable yet" if r.still_pending else ""),
    )
    ready = result.totals.get(ItemState.READY, (0, 0))
    _verbatim(console, f"to upload: {ready[0]} files, {human_bytes(ready[1])}")
    held = ", ".join(f"{state.value} {n}" for state, (n, _) in result.totals.items() if n)
    _verbatim(console, f"journal under these roots: {held or 'nothing'}")
    for problem in r.problems:
        _verbatim(console, f"PROBLEM {problem}")
    for skipped in r.skipped:
        _verbatim(console, f"SKIPPED {skipped}")
    if result.interrupted:
        _verbatim(console, "interrupted: the journal is consistent; run it again to continue")
    return data
