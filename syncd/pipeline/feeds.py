"""Feeds supply work: they record what is on disk in the journal, and the pool's workers
claim what became ready. Today there is the scan feed (push, and watch's periodic rescans);
`syncd watch` adds a feed driven by file system events.

A feed is driven by the run's loop: `start()` once, then `step()` whenever the loop wakes;
`settled()` says the feed has nothing more to give on its own (a burst may end).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from syncd.local.scan import ScanProblem, scan
from syncd.model import ItemState
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext

# A file sent back to the scanner by a worker (it changed while being sent) is looked at
# again after this long, so a file that keeps changing does not spin the scanner.
MIN_RESCAN_SECONDS = 1.0


class Feed(Protocol):
    def start(self) -> None: ...

    def step(self) -> float | None:
        """Do what is due; return when the feed next wants to run (None: no wish)."""
        ...

    def settled(self) -> bool: ...

    def poke(self) -> None:
        """Something was sent back to the feed (a file re-queued): look again."""
        ...


class ScanFeed:
    """Scan the roots once at start, then rescan while files are still settling."""

    def __init__(
        self,
        ctx: RunContext,
        roots: Sequence[Path],
        announcer: Announcer,
        *,
        on_ready: Callable[[], None],
        queue: bool = True,
    ) -> None:
        self.ctx = ctx
        self.roots = list(roots)
        self.root_names = [str(r) for r in roots]
        self.announcer = announcer
        self._on_ready = on_ready
        self._queue = queue  # a dry run records what it sees but queues nothing
        self.problems: list[ScanProblem] = []
        self.skipped: list[ScanProblem] = []
        self._pending_until: float | None = None
        self._stuck = False  # pending rows no scan can settle
        self._poked = False
        # The journal said no row under the roots is pending, and nothing has been sent
        # back since: step() need not ask again on every wake-up (one per file uploaded).
        # settled() always asks, and clears this when pending rows turned up all the same
        # (another process's scan).
        self._none_pending = False

    def start(self) -> None:
        self._pending_until = self._scan()
        self._announce_queued()

    def poke(self) -> None:
        self._poked = True

    def step(self) -> float | None:
        ctx = self.ctx
        if self._poked:
            self._poked, self._stuck, self._none_pending = False, False, False
        if self._stuck or self._none_pending:
            return None
        if not self._pending():
            self._none_pending = True
            return None
        now = ctx.clock.time()
        if self._pending_until is not None and now < self._pending_until:
            return self._pending_until
        # Unstable or re-queued files: look again now that they may have settled.
        self._pending_until = self._scan()
        self._announce_queued()
        # Pending rows the scan gives no time for cannot settle (no longer a regular
        # file, an unlistable folder): stop waiting for them.
        self._stuck = self._pending_until is None
        return self._pending_until

    def settled(self) -> bool:
        if self._poked:
            return False
        if self._stuck:
            return True
        if self._pending():
            self._none_pending = False  # step() looks at them
            return False
        return True

    def _pending(self) -> bool:
        return self.ctx.journal.has_work([ItemState.PENDING], roots=self.root_names)

    def _scan(self) -> float | None:
        """Scan the roots; keep each problem once; return when pending files may be stable."""
        ctx = self.ctx
        self._none_pending = False  # the scan records what it finds pending
        result = scan(
            self.roots,
            ctx.journal,
            ctx.config.scan,
            clock=ctx.clock,
            no_wait=ctx.options.no_wait,
            on_ready=self._file_ready if self._queue else None,
            should_stop=lambda: ctx.stop,
            probe=ctx.probe(),
        )
        self.announcer.flush()
        _add_once(self.problems, result.problems)
        _add_once(self.skipped, result.skipped)
        if result.pending_until is None:
            return None
        # Never spin: a file re-queued by a worker is looked at again soon, not at once.
        return max(result.pending_until, ctx.clock.time() + MIN_RESCAN_SECONDS)

    def _file_ready(self, path: str, size: int) -> None:
        self._on_ready()
        self.announcer.ready(path, size)

    def _announce_queued(self) -> None:
        """Tell the progress display about files that are queued (from earlier runs too)."""
        if not self._queue:
            return
        journal = self.ctx.journal
        for row in journal.iter_rows([ItemState.READY, ItemState.RETRY], roots=self.root_names):
            self.announcer.ready(row.path, row.size)
        self.announcer.flush()


def _add_once(into: list[ScanProblem], found: list[ScanProblem]) -> None:
    seen = {(p.path, p.message) for p in into}
    into.extend(p for p in found if (p.path, p.message) not in seen)
