"""`syncd reconcile`: compare the archive, the journal and the site; repair what the policy
says to repair; report the rest.

1. Recover claims dead processes left, and (unless a dry run) scan the roots into the
   journal exactly as push does: new files hashed and queued, changed ones re-hashed,
   renamed ones followed. A dry run reads the archive without writing (`local.folder`).
2. Read the site (`remote.RemoteFolder`): every item, the albums the desired metadata
   names, items by identity marker where one can change a decision.
3. Plan (`plan.reconcile`): one action per difference, under `[reconcile]`.
4. Act (`reconcile.act`): journal changes, deletions and unpublishing; then the
   pipeline's workers, in a burst over the roots, do the uploads, replacements and
   metadata updates the plan queued, under the same claims as push and `syncd watch`.
   A dry run stops after printing the plan; `--adopt` after linking (no upload).
5. Report: every action with its outcome, and the exit status cron acts on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from syncd.api.client import Client
from syncd.clock import Clock, SystemClock
from syncd.config import Config
from syncd.errors import Interrupted, SyncdError
from syncd.journal import Journal, owner_is_alive
from syncd.model import ItemState
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.feeds import ScanFeed
from syncd.pipeline.lifecycle import Lifecycle
from syncd.pipeline.pool import OnWorkerFailure, WorkerPool
from syncd.pipeline.report import RunReport, fill_report
from syncd.pipeline.run import run_pipeline
from syncd.pipeline.site import check_site, site_getter
from syncd.pipeline.stop import PUSH_RETRY_PATIENCE, Burst
from syncd.plan.reconcile import ReconcileInput, ReconcilePlan, plan_reconcile
from syncd.progress import NullProgress, ProgressSink
from syncd.reconcile.act import Executor, settle_queued
from syncd.reconcile.gather import Gathered, Gatherer, GatherOptions
from syncd.reconcile.phases import NullPhases, Phases
from syncd.reconcile.report import ActionResult, Outcome, ReconcileReport
from syncd.remote import RemoteFolder
from syncd.retry import RetryPolicy
from syncd.text import printable

# Site reads in flight at once: a few hide the round trips; more only provoke rate limits.
MAX_READERS = 8


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    roots: Sequence[Path]
    dry_run: bool = False
    adopt: bool = False  # rebuild: link files to items by marker, upload nothing
    dedupe: bool = False  # delete copies beyond the oldest (within max_delete)
    max_delete: int | None = None  # None: [reconcile] max_delete
    concurrency: int | None = None  # uploads at once, and site reads at once
    no_wait: bool = False


class Reconcile:
    """One reconcile over one journal."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        clock: Clock | None = None,
        phases: Phases | None = None,
        policy: RetryPolicy | None = None,
        client_factory: Callable[[], Client] | None = None,
        lifecycle: Lifecycle | None = None,
        patience: float = PUSH_RETRY_PATIENCE,
    ) -> None:
        self.config = config
        self.journal = journal
        self.clock = clock or SystemClock()
        self.phases: Phases = phases or NullPhases()
        self.policy = policy or RetryPolicy(max_attempts=config.upload.max_attempts)
        self.client_factory = client_factory
        self.lifecycle = lifecycle or Lifecycle()
        self.patience = patience

    @property
    def stop(self) -> threading.Event:
        return self.lifecycle.stop

    def run(self, options: ReconcileOptions) -> ReconcileReport:
        relay = _Relay(self.phases)
        ctx = RunContext(
            self.config,
            self.journal,
            clock=self.clock,
            progress=relay,
            policy=self.policy,
            lifecycle=self.lifecycle,
            options=RunOptions(concurrency=options.concurrency, no_wait=options.no_wait),
            client_factory=self.client_factory,
        )
        report = ReconcileReport(
            dry_run=options.dry_run, adopt=options.adopt, started_at=self.clock.time()
        )
        roots = [str(r) for r in options.roots]
        try:
            # Is the journal this site's? Raises SiteMismatch (exit 2); a dry run sends
            # nothing, so it compares the domain only.
            check_site(
                self.config.site,
                self.journal,
                None if options.dry_run else site_getter(ctx.client_factory, ctx.retrier),
            )
            try:
                self._run(ctx, relay, options, roots, report)
            except Interrupted:
                pass
            except SyncdError as exc:
                report.error = exc
        finally:
            ctx.close()
        report.interrupted = self.lifecycle.by_signal
        return report

    def _run(
        self,
        ctx: RunContext,
        relay: _Relay,
        options: ReconcileOptions,
        roots: list[str],
        report: ReconcileReport,
    ) -> None:
        journal, phases = self.journal, self.phases
        if not options.dry_run:
            for path in journal.recover_abandoned(is_owner_alive=owner_is_alive):
                phases.note(f"recovered interrupted upload: {printable(path)}")
            journal.make_due(roots)
            phases.begin("scanning the archive into the journal")
            # Nothing is queued for display yet: no worker runs before the plan is made.
            feed = ScanFeed(
                ctx, options.roots, Announcer(relay, self.clock), on_ready=_nothing, queue=False
            )
            feed.start()
            report.problems.extend(feed.problems)
            phases.end("scan done")
            if ctx.stop:
                return
        gathered, report.requests = self._gather(ctx, options)
        report.problems.extend(p for p in gathered.problems if p not in report.problems)
        inp = gathered.input
        report.rows, report.local_files = len(inp.rows), len(inp.local)
        report.remote_items, report.walk = len(inp.site.items), gathered.walk
        report.lookups = gathered.lookups
        policy = self.config.reconcile
        if options.max_delete is not None:
            policy = replace(policy, max_delete=options.max_delete)
        plan = plan_reconcile(inp, policy, dedupe=options.dedupe, adopt_only=options.adopt)
        report.blocked, report.untracked = plan.blocked, plan.untracked
        if options.dry_run:
            report.results = [ActionResult(a, Outcome.PLANNED) for a in plan.actions]
            return
        report.results = self._act(ctx, plan, inp, adopt_only=options.adopt)
        if options.adopt or ctx.stop:
            return
        report.pipeline = self._burst(ctx, relay, feed, roots)
        rows_now = {r.path: r for r in journal.rows_in(list(ItemState), roots=roots)}
        settle_queued(report.results, rows_now, report.started_at)

    def _gather(self, ctx: RunContext, options: ReconcileOptions) -> tuple[Gathered, int]:
        """The three sides, and the read requests it took."""
        concurrency = options.concurrency or self.config.upload.concurrency
        with RemoteFolder(
            ctx.client_factory,
            concurrency=max(1, min(concurrency, MAX_READERS)),
            call_with_retry=ctx.retrier,
            stop=self.lifecycle.stop,
        ) as folder:
            gatherer = Gatherer(
                ctx,
                folder,
                self.phases,
                GatherOptions(
                    roots=options.roots,
                    hash_changed=options.dry_run,
                    look_up_all=options.adopt or options.dedupe,
                ),
            )
            gathered = gatherer.gather()
            return gathered, folder.requests

    def _act(
        self, ctx: RunContext, plan: ReconcilePlan, inp: ReconcileInput, *, adopt_only: bool
    ) -> list[ActionResult]:
        client = ctx.client_factory()
        try:
            rows = {r.path: r for r in inp.rows}
            executor = Executor(ctx, client, rows, inp.site, adopt_only=adopt_only)
            results = []
            for action in plan.actions:
                if ctx.stop:
                    break
                results.append(executor.execute(action))
            return results
        finally:
            client.close()

    def _burst(
        self, ctx: RunContext, relay: _Relay, scanned: ScanFeed, roots: list[str]
    ) -> RunReport:
        """The workers, over what the first scan (and the plan) queued; the scan is not
        repeated, only files it left settling are looked at again."""
        run_report = RunReport(started_at=self.clock.time())
        with self.phases.uploads() as sink, relay.to(sink):
            announcer = Announcer(relay, self.clock)
            pool = WorkerPool(ctx, announcer, roots=roots, on_failure=OnWorkerFailure.STOP_RUN)
            feed = _Scanned(scanned, announcer, pool.wake, roots)
            run_pipeline(ctx, pool, feed, Burst(self.journal, roots, self.patience))
            run_report.stopped_by = pool.fatal
            run_report.problems = scanned.problems
            run_report.not_media = scanned.skipped
        return fill_report(
            run_report, self.journal, roots, owner=ctx.owner, synced_paths=pool.synced_paths
        )


