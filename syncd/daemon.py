"""One loop for both modes: scan, claim, upload, apply metadata, until done or stopped.

`push` is a burst: it scans the given roots, waits for unstable files to
settle, works until every file under the roots is synced, failed or parked
beyond the push's patience, then returns a report. Workers start before the
first scan and take each file the moment the scan has hashed it, so uploads
go on while the rest of the tree is still being read. (`watch` will run the
same workers forever, fed by watchdog.) Workers meet only in the journal:
each claims a row under a lease, does the work, writes the result back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncd.api.client import Client
from syncd.clock import Clock, SystemClock
from syncd.config import Config, WatchRoot
from syncd.errors import Interrupted, SidecarError, SyncdError, WorkerFailed
from syncd.journal import Journal, make_owner, owner_is_alive
from syncd.local.scan import ScanProblem, scan
from syncd.metadata.albums import AlbumResolver
from syncd.metadata.apply import MetadataApplier
from syncd.metadata.desired import read_metadata
from syncd.model import FileRow, ItemState, Metadata, UploadMode
from syncd.plan.upload import UploadPlan, choose_mode, upload_fields
from syncd.progress import NullProgress, ProgressSink
from syncd.text import printable
from syncd.throttle import RateGate, RateMeter, Throttle
from syncd.upload import RetryPolicy, Uploader, upload_file

log = logging.getLogger(__name__)

# A claim expires unless renewed; renewal runs at a third of it, so one
# missed beat (a long GC pause, a slow disk) does not lose the claim.
LEASE_SECONDS = 300.0
LEASE_RENEW_EVERY = LEASE_SECONDS / 3
# An idle worker looks for work this often (new ready rows, retry times).
IDLE_POLL_SECONDS = 0.2
# A push waits for parked (`retry`) files only this long; later ones are
# reported as not landed and left for the next run or `syncd watch`.
PUSH_RETRY_PATIENCE = 300.0

# A file re-queued by a worker (it changed while being sent) is looked at
# again after this long, so a file that keeps changing does not spin the scanner.
MIN_RESCAN_SECONDS = 1.0
# Files the scan readies are told to the progress display at most this often.
ANNOUNCE_EVERY_SECONDS = 0.5


@dataclass
class PushOptions:
    roots: Sequence[Path]
    no_wait: bool = False
    dry_run: bool = False
    concurrency: int | None = None  # None: from config
    mode: UploadMode | None = None
    chunk_size: int | None = None
    bwlimit: int | None = None


@dataclass
class RunReport:
    counts: dict[ItemState, int] = field(default_factory=dict)
    failed: list[FileRow] = field(default_factory=list)
    waiting: list[FileRow] = field(default_factory=list)  # retry/pending left at the end
    problems: list[ScanProblem] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)  # --dry-run
    dry_run: bool = False
    stopped_by: SyncdError | None = None
    interrupted: bool = False
    synced_by_run: int = 0  # files this run's workers (or its metadata catch-up) synced
    skipped: list[FileRow] = field(default_factory=list)  # skipped by this run, with why
    started_at: float = 0.0

    @property
    def synced_before(self) -> int:
        """Files under the roots that were synced without this run's help."""
        return max(0, self.counts.get(ItemState.SYNCED, 0) - self.synced_by_run)

    @property
    def all_landed(self) -> bool:
        return not (self.failed or self.waiting or self.problems or self.stopped_by)


