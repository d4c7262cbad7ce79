"""`syncd watch`: the systemd service. The pipeline run forever: a watch feed (watchdog
events, a start-up scan, periodic rescans) and a worker pool that restarts dead workers and
pauses (rather than ends) when the site refuses the credentials.

Lifecycle: the first SIGTERM or SIGINT stops taking work and gives transfers in flight
`[daemon] stop_timeout` seconds to finish, then abandons them at their next block (the
journal stays consistent; exit 0). A second signal stops at once (still safe). SIGHUP
re-reads the config: roots added or removed, concurrency, bandwidth limit and credentials
take effect without a restart; a config that does not load is logged and the running one
kept. With NOTIFY_SOCKET set (Type=notify) systemd hears READY, STATUS, WATCHDOG,
RELOADING and STOPPING.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from syncd.api.client import Client
from syncd.clock import Clock, SystemClock
from syncd.config import Config, load_config
from syncd.errors import ConfigError
from syncd.journal import Journal, owner_is_alive
from syncd.local.watch import ObserverFactory, make_observer
from syncd.model import ItemState, ObserverState
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.lifecycle import Lifecycle
from syncd.pipeline.pool import OnWorkerFailure, WorkerPool
from syncd.pipeline.run import run_pipeline
from syncd.pipeline.site import check_site, site_getter
from syncd.pipeline.stop import Forever
from syncd.pipeline.watch_feed import WatchFeed
from syncd.retry import RetryPolicy
from syncd.service.logs import hide_secrets
from syncd.service.notify import Notifier, WatchdogPinger
from syncd.text import printable

if TYPE_CHECKING:
    from syncd.service.metrics import Metrics, MetricsServer

log = logging.getLogger(__name__)

# How often the daemon looks at what it would tell systemd (STATUS=); a line costs a read of
# the journal's counts, and is sent only when it says something new. A pause or a new error
# is told at once.
STATUS_LOOK_SECONDS = 2.0
# The rate STATUS= shows is measured over at least this long (a status sent at once, just
# after another, shows the last measured rate rather than a jittery one).
RATE_WINDOW_SECONDS = 2.0
# An idle daemon's loop and workers look for work coming due this often (events and the
# scan wake them at once; this is only for retry times and metadata updates coming due).
DAEMON_IDLE_POLL_SECONDS = 1.0


class ServiceProgress:
    """One log line per file uploaded or failed (journald files them by priority), and the
    counts behind the metrics."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}
        self.sent = 0  # bytes handed to the wire since start, net of attempts rolled back
        self.last_error = ""
        self.on_uploaded: Callable[[int], None] = lambda nbytes: None
        self.on_failed: Callable[[str], None] = lambda code: None
        self.on_retry: Callable[[], None] = lambda: None

    def add_work(self, files: int, nbytes: int) -> None:
        log.debug("%d file(s) queued (%d bytes)", files, nbytes)

    def file_started(self, path: str, size: int) -> None:
        with self._lock:
            self._sizes[path] = size

    def file_bytes(self, path: str, nbytes: int) -> None:
        with self._lock:
            self.sent += nbytes

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        with self._lock:
            size = self._sizes.pop(path, 0)
        if outcome == "synced":
            log.info("synced %s (photo %s)", printable(path), detail)
            self.on_uploaded(size)
        elif outcome == "failed":
            row = self._journal.get(path)
            self.on_failed((row.error_code if row else None) or "failed")
            self.last_error = f"{printable(path)}: {detail}"
            log.error("failed %s: %s", printable(path), detail)
        elif outcome == "retry":
            self.last_error = f"{printable(path)}: {detail}"
            log.warning("will retry %s: %s", printable(path), detail)
        else:  # updated (metadata), pending (changed while sent), ready (interrupted)
            log.info("%s %s%s", outcome, printable(path), f": {detail}" if detail else "")

    def note(self, text: str) -> None:
        if text.startswith("retry "):
            self.on_retry()
        log.info("%s", text)


