"""Prometheus metrics for `syncd watch`, served on `[daemon] metrics_listen` (off by default).

The pipeline reports what happens (`file_uploaded`, `file_failed`, `retried`,
`observer_state`); what the journal holds (files per state, the oldest ready file) is read
at scrape time from a callable the caller passes, so the numbers are never staler than the
scrape and the pipeline does no bookkeeping for them.

Each `Metrics` has its own CollectorRegistry rather than prometheus-client's global one, so
two daemons in one test process (or a reload that builds a new one) never clash over names.

| metric                                  | type    | labels         |
|-----------------------------------------|---------|----------------|
| syncd_files                             | gauge   | state          |
| syncd_oldest_ready_age_seconds          | gauge   |                |
| syncd_uploaded_files_total              | counter |                |
| syncd_uploaded_bytes_total              | counter |                |
| syncd_failures_total                    | counter | code           |
| syncd_retries_total                     | counter |                |
| syncd_last_upload_timestamp_seconds     | gauge   |                |
| syncd_observer_state                    | enum    | root, state    |
| syncd_info                              | info    | version        |
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector

from syncd import __version__
from syncd.config import ListenAddress
from syncd.model import ItemState, ObserverState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What the journal says at scrape time."""

    files_by_state: Mapping[str, int] = field(default_factory=dict)  # ItemState keys welcome
    # time.time() at which the longest-waiting ready file became ready; None: none is ready.
    oldest_ready_since: float | None = None


class MetricsUnavailable(Exception):
    """The metrics endpoint could not be opened (address in use, not local, no permission)."""


class Metrics:
    """The daemon's metrics. Thread-safe: workers, the observer and the scrape may all call
    at once (prometheus-client's metrics lock themselves)."""

    def __init__(
        self,
        queue: Callable[[], QueueSnapshot] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`queue` is called on every scrape, in the HTTP server's thread; it must be safe
        to call from there. `clock` gives wall-clock seconds (tests pass their own)."""
        self.registry = CollectorRegistry()
        self._clock = clock
        r = self.registry
        self._uploaded_files = Counter(
            "syncd_uploaded_files", "Files uploaded by this process", registry=r
        )
        self._uploaded_bytes = Counter(
            "syncd_uploaded_bytes", "Bytes of files uploaded by this process", registry=r
        )
        self._failures = Counter(
            "syncd_failures", "Uploads that failed, by error code", ["code"], registry=r
        )
        self._retries = Counter(
            "syncd_retries", "Upload attempts retried after a transient error", registry=r
        )
        self._last_upload = Gauge(
            "syncd_last_upload_timestamp_seconds",
            "Unix time of the last successful upload by this process (0: none yet)",
            registry=r,
        )
        self._observers = Enum(
            "syncd_observer_state",
            "How each watched root is observed",
            ["root"],
            states=[s.value for s in ObserverState],
            registry=r,
        )
        Info("syncd", "The syncd that serves these metrics", registry=r).info(
            {"version": __version__}
        )
        if queue is not None:
            r.register(_QueueCollector(queue, clock))

    # --- what the pipeline calls --------------------------------------------------------

    def file_uploaded(self, nbytes: int) -> None:
        """A file landed on the site (its bytes are all sent and acknowledged)."""
        self._uploaded_files.inc()
        self._uploaded_bytes.inc(nbytes)
        self._last_upload.set(self._clock())

    def file_failed(self, code: str) -> None:
        """A file failed for good (state `failed`), with the API or local error code."""
        self._failures.labels(code=code).inc()

    def retried(self) -> None:
        """An attempt failed transiently and will be tried again."""
        self._retries.inc()

    def observer_state(self, root: str | os.PathLike[str], state: ObserverState) -> None:
        self._observers.labels(root=os.fspath(root)).state(ObserverState(state).value)

    def forget_root(self, root: str | os.PathLike[str]) -> None:
        """A root left the config (SIGHUP): its observer series disappear."""
        with contextlib.suppress(KeyError):  # older prometheus-client: never reported
            self._observers.remove(os.fspath(root))

    # --- reading and serving ------------------------------------------------------------

    def exposition(self) -> str:
        """The text a scrape returns (also handy for logs and tests)."""
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, listen: ListenAddress) -> MetricsServer:
        """Serve http://HOST:PORT/metrics in a daemon thread until `close()`."""
        try:
            family = socket.getaddrinfo(listen.host, listen.port, type=socket.SOCK_STREAM)[0][0]
            server_class = _IPv6Server if family == socket.AF_INET6 else _IPv4Server
            server = make_server(
                listen.host,
                listen.port,
                make_wsgi_app(self.registry),
                server_class,
                handler_class=_QuietHandler,
            )
        except OSError as exc:  # socket.gaierror is an OSError too
            raise MetricsUnavailable(
                f"cannot serve metrics on {listen}: {exc.strerror or exc}"
            ) from None
        # prometheus-client's start_http_server looks for a shutdown every 0.5 s, which a
        # daemon's stop (and every test's) would wait out; this server looks more often.
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_LOOK_SECONDS},
            name="metrics",
            daemon=True,
        )
        thread.start()
        bound = ListenAddress(listen.host, server.server_address[1])
        log.info("metrics at http://%s/metrics", bound)
        return MetricsServer(bound, server, thread)


# How often the metrics server's loop looks for close(): what a stop waits at most for it.
SHUTDOWN_LOOK_SECONDS = 0.05


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not news: nothing on stderr per request."""


class _IPv4Server(ThreadingWSGIServer):
    address_family = socket.AF_INET


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """A running metrics endpoint; `close()` (or leaving a `with` block) frees the port."""

    def __init__(
        self, address: ListenAddress, server: WSGIServer, thread: threading.Thread
    ) -> None:
        self.address = address  # with the real port when port 0 was asked for
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()  # frees the port now, not at garbage collection
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _QueueCollector(Collector):
    """Files per state and the oldest ready file's age, from one snapshot per scrape."""

    def __init__(self, queue: Callable[[], QueueSnapshot], clock: Callable[[], float]) -> None:
        self._queue = queue
        self._clock = clock
        self._failing = False

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not read the journal.
        yield GaugeMetricFamily("syncd_files", "Files in the journal per state", labels=["state"])
        yield GaugeMetricFamily("syncd_oldest_ready_age_seconds", _AGE_HELP)

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = self._queue()
        except Exception as exc:
            # A scrape must not break the daemon, nor the rest of the scrape: the two
            # series are missing from this answer, which alerting can see.
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "metrics: cannot read the journal: %s", exc)
            self._failing = True
            return
        self._failing = False
        files = GaugeMetricFamily("syncd_files", "Files in the journal per state", labels=["state"])
        counts = {str(state): 0 for state in ItemState}
        counts.update({str(state): n for state, n in snapshot.files_by_state.items()})
        for state, n in sorted(counts.items()):
            files.add_metric([state], n)
        yield files
        since = snapshot.oldest_ready_since
        age = 0.0 if since is None else max(0.0, self._clock() - since)
        yield GaugeMetricFamily("syncd_oldest_ready_age_seconds", _AGE_HELP, value=age)


_AGE_HELP = "Seconds the longest-waiting ready file has waited to be uploaded (0: none)"