def _nothing() -> None:
    pass


class _Scanned:
    """The burst's feed: the scan feed the run began with, already started. Its start tells
    the display what is queued; files the scan left settling are scanned again as they
    come due (the scan feed's own step), and what that readies is told and handed over."""

    def __init__(
        self, scanned: ScanFeed, announcer: Announcer, wake: Callable[[], None], roots: list[str]
    ) -> None:
        self.scanned = scanned
        self.announcer = announcer
        self.wake = wake
        self.roots = roots

    def start(self) -> None:
        self._announce()

    def step(self) -> float | None:
        journal = self.scanned.ctx.journal
        settling = journal.has_work([ItemState.PENDING], roots=self.roots)
        wants = self.scanned.step()
        if settling:
            self._announce()
            self.wake()
        return wants

    def settled(self) -> bool:
        return self.scanned.settled()

    def poke(self) -> None:
        self.scanned.poke()

    def _announce(self) -> None:
        journal = self.scanned.ctx.journal
        for row in journal.rows_in([ItemState.READY, ItemState.RETRY], roots=self.roots):
            self.announcer.ready(row.path, row.size)
        self.announcer.flush()


class _Relay:
    """The run's progress sink: lines go to the phase display while the comparison runs,
    and to the upload display during the workers' burst."""

    def __init__(self, phases: Phases) -> None:
        self._phases = phases
        self._target: ProgressSink = NullProgress()

    @contextmanager
    def to(self, sink: ProgressSink) -> Iterator[None]:
        previous, self._target = self._target, sink
        try:
            yield
        finally:
            self._target = previous

    def add_work(self, files: int, nbytes: int) -> None:
        self._target.add_work(files, nbytes)

    def file_started(self, path: str, size: int) -> None:
        self._target.file_started(path, size)

    def file_bytes(self, path: str, nbytes: int) -> None:
        self._target.file_bytes(path, nbytes)

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        self._target.file_finished(path, outcome, detail)

    def note(self, text: str) -> None:
        if isinstance(self._target, NullProgress):
            self._phases.note(text)
        else:
            self._target.note(text)