class Run:
    """One push (or, later, a watch session) over one journal."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        clock: Clock | None = None,
        progress: ProgressSink | None = None,
        policy: RetryPolicy | None = None,
        client_factory: Callable[[], Client] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.clock = clock or SystemClock()
        self.progress = progress or NullProgress()
        self.policy = policy or RetryPolicy(max_attempts=config.upload.max_attempts)
        self.client_factory = client_factory or self._make_client
        self.owner = make_owner()
        self.stop = threading.Event()
        self.fatal: SyncdError | None = None
        self._inflight: set[str] = set()
        self._announced: set[str] = set()
        self._stop_was_signal = False
        self._changed = threading.Event()  # a worker finished a file
        self._requeued = threading.Event()  # a worker sent a file back to `pending`
        self._workers_gone = threading.Event()
        # Idle workers sleep on this; the scan wakes them when a file becomes ready.
        # The generation is bumped under it at each wake-up; workers compare it (see
        # _wait_for_work) so no wake-up between their look and their wait is lost.
        self._work_ready = threading.Condition()
        self._ready_generation = 0
        self._unannounced: dict[str, int] = {}  # path -> size, not yet told to progress
        self._announced_at = self.clock.time()
        # Held while a batch is handed to progress, so no worker starts a file of that
        # batch before the display has counted it.
        self._announce_lock = threading.Lock()
        self._claiming = 0  # workers between "look for a row" and "row in _inflight"
        self._synced_paths: set[str] = set()  # what this run's workers brought to `synced`
        # While the first scan runs, workers take only files it has just hashed: a row an
        # earlier run left `ready` may be gone or changed, and the scan settles that first.
        self._claim_since: float | None = None
        self.meter = RateMeter()
        self.albums = AlbumResolver(journal)
        self._lock = threading.Lock()

    def _make_client(self) -> Client:
        up = self.config.upload
        return Client(
            self.config.site, connect_timeout=up.connect_timeout, read_timeout=up.read_timeout
        )

    # --- metadata for a file -------------------------------------------------

    def watch_root(self, root: Path) -> WatchRoot | None:
        """The deepest configured [[watch]] folder that holds `root`, if any."""
        holding = [w for w in self.config.watch if root == w.path or w.path in root.parents]
        return max(holding, key=lambda w: len(w.path.parts), default=None)

    def base_metadata(self, root: Path) -> Metadata:
        """Config defaults: [upload] publish, and the watch root's album and tags."""
        watch = self.watch_root(root)
        albums = (watch.album,) if watch and watch.album else ()
        tags = watch.tags if watch else ()
        return Metadata(tags=tags, albums=albums, publish=self.config.upload.publish)

    def metadata_for(self, row: FileRow) -> Metadata:
        root = Path(row.root)
        base = self.base_metadata(root)
        return read_metadata(Path(row.path), root, base, self.config.metadata)

    # --- push -------------------------------------------------------------------

    def push(self, options: PushOptions) -> RunReport:
        roots = [str(r) for r in options.roots]
        report = RunReport(started_at=self.clock.time())
        for path in self.journal.recover_abandoned(is_owner_alive=owner_is_alive):
            self.progress.note(f"recovered interrupted upload: {printable(path)}")
        if options.dry_run:
            self._scan(options, report)
            report.dry_run = True
            report.interrupted = self._stop_was_signal  # a plan cut short says so (exit 130)
            report.plans = self.plan_lines(roots, options)
            report.counts = self._counts(roots)
            report.skipped = self._skipped_since(report.started_at, roots)
            return report

        client = self.client_factory()
        try:
            self.finish_uploaded(roots, client)
        except SyncdError as exc:  # only what stops the run gets out
            report.stopped_by = exc
            return self._final(report, roots)
        finally:
            client.close()
        upload_cfg = self.config.upload
        throttle = Throttle(options.bwlimit or upload_cfg.bwlimit, self.clock)
        gate = RateGate(self.clock)
        done = threading.Event()
        workers = [
            threading.Thread(
                target=self._worker,
                args=(roots, options, throttle, gate, done),
                name=f"syncd-worker-{i}",
                daemon=True,
            )
            for i in range(options.concurrency or upload_cfg.concurrency)
        ]
        renewer = threading.Thread(target=self._renew_leases, name="syncd-lease", daemon=True)
        self._claim_since = report.started_at
        for t in [*workers, renewer]:
            t.start()
        try:
            # Workers take files as the scan readies them (see _file_ready).
            pending_until = self._scan(options, report)
            self._announce_work(roots)  # what earlier runs left ready or parked
            if not self.stop.is_set():
                self._claim_since = None  # the scan has seen those: now they may go too
                self._wake_workers()
            # The main thread decides when the burst is over; workers only work.
            next_look = 0.0
            stuck = False  # pending rows no scan can settle
            while not self.stop.is_set():
                self._changed.clear()  # before looking, so no finish goes unnoticed
                if self._requeued.is_set():  # a worker sent a changed file back to scan
                    self._requeued.clear()
                    stuck = False
                with self._lock:
                    busy = bool(self._inflight) or self._claiming > 0
                # While workers are busy the journal is asked at most every poll
                # interval; once they are idle, at once (the run may be over).
                if not busy or self.clock.time() >= next_look:
                    next_look = self.clock.time() + IDLE_POLL_SECONDS
                    if not stuck and self.journal.has_work([ItemState.PENDING], roots=roots):
                        # Unstable or re-queued files: look again once they may have settled.
                        if pending_until is None or self.clock.time() >= pending_until:
                            pending_until = self._scan(options, report)
                            self._announce_work(roots)
                            # Pending rows the scan gives no time for cannot settle (no
                            # longer a regular file, an unlistable folder): stop waiting.
                            stuck = pending_until is None
                            continue
                    elif not busy and not self._has_work_left(roots):
                        break
                # Woken early when a worker finishes a file or a stop is asked for.
                self._changed.wait(IDLE_POLL_SECONDS)
        except BaseException:
            self.stop.set()  # a failed scan or loop: workers stop at once, not when done
            raise
        finally:
            done.set()
            self._wake_workers()
            for t in workers:
                while t.is_alive():
                    t.join(timeout=0.5)
            self._workers_gone.set()
            self.stop.set()
            renewer.join(timeout=5)

        report.stopped_by = self.fatal
        report.interrupted = self._stop_was_signal
        return self._final(report, roots)

    def _final(self, report: RunReport, roots: list[str]) -> RunReport:
        """Fill in what the journal says now: counts, failures, what did not land."""
        # Files this run synced that are still synced now (one may have changed again).
        synced_now = self.journal.rows_in(
            [ItemState.SYNCED], roots=roots, updated_since=report.started_at
        )
        report.synced_by_run = sum(1 for r in synced_now if r.path in self._synced_paths)
        report.counts = self._counts(roots)
        report.failed = self.journal.rows_in([ItemState.FAILED], roots=roots)
        report.waiting = self.journal.rows_in(
            [
                ItemState.RETRY,
                ItemState.PENDING,
                ItemState.READY,
                ItemState.UPLOADING,
                ItemState.UPLOADED,
            ],
            roots=roots,
        )
        report.skipped = self._skipped_since(report.started_at, roots)
        return report

    def _skipped_since(self, started_at: float, roots: list[str]) -> list[FileRow]:
        """Empty files and duplicates are not failures, but each is named once, by the
        run that decided it (a rerun does not repeat them)."""
        rows = self.journal.rows_in([ItemState.SKIPPED], roots=roots)
        return [r for r in rows if r.updated_at >= started_at]

    def _scan(self, options: PushOptions, report: RunReport) -> float | None:
        """Scan the roots; keep each problem once; return when pending files may be stable."""
        result = scan(
            options.roots,
            self.journal,
            self.config.scan,
            clock=self.clock,
            no_wait=options.no_wait,
            on_ready=None if options.dry_run else self._file_ready,  # a dry run queues nothing
            should_stop=self.stop.is_set,
        )
        self._flush_announcements()
        seen = {(p.path, p.message) for p in report.problems}
        report.problems.extend(p for p in result.problems if (p.path, p.message) not in seen)
        if result.pending_until is None:
            return None
        # Never spin: a file re-queued by a worker is looked at again soon, not at once.
        return max(result.pending_until, self.clock.time() + MIN_RESCAN_SECONDS)

    def _file_ready(self, path: str, size: int) -> None:
        """The scan readied a file: wake the idle workers (only idle ones wait, so busy ones
        pay nothing); tell the progress display in batches (a line per file would flood the
        plain output)."""
        self._wake_workers()
        self._queue_announcement(path, size)
        if self.clock.time() - self._announced_at >= ANNOUNCE_EVERY_SECONDS:
            self._flush_announcements()

    def _queue_announcement(self, path: str, size: int) -> None:
        """Count a file for the progress display once per run (a file re-queued and readied
        again is the same work)."""
        with self._announce_lock:
            self._queue_locked(path, size)

    def _queue_locked(self, path: str, size: int) -> None:
        if path not in self._announced:
            self._announced.add(path)
            self._unannounced[path] = size

    def _flush_announcements(self) -> None:
        with self._announce_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        batch, self._unannounced = self._unannounced, {}
        self._announced_at = self.clock.time()
        if batch:
            self.progress.add_work(len(batch), sum(batch.values()))

    def _announce_claimed(self, path: str, size: int) -> None:
        """Before a worker starts a file, progress must have counted it. The batch the scan
        is collecting goes out early only when it holds this file (not once per file: each
        hand-over is a log line in plain output)."""
        with self._announce_lock:
            if path not in self._announced or path in self._unannounced:
                self._queue_locked(path, size)
                self._flush_locked()

    def _wake_workers(self) -> None:
        with self._work_ready:
            self._ready_generation += 1
            self._work_ready.notify_all()

    def _wait_for_work(self, seen_generation: int, done: threading.Event) -> bool:
        """Sleep until the scan readies a file, the poll interval passes (retry times come
        due), or the run is over; True when it is over.

        The scan bumps the generation and notifies under the same lock, so a file readied
        after our compare finds us waiting and wakes us; one readied before it changed the
        generation we compare.
        """
        with self._work_ready:
            if not done.is_set() and self._ready_generation == seen_generation:
                self._work_ready.wait(IDLE_POLL_SECONDS)
        return done.is_set()

    def _announce_work(self, roots: list[str]) -> None:
        """Tell the progress display about files that became ready since last time."""
        for row in self.journal.rows_in([ItemState.READY, ItemState.RETRY], roots=roots):
            self._queue_announcement(row.path, row.size)
        self._flush_announcements()

    def finish_uploaded(self, roots: list[str], client: Client) -> None:
        """Rows a crash left in `uploaded` (item known, metadata maybe not applied)."""
        applier = MetadataApplier(self.journal, client, owner=self.owner, progress=self.progress)
        for row in self.journal.rows_in([ItemState.UPLOADED], roots=roots):
            try:
                meta = self.metadata_for(row)
                album_ids = self.albums.resolve(client, meta.albums)
                # `uploaded` means something was not carried by the upload (a
                # second album, an earlier copy found on the site): apply it all.
                self._count_synced(row.path, applier.finish(row, meta, album_ids))
            except SyncdError as exc:
                if exc.stops_run:
                    raise
                log.warning("%s: metadata not applied yet: %s", printable(row.path), exc)

    def _count_synced(self, path: str, state: ItemState) -> None:
        if state is ItemState.SYNCED:
            with self._lock:
                self._synced_paths.add(path)

    def request_stop(self) -> None:
        """First signal: stop claiming, abandon transfers at the next block, keep the journal."""
        self._stop_was_signal = True
        self.stop.set()
        self._changed.set()

    def _counts(self, roots: list[str]) -> dict[ItemState, int]:
        return self.journal.counts(roots=roots)

    def plan_lines(self, roots: list[str], options: PushOptions) -> list[str]:
        lines = []
        cfg = self.config.upload
        for row in self.journal.rows_in([ItemState.READY, ItemState.RETRY], roots=roots):
            try:
                meta = self.metadata_for(row)
            except SidecarError as exc:
                lines.append(f"fail {printable(row.path)}: {exc}")
                continue
            mode = self.mode_for(row, options)
            fields = upload_fields(meta, row.sha256 or "", {a: f"<album {a}>" for a in meta.albums})
            lines.append(
                str(
                    UploadPlan(
                        printable(row.path),
                        row.size,
                        mode,
                        options.chunk_size or cfg.chunk_size,
                        fields,
                    )
                )
            )
        for row in self.journal.rows_in([ItemState.PENDING], roots=roots):
            lines.append(f"wait {printable(row.path)}: not stable yet")
        return lines

    # --- workers ---------------------------------------------------------------

    def _has_work_left(self, roots: list[str]) -> bool:
        """Anything this push should still wait for: in flight, ready, or due soon."""
        with self._lock:
            if self._inflight:
                return True
        horizon = self.clock.time() + PUSH_RETRY_PATIENCE
        return self.journal.has_work([ItemState.READY], roots=roots, retry_due_by=horizon)

    def _worker(
        self,
        roots: list[str],
        options: PushOptions,
        throttle: Throttle,
        gate: RateGate,
        done: threading.Event,
    ) -> None:
        client = self.client_factory()
        uploader = Uploader(
            self.journal,
            client,
            owner=self.owner,
            clock=self.clock,
            stop=self.stop,
            throttle=throttle,
            gate=gate,
            progress=self.progress,
            policy=self.policy,
        )
        applier = MetadataApplier(self.journal, client, owner=self.owner, progress=self.progress)
        try:
            while not self.stop.is_set():
                generation = self._ready_generation
                row = None
                with self._lock:
                    self._claiming += 1  # the main loop must not see "nothing left" now
                try:
                    row = self.journal.claim(
                        self.owner, LEASE_SECONDS, roots=roots, ready_since=self._claim_since
                    )
                finally:
                    with self._lock:
                        self._claiming -= 1
                        if row is not None:
                            self._inflight.add(row.path)
                        all_idle = row is None and not self._claiming and not self._inflight
                if all_idle:
                    self._changed.set()  # the main loop saw us looking: now it may be over
                if row is None:
                    if self._wait_for_work(generation, done):
                        return
                    continue
                try:
                    # The progress display hears of a file before it starts, even one the
                    # scan readied a moment ago and has not announced yet.
                    self._announce_claimed(row.path, row.size)
                    self._process(row, options, uploader, applier)
                finally:
                    with self._lock:
                        self._inflight.discard(row.path)
                    self._changed.set()
        except Interrupted:
            return
        except Exception as exc:
            if isinstance(exc, SyncdError) and exc.stops_run:  # bad credentials and the like
                log.error("stopping the run: %s", exc)
                self.fatal = exc
                self.stop.set()
            else:
                self._worker_failed(exc)
        finally:
            client.close()

    def _worker_failed(self, exc: Exception) -> None:
        """A worker is ending on an error no file's handling caught. Stop the run: the main
        loop would otherwise wait for the files left ready, with nobody to take them."""
        log.error("stopping the run: a worker failed: %s", exc, exc_info=exc)
        with self._lock:
            if self.fatal is None:
                self.fatal = WorkerFailed(f"a worker failed: {type(exc).__name__}: {exc}")
        self.stop.set()
        self._changed.set()

    def _process(
        self, row: FileRow, options: PushOptions, uploader: Uploader, applier: MetadataApplier
    ) -> None:
        cfg = self.config.upload
        mode = self.mode_for(row, options)
        try:
            meta = self.metadata_for(row)
            album_ids: dict[str, str] = {}
            if meta.albums:  # most files have none: no retry machinery, no shared lock
                album_ids = uploader.retrying(row)(
                    lambda: self.albums.resolve(applier.client, meta.albums)
                )
            outcome = upload_file(
                uploader,
                row,
                meta,
                album_ids,
                mode=mode,
                chunk_size=options.chunk_size or cfg.chunk_size,
                chunk_concurrency=cfg.chunk_concurrency,
                client_factory=self.client_factory,
            )
        except Exception as exc:
            outcome = uploader.settle(row, exc)
        if outcome.state is ItemState.PENDING:
            self._requeued.set()
        self._count_synced(row.path, outcome.state)
        if outcome.state is not ItemState.UPLOADED:
            return
        fresh = self.journal.get(row.path)
        if fresh is None or fresh.state is not ItemState.UPLOADED:
            return
        try:
            self._count_synced(
                row.path, uploader.retrying(fresh)(lambda: applier.finish(fresh, meta, album_ids))
            )
        except SyncdError as exc:
            if exc.stops_run:
                raise
            # The item exists; only its metadata is behind. The next run applies it.
            log.warning("%s: uploaded, metadata not applied yet: %s", printable(row.path), exc)
            self.progress.file_finished(row.path, "uploaded", f"metadata pending: {exc}")

    def mode_for(self, row: FileRow, options: PushOptions) -> UploadMode:
        """The upload mode for a row: an unfinished token upload continues as it began."""
        session = self.journal.session(row.path)
        if session is not None and session.sha256 in (None, row.sha256):
            whole = session.total_chunks == 1 and session.chunk_size >= session.total_size
            return UploadMode.TOKEN if whole else UploadMode.CHUNKED
        cfg = self.config.upload
        watch = self.watch_root(Path(row.root))
        mode = options.mode or (watch.mode if watch else None) or cfg.mode
        return choose_mode(row.size, mode, cfg.chunk_threshold)

    def _renew_leases(self) -> None:
        # Runs until every worker is gone, not just until a stop is asked for: a
        # worker may still be waiting for the answer to a body it has fully sent.
        while not self._workers_gone.wait(LEASE_RENEW_EVERY):
            with self._lock:
                paths = list(self._inflight)
            for path in paths:
                self.journal.renew_lease(path, self.owner, LEASE_SECONDS)
