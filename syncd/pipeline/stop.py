"""When a run is over. A burst (push, reconcile) ends when nothing is left that it may still
finish; forever (watch) ends only when asked to stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from syncd.journal import Journal
from syncd.model import ItemState
from syncd.pipeline.feeds import Feed
from syncd.pipeline.pool import WorkerPool

# A push waits for parked (`retry`) files, and for metadata updates that were deferred,
# only this long; later ones are reported as not landed and left for the next run.
PUSH_RETRY_PATIENCE = 300.0


class StopRule(Protocol):
    def done(self, pool: WorkerPool, feed: Feed, now: float) -> bool: ...


class Burst:
    """Over when the feed has settled and no work is in flight, ready, or due within the
    patience window (retries parked for longer are reported, not waited for)."""

    def __init__(
        self, journal: Journal, roots: Sequence[str] | None, patience: float = PUSH_RETRY_PATIENCE
    ) -> None:
        self.journal = journal
        self.roots = roots
        self.patience = patience

    def done(self, pool: WorkerPool, feed: Feed, now: float) -> bool:
        # Work in flight first: while workers are busy (most wake-ups of a burst: one per
        # file finished) the run is not over, and the journal need not be asked. Asked
        # before the feed, too: a worker writes a file's outcome (a file sent back to
        # the scan: `pending`) before it leaves the in-flight set, so once nothing is in
        # flight the feed's look at the journal sees every outcome written so far.
        if pool.busy():
            return False
        if not feed.settled():
            return False
        horizon = now + self.patience
        return pool.quiescent(
            lambda: self.journal.has_work(
                [ItemState.READY],
                roots=self.roots,
                retry_due_by=horizon,
                metadata_due_by=horizon,
            )
        )


class Forever:
    """A daemon: over only when stopped."""

    def done(self, pool: WorkerPool, feed: Feed, now: float) -> bool:
        return False