class Watch:
    """One `syncd watch` process."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        config_path: Path | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        lifecycle: Lifecycle | None = None,
        notifier: Notifier | None = None,
        client_factory: Callable[[], Client] | None = None,
        observer_factory: ObserverFactory = make_observer,
    ) -> None:
        self.config_path = config_path or config.source
        self.journal = journal
        self.clock = clock or SystemClock()
        self.lifecycle = lifecycle or Lifecycle()
        self.notifier = notifier or Notifier.from_env()
        self.pinger = WatchdogPinger.from_env(self.notifier)
        self.progress = ServiceProgress(journal)
        self.ctx = RunContext(
            config,
            journal,
            clock=self.clock,
            progress=self.progress,
            policy=policy or RetryPolicy(max_attempts=config.upload.max_attempts),
            lifecycle=self.lifecycle,
            options=RunOptions(),
            client_factory=client_factory,
        )
        self.pool = WorkerPool(
            self.ctx,
            Announcer(self.progress, self.clock, remember=False),
            roots=None,
            on_failure=OnWorkerFailure.RESTART,
            track_synced=False,
            idle_poll=DAEMON_IDLE_POLL_SECONDS,
        )
        self.observer_states: dict[str, ObserverState] = {}
        self.metrics: Metrics | None = None
        self.feed = WatchFeed(
            self.ctx,
            self.pool.announcer,
            on_ready=self.pool.wake,
            on_observer_state=self._observer_state,
            on_scan_progress=self.pinger.tick,
            observer_factory=observer_factory,
        )
        self._ready_said = False
        self._stopping_said = False
        self._status_at = 0.0
        self._status_told = ""  # the last STATUS= sent
        self._was_paused = False
        self._status_about: tuple[bool, str] = (False, "")  # (paused, last error) last told
        self._rate_mark = (self.clock.time(), 0)  # (time, bytes sent) the rate counts from
        self._rate = 0.0

    @property
    def config(self) -> Config:
        return self.ctx.config

    def run(self) -> int:
        """Until stopped; 0 after a signal (the journal is consistent)."""
        # Is the journal this site's? (SiteMismatch, exit status 2, both sites named.)
        check_site(
            self.config.site, self.journal, site_getter(self.ctx.client_factory, self.ctx.retrier)
        )
        server = self._start_metrics()
        self.notifier.status("starting: scanning the watched folders")
        for path in self.journal.recover_abandoned(is_owner_alive=owner_is_alive):
            log.info("recovered interrupted upload: %s", printable(path))
        self.pool.claim_since = self.clock.time()
        try:
            run_pipeline(
                self.ctx,
                self.pool,
                self.feed,
                Forever(),
                on_tick=self._tick,
                drain_timeout=self.config.daemon.stop_timeout,
                idle_poll=DAEMON_IDLE_POLL_SECONDS,
            )
        finally:
            self._say_stopping()
            self.feed.stop()
            self.ctx.close()
            if server is not None:
                server.close()
        log.info("stopped; the journal is consistent")
        return 0

    # --- every pass of the loop ------------------------------------------------------------

    def _tick(self) -> float | None:
        self.pinger.tick()  # from the main loop: a hung loop stops pinging
        if not self._ready_said:  # the start-up scan has run and queued its work
            self._ready_said = True
            status = self._status_text()
            log.info("ready: %s", status)
            self.notifier.ready(status)
            self._status_at = self.clock.time()
            self._status_told = status
        if self.lifecycle.draining.is_set() or self.lifecycle.stop.is_set():
            self._say_stopping()
            return self.pinger.time_left()
        if self.lifecycle.reload.is_set():
            self.lifecycle.reload.clear()
            self.reload()
        paused = self.pool.paused()
        if self._was_paused and not paused:
            # The pause is over: re-read the config, so a fixed credentials file counts.
            self.reload(quiet=True)
            self.pool.refresh_clients()
        self._was_paused = paused
        now = self.clock.time()
        about = (paused, self.progress.last_error)
        if now - self._status_at >= STATUS_LOOK_SECONDS or about != self._status_about:
            self._status_at = now
            status = self._status_text()
            if status != self._status_told:
                self.notifier.status(status)
                self._status_told = status
        wants = self._status_at + STATUS_LOOK_SECONDS
        left = self.pinger.time_left()
        return wants if left is None else min(wants, now + left)

    def _say_stopping(self) -> None:
        if not self._stopping_said:
            self._stopping_said = True
            busy = len(self.pool.inflight())
            self.notifier.stopping(f"stopping: {busy} transfer(s) finishing")

    def _status_text(self) -> str:
        self._status_about = (self.pool.paused(), self.progress.last_error)
        counts = self.journal.counts()
        queued = counts[ItemState.READY] + counts[ItemState.RETRY]
        text = (
            f"{len(self.feed.observers.roots)} root(s); {queued} queued,"
            f" {counts[ItemState.UPLOADING]} uploading, {counts[ItemState.PENDING]} settling,"
            f" {counts[ItemState.SYNCED]} synced, {counts[ItemState.FAILED]} failed"
        )
        rate = self._current_rate()
        if rate > 0:
            text += f"; {_rate_text(rate)}"
        if self.pool.paused():
            text += f"; uploading paused: {self.pool.pause_reason}"
        elif self.progress.last_error:
            text += f"; last error: {self.progress.last_error}"
        return text

    def _current_rate(self) -> float:
        """Bytes per second sent since the last measure: what is uploading now, not an
        average over files that finished long ago (0 when nothing is being sent)."""
        now = self.clock.time()
        then, sent_then = self._rate_mark
        if now - then >= RATE_WINDOW_SECONDS:
            sent = self.progress.sent
            self._rate = max(0.0, (sent - sent_then) / (now - then))
            self._rate_mark = (now, sent)
        return self._rate

    # --- SIGHUP ------------------------------------------------------------------------------

    def reload(self, *, quiet: bool = False) -> bool:
        """Re-read the config; keep the running one if the new one does not load or needs a
        restart (another journal or site)."""
        self._status_told = ""  # "reloading ..." replaces the last status: say it again after
        with self.notifier.reload(f"reloading {self.config_path}"):
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                log.error("reload: %s; keeping the running configuration", exc)
                return False
            old = self.config
            if new.journal_path != old.journal_path or new.site.domain != old.site.domain:
                log.error(
                    "reload: the journal path or the site changed; that needs a restart"
                    " (keeping the running configuration)"
                )
                return False
            hide_secrets(new.site.consumer_secret.reveal(), new.site.access_token_secret.reveal())
            self.ctx.config = new
            bwlimit = new.upload.bwlimit
            self.ctx.throttle.rate = bwlimit or None
            if new.upload.concurrency != self.pool.size:
                self.pool.resize(new.upload.concurrency)
            if new.site != old.site:
                self.pool.refresh_clients()
                self.ctx.refresh_site_lookups()
                self.pool.resume()
            self.feed.reconfigure()
            if not quiet:
                log.info(
                    "reloaded %s: %d root(s), concurrency %d",
                    self.config_path,
                    len(new.watch),
                    new.upload.concurrency,
                )
            return True

    # --- metrics and observers ---------------------------------------------------------------

    def _observer_state(self, root: str, state: ObserverState) -> None:
        self.observer_states[root] = state
        log.info("watch root %s: %s", printable(root), state.value)
        if self.metrics is not None:
            self.metrics.observer_state(root, state)

    def _start_metrics(self) -> MetricsServer | None:
        listen = self.config.daemon.metrics_listen
        if listen is None:
            return None
        from syncd.service.metrics import Metrics, MetricsUnavailable, QueueSnapshot

        def queue() -> QueueSnapshot:
            counts = self.journal.counts()
            return QueueSnapshot(
                files_by_state={state.value: n for state, n in counts.items()},
                oldest_ready_since=self.journal.oldest_ready(),
            )

        metrics = Metrics(queue)
        self.progress.on_uploaded = metrics.file_uploaded
        self.progress.on_failed = metrics.file_failed
        self.progress.on_retry = metrics.retried
        for root, state in self.observer_states.items():
            metrics.observer_state(root, state)
        self.metrics = metrics
        try:
            server = metrics.serve(listen)
        except MetricsUnavailable as exc:
            log.error("metrics: %s; going on without them", exc)
            return None
        log.info("metrics at %s", server.url)
        return server


def _rate_text(bytes_per_second: float) -> str:
    if bytes_per_second >= 1024 * 1024:
        return f"{bytes_per_second / 1024 / 1024:.1f} MiB/s"
    return f"{bytes_per_second / 1024:.1f} KiB/s"


def watch_main(config: Config, journal: Journal) -> int:
    """`syncd watch` from the command line: signals routed to the lifecycle's flags."""
    watch = Watch(config, journal)
    watch.lifecycle.install(reload=True, drain=True)
    if os.environ.get("NOTIFY_SOCKET") is None:
        log.info("watching %d root(s); Ctrl-C to stop", len(config.watch))
    return watch.run()
