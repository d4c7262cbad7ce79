"""Prometheus metrics scraped from the real HTTP endpoint on loopback, parsed with
prometheus-client's own text parser."""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from syncd.config import ListenAddress
from syncd.model import ItemState
from syncd.service.metrics import (
    Metrics,
    MetricsServer,
    MetricsUnavailable,
    ObserverState,
    QueueSnapshot,
)

LOOPBACK = ListenAddress("127.0.0.1", 0)
SCRAPE_TIMEOUT = 30.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics: {(sample name, sorted labels): value}."""
    with urllib.request.urlopen(server.url, timeout=SCRAPE_TIMEOUT) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def served(clock: FakeClock) -> Iterator[tuple[Metrics, MetricsServer, list[QueueSnapshot]]]:
    """Metrics whose queue callable returns the last snapshot in the list, served on
    127.0.0.1 and a free port."""
    snapshots = [QueueSnapshot()]
    metrics = Metrics(lambda: snapshots[-1], clock=clock)
    with metrics.serve(LOOPBACK) as server:
        yield metrics, server, snapshots


def test_uploads_failures_and_retries_are_counted(
    served: tuple[Metrics, MetricsServer, list[QueueSnapshot]], clock: FakeClock
) -> None:
    metrics, server, _ = served
    before = scrape(server)
    assert before[("syncd_uploaded_files_total", ())] == 0
    assert before[("syncd_last_upload_timestamp_seconds", ())] == 0
    metrics.file_uploaded(1000)
    clock.now += 60
    metrics.file_uploaded(24)
    metrics.file_failed("invalid_signature")
    metrics.file_failed("file_too_large")
    metrics.file_failed("file_too_large")
    metrics.retried()
    after = scrape(server)
    assert after[("syncd_uploaded_files_total", ())] == 2
    assert after[("syncd_uploaded_bytes_total", ())] == 1024
    assert after[("syncd_last_upload_timestamp_seconds", ())] == clock.now
    assert after[("syncd_failures_total", (("code", "invalid_signature"),))] == 1
    assert after[("syncd_failures_total", (("code", "file_too_large"),))] == 2
    assert after[("syncd_retries_total", ())] == 1
    assert ("syncd_info", (("version", __import__("syncd").__version__),)) in after


def test_files_per_state_and_queue_age_come_from_the_callable(
    served: tuple[Metrics, MetricsServer, list[QueueSnapshot]], clock: FakeClock
) -> None:
    _, server, snapshots = served
    empty = scrape(server)
    for state in ItemState:  # every state present, zero when none
        assert empty[("syncd_files", (("state", state.value),))] == 0
    assert empty[("syncd_oldest_ready_age_seconds", ())] == 0
    snapshots.append(
        QueueSnapshot(
            files_by_state={ItemState.READY: 7, ItemState.SYNCED: 1200, "uploading": 2},
            oldest_ready_since=clock.now - 95.5,
        )
    )
    now = scrape(server)
    assert now[("syncd_files", (("state", "ready"),))] == 7
    assert now[("syncd_files", (("state", "synced"),))] == 1200
    assert now[("syncd_files", (("state", "uploading"),))] == 2
    assert now[("syncd_files", (("state", "failed"),))] == 0
    assert now[("syncd_oldest_ready_age_seconds", ())] == 95.5
    clock.now += 10  # read at scrape time, not when the snapshot was made
    assert scrape(server)[("syncd_oldest_ready_age_seconds", ())] == 105.5


def test_observer_state_per_root_and_a_removed_root(
    served: tuple[Metrics, MetricsServer, list[QueueSnapshot]],
) -> None:
    metrics, server, _ = served
    metrics.observer_state("/srv/archive", ObserverState.INOTIFY)
    metrics.observer_state("/mnt/nfs", ObserverState.POLLING)
    metrics.observer_state("/srv/archive", ObserverState.RESTARTING)
    samples = scrape(server)

    def state_of(root: str) -> set[str]:
        return {
            dict(labels)["syncd_observer_state"]
            for (name, labels), value in samples.items()
            if name == "syncd_observer_state" and dict(labels)["root"] == root and value == 1
        }

    assert state_of("/srv/archive") == {"restarting"}
    assert state_of("/mnt/nfs") == {"polling"}
    metrics.forget_root("/mnt/nfs")
    metrics.forget_root("/never/watched")
    samples = scrape(server)
    assert state_of("/mnt/nfs") == set() and state_of("/srv/archive") == {"restarting"}
    with pytest.raises(ValueError):
        metrics.observer_state("/srv/archive", "asleep")  # type: ignore[arg-type]


def test_a_failing_journal_read_leaves_the_rest_of_the_scrape(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken() -> QueueSnapshot:
        calls.append(threading.current_thread().name)
        raise RuntimeError("database is locked")

    metrics = Metrics(broken, clock=clock)
    assert calls == [], "registering reads nothing; only a scrape does"
    metrics.file_uploaded(5)
    with metrics.serve(LOOPBACK) as server:
        first = scrape(server)
        scrape(server)
    assert first[("syncd_uploaded_files_total", ())] == 1
    assert not [key for key in first if key[0] == "syncd_files"]
    assert len(calls) == 2 and threading.current_thread().name not in calls
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "database is locked" in warnings[0].getMessage()


def test_instances_have_their_own_registries() -> None:
    first, second = Metrics(), Metrics()
    first.file_uploaded(1)
    with first.serve(LOOPBACK) as one, second.serve(LOOPBACK) as two:
        assert one.address.port != two.address.port
        assert scrape(one)[("syncd_uploaded_files_total", ())] == 1
        assert scrape(two)[("syncd_uploaded_files_total", ())] == 0
    assert REGISTRY.get_sample_value("syncd_uploaded_files_total") is None


def test_a_busy_port_is_a_clear_error_and_close_frees_the_port() -> None:
    metrics = Metrics()
    with metrics.serve(LOOPBACK) as server:
        port = server.address.port
        assert server.url == f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(MetricsUnavailable, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Metrics().serve(ListenAddress("127.0.0.1", port))
        scrape(server)
    again = metrics.serve(ListenAddress("127.0.0.1", port))  # the port is free again
    try:
        assert scrape(again)[("syncd_retries_total", ())] == 0
    finally:
        again.close()


def test_an_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(MetricsUnavailable) as caught:
        Metrics().serve(ListenAddress("no-such-host.invalid", 0))
    assert str(caught.value).startswith("cannot serve metrics on no-such-host.invalid:0: ")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_address_is_served() -> None:
    with Metrics().serve(ListenAddress("::1", 0)) as server:
        assert server.url.startswith("http://[::1]:")
        assert ("syncd_retries_total", ()) in scrape(server)
