"""Workers that claim work from the journal and do it.

Two kinds of work, both claimed under a lease so no two workers (or processes) do the
same thing: uploads (rows `ready`, or `retry` once due) and metadata updates (rows
`uploaded`, or `synced` with desired metadata that differs from what was applied). Workers
meet only in the journal; the pool keeps just the set of paths in flight, for lease
renewal and for the stop rule's question "is anything left?".

That question is answered under the same lock a worker holds from "look for a row" to
"row in flight", so a claim can never happen unseen between the look at the in-flight set
and the look at the journal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from enum import Enum

from syncd.errors import Interrupted, SyncdError, WorkerFailed
from syncd.journal import owner_is_alive
from syncd.model import FileRow, ItemState
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext
from syncd.pipeline.tasks import WorkerTools, run_metadata, run_upload
from syncd.text import printable

log = logging.getLogger(__name__)

# A claim expires unless renewed; renewal runs at a third of it, so one missed beat (a
# long GC pause, a slow disk) does not lose the claim.
LEASE_SECONDS = 300.0
LEASE_RENEW_EVERY = LEASE_SECONDS / 3
# An idle worker looks for work this often (retry times and metadata work come due).
IDLE_POLL_SECONDS = 0.2
# A worker that died (a bug, a journal that cannot be written) is restarted after this
# long, in a pool that keeps going after a worker failure (`syncd watch`).
WORKER_RESTART_SECONDS = 5.0
# A daemon whose credentials are refused pauses uploading and tries again this often: an
# operator fixing a token should not also have to restart the service.
CREDENTIALS_RETRY_SECONDS = 60.0


class OnWorkerFailure(Enum):
    STOP_RUN = "stop"  # a burst: report and stop (the files left would wait for nobody)
    RESTART = "restart"  # a daemon: one bad file must not end the service; bad credentials
    # pause uploading (and are tried again) instead of ending it


class WorkerPool:
    def __init__(
        self,
        ctx: RunContext,
        announcer: Announcer,
        *,
        roots: Sequence[str] | None,
        on_failure: OnWorkerFailure,
        track_synced: bool = True,
        idle_poll: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.announcer = announcer
        self.roots = list(roots) if roots is not None else None
        self.on_failure = on_failure
        self.fatal: SyncdError | None = None
        self._track_synced = track_synced
        # How often an idle worker looks for work coming due (read here, so tests may patch it).
        self._idle_poll = IDLE_POLL_SECONDS if idle_poll is None else idle_poll
        self.synced_paths: set[str] = set()  # what this run's workers brought to `synced`
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._claiming = 0  # workers between "look for a row" and "row in _inflight"
        # While the first scan runs, workers take only files it has just hashed: a row an
        # earlier run left `ready` may be gone or changed, and the scan settles that first.
        self.claim_since: float | None = None
        # Idle workers wait on an event of their own, through the run's clock (on a
        # FakeClock they look for due work on virtual time). The generation is bumped under
        # this lock at each wake-up, and a worker registers its event under it only if the
        # generation is still the one it saw: a wake-up between its look and its wait is
        # never lost.
        self._work_ready = threading.Lock()
        self._generation = 0
        self._idle: set[threading.Event] = set()
        self._done = threading.Event()  # the run is over: idle workers leave
        self.requeued = threading.Event()  # a worker sent a file back to the scanner
        self._threads: list[threading.Thread] = []
        self._renewer: threading.Thread | None = None
        self._workers_gone = threading.Event()
        self._size = 0
        self._tools_generation = 0  # bumped when workers must make new clients (reload)
        self.paused_until = 0.0  # credentials refused: no claims until then
        self.pause_reason = ""

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, size: int) -> None:
        self._size = size
        for i in range(size):
            self._spawn(i)
        self._renewer = threading.Thread(target=self._renew_leases, name="syncd-lease", daemon=True)
        self._renewer.start()

    def _spawn(self, index: int) -> None:
        thread = threading.Thread(
            target=self._worker, args=(index,), name=f"syncd-worker-{index}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def finish(self, force: threading.Event | None = None) -> None:
        """The run is over: let idle workers leave, wait for busy ones (they stop at their
        next block once the stop flag is set), then stop renewing leases."""
        self._done.set()
        self.wake()
        # A worker restarted meanwhile joins the list: look until every thread is gone.
        while alive := [t for t in self._threads if t.is_alive()]:
            alive[0].join(timeout=0.5)
            if force is not None and force.is_set():
                return  # the caller leaves at once; the journal is consistent anyway
        self._workers_gone.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)

    def resize(self, size: int) -> None:
        """Run `size` workers from now on: more are started; extra ones leave once idle."""
        with self._lock:
            old, self._size = self._size, size
        for i in range(old, size):
            self._spawn(i)

    @property
    def size(self) -> int:
        return self._size

    def refresh_clients(self) -> None:
        """Credentials or the site's settings changed: each worker makes a new client
        before its next piece of work."""
        with self._lock:
            self._tools_generation += 1
        self.wake()

    def paused(self) -> bool:
        return self.ctx.clock.time() < self.paused_until

    def resume(self) -> None:
        self.paused_until = 0.0
        self.pause_reason = ""
        self.wake()

    def wake(self) -> None:
        with self._work_ready:
            self._generation += 1
            for idle in self._idle:
                idle.set()

    # --- the stop rule's questions --------------------------------------------------------

    def busy(self) -> bool:
        with self._lock:
            return bool(self._inflight) or self._claiming > 0

    def quiescent(self, has_work: Callable[[], bool]) -> bool:
        """Nothing in flight, nobody claiming, no file sent back to the scan that the
        run's loop has not passed on yet, and `has_work()` (asked of the journal) says
        nothing is left; asked under the claim lock, so no claim slips between the looks."""
        with self._lock:
            if self._inflight or self._claiming or self.requeued.is_set():
                return False
            return not has_work()

    def inflight(self) -> list[str]:
        with self._lock:
            return sorted(self._inflight)

    # --- workers -----------------------------------------------------------------------

    def _taking_work(self, index: int) -> bool:
        """False while draining, paused, or when this worker is beyond the pool's size."""
        if self.ctx.lifecycle.draining.is_set() or self.paused():
            return False
        return index < self._size

    def _worker(self, index: int) -> None:
        ctx = self.ctx
        # Read before the tools are made: a reload that lands while they are being made
        # (from the old credentials) must still have them made again.
        made_at = self._tools_generation
        try:
            tools = WorkerTools(ctx)
        except Exception as exc:
            self._worker_failed(index, exc)
            return
        try:
            while not ctx.stop and not self._done.is_set():
                if index >= self._size:
                    return  # the pool was made smaller
                generation = self._generation
                if not self._taking_work(index):
                    self._wait_for_work(generation)
                    continue
                if made_at != self._tools_generation:
                    tools.close()
                    made_at = self._tools_generation  # before: see above
                    tools = WorkerTools(ctx)
                work = self._claim()
                if work is None:
                    self._wait_for_work(generation)
                    continue
                kind, row = work
                try:
                    if kind == "upload":  # metadata work sends no bytes
                        self.announcer.claimed(row.path, row.size)
                    state = run_upload(tools, row) if kind == "upload" else run_metadata(tools, row)
                    if state is ItemState.PENDING:
                        self.requeued.set()
                    if state is ItemState.SYNCED and self._track_synced:
                        with self._lock:
                            self.synced_paths.add(row.path)
                except Exception as exc:
                    if not isinstance(exc, SyncdError) or not exc.stops_run:
                        self._let_go(kind, row, exc)
                    raise
                finally:
                    with self._lock:
                        self._inflight.discard(row.path)
                    self.ctx.lifecycle.wake.set()
        except Interrupted:
            return
        except Exception as exc:
            if isinstance(exc, SyncdError) and exc.stops_run:  # bad credentials and the like
                self._credentials_refused(index, exc)
            else:
                self._worker_failed(index, exc)
        finally:
            tools.close()

    def _let_go(self, kind: str, row: FileRow, exc: Exception) -> None:
        """A worker is dying with a claim in hand: give it back, so the work is not stuck
        behind a lease its (live) process would hold until it exits. An upload goes back to
        `retry`, due now; its attempt count tells the next claim to ask the site first."""
        ctx = self.ctx
        try:
            if kind == "upload":
                ctx.journal.transition(
                    row.path,
                    ItemState.UPLOADING,
                    ItemState.RETRY,
                    owner=ctx.owner,
                    detail=f"a worker failed while holding it: {type(exc).__name__}: {exc}",
                    next_attempt_at=ctx.clock.time(),
                )
            else:
                ctx.journal.release_lease(row.path, ctx.owner)
        except Exception as again:  # the journal itself may be what failed
            log.error("could not give back %s: %s", printable(row.path), again)

    def _credentials_refused(self, index: int, exc: SyncdError) -> None:
        if self.on_failure is OnWorkerFailure.RESTART:
            ctx = self.ctx
            self.pause_reason = str(exc)
            self.paused_until = ctx.clock.time() + CREDENTIALS_RETRY_SECONDS
            log.error(
                "uploading paused for %.0f s: %s (fix the credentials; no restart needed)",
                CREDENTIALS_RETRY_SECONDS,
                exc,
            )
            ctx.lifecycle.wake.set()
            if not ctx.stop:
                self._spawn(index)  # it waits out the pause with the others
            return
        log.error("stopping the run: %s", exc)
        with self._lock:
            self.fatal = self.fatal or exc
        self.ctx.lifecycle.request_stop()

    def _claim(self) -> tuple[str, FileRow] | None:
        ctx = self.ctx
        with self._lock:
            self._claiming += 1  # the stop rule must not see "nothing left" now
        row: FileRow | None = None
        kind = "upload"
        try:
            row = ctx.journal.claim(
                ctx.owner, LEASE_SECONDS, roots=self.roots, ready_since=self.claim_since
            )
            if row is None:
                kind = "metadata"
                row = ctx.journal.claim_metadata(ctx.owner, LEASE_SECONDS, roots=self.roots)
        finally:
            with self._lock:
                self._claiming -= 1
                if row is not None:
                    self._inflight.add(row.path)
                idle = row is None and not self._claiming and not self._inflight
        if idle:
            ctx.lifecycle.wake.set()  # the loop saw us looking: now the run may be over
        return None if row is None else (kind, row)

    def _wait_for_work(self, seen_generation: int) -> None:
        woken = threading.Event()
        with self._work_ready:
            if self._done.is_set() or self._generation != seen_generation:
                return
            self._idle.add(woken)
        try:
            self.ctx.clock.wait(woken, self._idle_poll)
        finally:
            with self._work_ready:
                self._idle.discard(woken)

    def _worker_failed(self, index: int, exc: Exception) -> None:
        """A worker is ending on an error no file's handling caught."""
        log.error("a worker failed: %s", exc, exc_info=exc)
        if self.on_failure is OnWorkerFailure.RESTART and not self.ctx.stop:
            self.ctx.progress.note(f"a worker failed ({type(exc).__name__}: {exc}); restarting it")
            if not self.ctx.clock.wait(self.ctx.lifecycle.stop, WORKER_RESTART_SECONDS):
                self._spawn(index)
            return
        # In a burst the files left ready would wait for a worker that is gone: stop.
        with self._lock:
            if self.fatal is None:
                self.fatal = WorkerFailed(f"a worker failed: {type(exc).__name__}: {exc}")
        self.ctx.lifecycle.request_stop()

    # --- leases ------------------------------------------------------------------------

    def _renew_leases(self) -> None:
        """Renew the leases of the work in flight; and recover what dead processes left.

        Runs until every worker is gone, not just until a stop is asked for: a worker may
        still be waiting for the answer to a body it has fully sent."""
        ctx = self.ctx
        while not ctx.clock.wait(self._workers_gone, LEASE_RENEW_EVERY):
            for path in self.inflight():
                ctx.journal.renew_lease(path, ctx.owner, LEASE_SECONDS)
            for path in ctx.journal.recover_abandoned(is_owner_alive=owner_is_alive):
                ctx.progress.note(f"recovered interrupted upload: {printable(path)}")
                self.wake()
