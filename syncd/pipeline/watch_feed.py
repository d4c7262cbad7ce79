"""The watch feed: file-system events, a start-up scan and periodic rescans supply the
pipeline's work for `syncd watch`.

- At start the observers are started first (so nothing that happens during the scan is
  missed), then every root is scanned: what changed while the daemon was down is found.
- Each folder an event names is scanned on its own once its events are quiet (see
  syncd/local/watch.py); a new or moved-in folder is scanned as a tree. Renames and moves
  inside a root are understood by plan/local.py's move rule: the row follows the file,
  nothing is uploaded again.
- Files still being written are looked at again when the stability rule says they may
  be complete (their folders are rescheduled).
- Every `rescan_interval` the whole tree is scanned again: inotify drops events when its
  queue overflows without saying so, and network file systems send none. An unchanged
  tree costs a walk and a stat per file.
- A root whose observer (re)starts (it was missing, or its observer died) is scanned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from syncd.config import ObserverMode
from syncd.local.scan import ScanReport, ScanScope, scan_scopes
from syncd.local.watch import ObserverFactory, Observers, make_observer
from syncd.model import ItemState, ObserverState
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext
from syncd.text import printable

log = logging.getLogger(__name__)

# A problem (an unreadable folder, say) is logged again after this long if it persists, so
# a daemon's log neither floods nor forgets.
PROBLEM_REPEAT_SECONDS = 3600.0


class WatchFeed:
    def __init__(
        self,
        ctx: RunContext,
        announcer: Announcer,
        *,
        on_ready: Callable[[], None],
        on_observer_state: Callable[[str, ObserverState], None] | None = None,
        on_scan_progress: Callable[[], object] | None = None,
        observer_factory: ObserverFactory = make_observer,
    ) -> None:
        self.ctx = ctx
        self.announcer = announcer
        self._on_ready = on_ready
        self._on_progress = on_scan_progress or (lambda: None)
        daemon = ctx.config.daemon
        self.observers = Observers(
            ctx.clock,
            poll_interval=daemon.poll_interval,
            debounce=daemon.debounce,
            wake=ctx.lifecycle.wake.set,
            on_state=on_observer_state,
            factory=observer_factory,
        )
        self._next_full = 0.0
        self._poked = False
        self._problems_said: dict[tuple[str, str], float] = {}
        self.scans = 0  # folder and tree scans done (status, tests)

    # --- the Feed protocol ----------------------------------------------------------------

    def start(self) -> None:
        self.observers.set_roots(self._roots())
        self.observers.supervise()  # events from now on are kept while the scan runs
        self._scan_roots(list(self.observers.roots))
        self._next_full = self.ctx.clock.time() + self.ctx.config.daemon.rescan_interval

    def step(self) -> float | None:
        ctx = self.ctx
        for path in self.observers.supervise():  # (re)started: what happened meanwhile?
            self._scan_roots([path])
        now = ctx.clock.time()
        if now >= self._next_full:
            log.info("periodic rescan of %d root(s)", len(self.observers.roots))
            self._scan_roots([p for p in self.observers.roots if os.path.isdir(p)])
            self._next_full = ctx.clock.time() + ctx.config.daemon.rescan_interval
        if self._poked:
            self._poked = False
            self._rescan_pending()
        for root in list(self.observers.roots.values()):
            for scope in root.events.take_due(now):
                if ctx.stop or ctx.lifecycle.draining.is_set():
                    return None
                self._scan([scope])
        return self._next_wish()

    def settled(self) -> bool:
        return False  # a daemon's feed never runs dry

    def poke(self) -> None:
        self._poked = True

    # --- for the daemon ------------------------------------------------------------------

    def reconfigure(self) -> None:
        """The config was re-read: roots added are watched (and scanned when their
        observer starts), roots removed are no longer watched."""
        self.observers.set_roots(self._roots())

    def stop(self) -> None:
        self.observers.stop_all()

    def queued_events(self) -> int:
        return sum(r.events.pending() for r in self.observers.roots.values())

    # --- scanning ------------------------------------------------------------------------

    def _roots(self) -> list[tuple[str, ObserverMode]]:
        return [(os.path.abspath(w.path), w.observer) for w in self.ctx.config.watch]

    def _scan_roots(self, roots: list[str]) -> None:
        scopes = [ScanScope(r, r) for r in roots if os.path.isdir(r)]
        for r in roots:
            if not os.path.isdir(r):
                self._problem(r, "root is not a directory (missing or unmounted?)")
        self._scan(scopes)

    def _scan(self, scopes: list[ScanScope]) -> None:
        ctx = self.ctx
        for scope in scopes:
            report = scan_scopes(
                [scope],
                ctx.journal,
                ctx.config.scan,
                clock=ctx.clock,
                on_ready=self._file_ready,
                should_stop=self._should_stop,
                probe=ctx.probe(),
            )
            self.scans += 1
            self.announcer.flush()
            self._report(report)
            if report.pending_until is not None:
                self._reschedule_pending(scope, report.pending_until)

    def _should_stop(self) -> bool:
        self._on_progress()  # a long scan keeps the service's watchdog fed
        return self.ctx.stop or self.ctx.lifecycle.draining.is_set()

    def _file_ready(self, path: str, size: int) -> None:
        self._on_ready()
        self.announcer.ready(path, size)

    def _reschedule_pending(self, scope: ScanScope, at: float) -> None:
        """Files still settling under `scope`: look at their folders again when they may be
        stable (the folders, not the whole tree)."""
        root = self.observers.roots.get(scope.root)
        if root is None:
            return
        folders = {
            os.path.dirname(row.path)
            for row in self.ctx.journal.rows_in([ItemState.PENDING], root=scope.path)
        }
        for folder in folders:
            root.events.add(ScanScope(folder, scope.root, recursive=False), at)

    def _rescan_pending(self) -> None:
        """A worker sent a file back (it changed while being sent): look at its folder."""
        for root in self.observers.roots.values():
            self._reschedule_pending(ScanScope(root.path, root.path), self.ctx.clock.time())

    def _next_wish(self) -> float | None:
        wishes = [self._next_full]
        wishes += [
            due for r in self.observers.roots.values() if (due := r.events.next_due()) is not None
        ]
        check = self.observers.next_check()
        if check is not None:
            wishes.append(check)
        return min(wishes)

    # --- telling the operator ---------------------------------------------------------------

    def _report(self, report: ScanReport) -> None:
        for problem in report.problems:
            self._problem(problem.path, problem.message)
        for skipped in report.skipped:
            self._problem(
                skipped.path, f"{skipped.message} (not media; skipped)", level=logging.INFO
            )
        if report.moved:
            log.info("%d file(s) moved or renamed: their items follow them", report.moved)

    def _problem(self, path: str, message: str, level: int = logging.WARNING) -> None:
        key = (path, message)
        now = self.ctx.clock.time()
        said = self._problems_said.get(key)
        if said is not None and now - said < PROBLEM_REPEAT_SECONDS:
            return
        self._problems_said[key] = now
        log.log(level, "%s: %s", printable(path), message)
