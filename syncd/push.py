"""`syncd push`: the pipeline once over the given roots (a scan feed and a burst), then a
report. `--dry-run` scans, prints exactly the plans a real run would follow, and sends
nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncd.api.client import Client
from syncd.clock import Clock, SystemClock
from syncd.config import Config
from syncd.errors import SidecarError, SyncdError
from syncd.journal import Journal, owner_is_alive
from syncd.model import ItemState, UploadMode
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.feeds import ScanFeed
from syncd.pipeline.lifecycle import Lifecycle
from syncd.pipeline.pool import OnWorkerFailure, WorkerPool
from syncd.pipeline.report import RunReport, fill_report, skipped_since
from syncd.pipeline.run import run_pipeline
from syncd.pipeline.site import check_site, site_getter
from syncd.pipeline.stop import PUSH_RETRY_PATIENCE, Burst
from syncd.plan.metadata import plan_metadata
from syncd.plan.upload import plan_upload
from syncd.progress import NullProgress, ProgressSink
from syncd.retry import RetryPolicy
from syncd.text import printable


@dataclass
class PushOptions:
    roots: Sequence[Path]
    no_wait: bool = False
    dry_run: bool = False
    concurrency: int | None = None  # None: from config
    mode: UploadMode | None = None
    chunk_size: int | None = None
    bwlimit: int | None = None  # None: from config; 0: unlimited for this run

    def run_options(self) -> RunOptions:
        return RunOptions(
            concurrency=self.concurrency,
            mode=self.mode,
            chunk_size=self.chunk_size,
            bwlimit=self.bwlimit,
            no_wait=self.no_wait,
        )


class Push:
    """One push over one journal."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        clock: Clock | None = None,
        progress: ProgressSink | None = None,
        policy: RetryPolicy | None = None,
        client_factory: Callable[[], Client] | None = None,
        lifecycle: Lifecycle | None = None,
        patience: float = PUSH_RETRY_PATIENCE,
    ) -> None:
        self.config = config
        self.journal = journal
        self.clock = clock or SystemClock()
        self.progress = progress or NullProgress()
        self.policy = policy or RetryPolicy(max_attempts=config.upload.max_attempts)
        self.client_factory = client_factory
        self.lifecycle = lifecycle or Lifecycle()
        self.patience = patience

    @property
    def stop(self) -> threading.Event:
        return self.lifecycle.stop

    def request_stop(self) -> None:
        """First signal: stop claiming, abandon transfers at the next block, keep the journal."""
        self.lifecycle.request_stop(by_signal=True)

    def run(self, options: PushOptions) -> RunReport:
        ctx = RunContext(
            self.config,
            self.journal,
            clock=self.clock,
            progress=self.progress,
            policy=self.policy,
            lifecycle=self.lifecycle,
            options=options.run_options(),
            client_factory=self.client_factory,
        )
        try:
            return self._run(ctx, options)
        finally:
            ctx.close()

    def _run(self, ctx: RunContext, options: PushOptions) -> RunReport:
        roots = [str(r) for r in options.roots]
        report = RunReport(started_at=self.clock.time())
        # Before anything the journal says is believed: is it this site's journal? A dry
        # run sends nothing, so it compares the domain only. Raises SiteMismatch.
        check_site(
            self.config.site,
            self.journal,
            None if options.dry_run else site_getter(ctx.client_factory, ctx.retrier),
        )
        for path in self.journal.recover_abandoned(is_owner_alive=owner_is_alive):
            self.progress.note(f"recovered interrupted upload: {printable(path)}")
        if not options.dry_run:
            # A push is asked for now: what earlier runs parked under its roots is tried at
            # once (within this run, parking follows the schedule again).
            self.journal.make_due(roots)
        announcer = Announcer(self.progress, self.clock)
        pool = WorkerPool(ctx, announcer, roots=roots, on_failure=OnWorkerFailure.STOP_RUN)
        feed = ScanFeed(
            ctx, options.roots, announcer, on_ready=pool.wake, queue=not options.dry_run
        )
        if options.dry_run:
            feed.start()
            report.dry_run = True
            report.plans = plan_lines(ctx, roots)
        else:
            pool.claim_since = report.started_at
            run_pipeline(ctx, pool, feed, Burst(self.journal, roots, self.patience))
            report.stopped_by = pool.fatal
        report.interrupted = self.lifecycle.by_signal  # a plan cut short says so (exit 130)
        report.problems = feed.problems
        report.not_media = feed.skipped
        if options.dry_run:  # what is queued is the plan, not a failure
            report.counts = self.journal.counts(roots=roots)
            report.skipped = skipped_since(self.journal, roots, report.started_at)
            return report
        return fill_report(
            report, self.journal, roots, owner=ctx.owner, synced_paths=pool.synced_paths
        )


def plan_lines(ctx: RunContext, roots: list[str]) -> list[str]:
    """What a run would do now, each line the str() of the plan the executor would follow.
    Albums not created yet are shown by title; nothing is asked of the site."""
    journal = ctx.journal
    lines: list[str] = []
    for row in journal.rows_in([ItemState.READY, ItemState.RETRY], roots=roots):
        try:
            meta, _sig = ctx.desired(row)
        except SidecarError as exc:
            lines.append(f"fail {printable(row.path)}: {exc}")
            continue
        album_ids = {title: f"<album {title}>" for title in meta.albums}
        plan = plan_upload(
            row, journal.session(row.path), meta, album_ids, ctx.upload_settings(row)
        )
        lines.append(printable(str(plan)))
    for row in journal.metadata_behind(roots=roots):
        try:
            meta, _sig = ctx.desired(row)
        except SidecarError as exc:
            lines.append(f"fail {printable(row.path)}: {exc}")
            continue
        if row.state is ItemState.SYNCED and meta.digest() == row.applied_digest:
            continue
        album_ids = {title: f"<album {title}>" for title in meta.albums}
        joiner = ctx.config.upload.tag_word_joiner
        lines.append(printable(str(plan_metadata(row, meta, album_ids, tag_joiner=joiner))))
    for row in journal.rows_in([ItemState.PENDING], roots=roots):
        lines.append(f"wait {printable(row.path)}: not stable yet")
    return lines


__all__ = ["Push", "PushOptions", "RunReport", "SyncdError"]
