"""Leases, retry patience and the throttle on a FakeClock: virtual minutes in a moment.

- Throttle: `consume` waits exactly the virtual time the rate asks for, shared by every
  thread, and gives up at once (Interrupted) when the run stops.
- Retry engine: a Retry-After is capped (15 min, logged), and waits end on the stop flag.
- Burst: a push waits for parked work due within PUSH_RETRY_PATIENCE, not longer.
- Leases: the pool renews the lease of work in flight every LEASE_RENEW_EVERY, so a claim
  outlives LEASE_SECONDS on a long transfer; a claim whose owner died is recovered while
  the run goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_helpers import dead_owner, journal_path, make_tree

from syncd.clock import FakeClock, SystemClock
from syncd.config import load_config
from syncd.errors import Interrupted
from syncd.journal import Journal
from syncd.model import FileRow, ItemState, LocalFile, UploadMode
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.feeds import ScanFeed
from syncd.pipeline.lifecycle import Lifecycle
from syncd.pipeline.pool import LEASE_RENEW_EVERY, LEASE_SECONDS, OnWorkerFailure, WorkerPool
from syncd.pipeline.stop import PUSH_RETRY_PATIENCE, Burst
from syncd.progress import NullProgress
from syncd.push import Push, PushOptions
from syncd.retry import MAX_RETRY_AFTER_SECONDS, RateGate, Retrier, RetryPolicy
from syncd.sandbox import Sandbox
from syncd.throttle import BURST_SECONDS, Throttle

SHA = "cd" * 32
START = 1_800_000_000.0


# --- throttle ----------------------------------------------------------------------------


def test_throttle_waits_the_virtual_time_the_rate_asks_for() -> None:
    clock, stop = FakeClock(start=START), threading.Event()
    throttle = Throttle(1000, clock, stop)

    throttle.consume(5000)
    assert clock.time() - START == pytest.approx(5.0)
    for _ in range(10):
        throttle.consume(1000)
    assert clock.time() - START == pytest.approx(15.0)  # 15,000 bytes at 1000 B/s


def test_throttle_is_shared_by_every_thread() -> None:
    clock, stop = FakeClock(start=START), threading.Event()
    throttle = Throttle(1000, clock, stop)

    def worker() -> None:
        for _ in range(10):
            throttle.consume(1000)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # 40,000 bytes at 1000 B/s over all of them: 40 s, less at most one bucket's burst.
    assert clock.time() - START >= 40.0 - BURST_SECONDS


def test_a_limited_transfer_reads_about_a_quarter_second_at_a_time() -> None:
    stop = threading.Event()
    assert Throttle(None, FakeClock(), stop).block_size(1 << 20) == 1 << 20
    assert Throttle(128 * 1024, FakeClock(), stop).block_size(1 << 20) == 32 * 1024
    assert Throttle(1024, FakeClock(), stop).block_size(1 << 20) == 16 * 1024  # the floor
    assert Throttle(100 << 20, FakeClock(), stop).block_size(1 << 20) == 1 << 20  # the cap


def test_an_unlimited_throttle_never_waits() -> None:
    clock = FakeClock(start=START)
    Throttle(None, clock, threading.Event()).consume(10**9)
    assert clock.time() == START


def test_a_stopped_run_gets_interrupted_not_a_wait() -> None:
    clock, stop = FakeClock(start=START), threading.Event()
    throttle = Throttle(32 * 1024, clock, stop)
    stop.set()
    with pytest.raises(Interrupted):
        throttle.consume(1 << 20)  # a 32 s debt
    assert clock.time() == START  # not a virtual moment waited


def test_a_stop_cuts_a_real_throttle_wait_short() -> None:
    stop = threading.Event()
    throttle = Throttle(1, SystemClock(), stop)  # one byte a second
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            throttle.consume(3600)  # an hour's debt
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    stop.set()
    sender.join(timeout=20)  # an hour, had the stop been ignored
    assert not sender.is_alive()
    assert [type(e) for e in outcome] == [Interrupted]


# --- the retry engine ----------------------------------------------------------------------


def test_retry_after_is_capped_and_the_cap_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock, stop = FakeClock(start=START), threading.Event()
    gate = RateGate(clock, stop, RetryPolicy())
    with caplog.at_level(logging.WARNING, logger="syncd.retry"):
        gate.hold(10**9, "a site asking for thirty years")
    gate.wait()
    assert clock.time() - START == pytest.approx(MAX_RETRY_AFTER_SECONDS)
    assert MAX_RETRY_AFTER_SECONDS == 15 * 60
    assert "waiting 900 s instead" in caplog.text


def test_a_retry_after_wait_ends_when_the_run_stops() -> None:
    clock, stop = FakeClock(start=START), threading.Event()
    retrier = Retrier(RetryPolicy(), clock, stop)
    retrier.gate.hold(150, "429")
    stop.set()
    calls: list[int] = []
    with pytest.raises(Interrupted):
        retrier(lambda: calls.append(1), what="clip")
    assert calls == [] and clock.time() == START


# --- the burst's patience ------------------------------------------------------------------


class SettledFeed:
    def start(self) -> None:
        pass

    def step(self) -> float | None:
        return None

    def settled(self) -> bool:
        return True

    def poke(self) -> None:
        pass


@pytest.fixture
def context(sandbox_config: Path) -> Iterator[tuple[RunContext, FakeClock]]:
    """A run's context on a FakeClock over the test's journal (nothing started)."""
    clock = FakeClock(start=START)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path, clock=clock) as journal:
        ctx = RunContext(
            config,
            journal,
            clock=clock,
            progress=NullProgress(),
            policy=RetryPolicy(),
            lifecycle=Lifecycle(),
            options=RunOptions(),
        )
        yield ctx, clock


def add_ready(journal: Journal, path: str) -> None:
    journal.observe_batch([LocalFile(path, 10, 1000, 7)], os.path.dirname(path))
    assert journal.mark_ready(path, SHA, expect_size=10, expect_mtime_ns=1000)


def idle_pool(ctx: RunContext) -> WorkerPool:
    return WorkerPool(
        ctx, Announcer(NullProgress(), ctx.clock), roots=None, on_failure=OnWorkerFailure.STOP_RUN
    )


def test_a_push_waits_for_parked_work_due_within_its_patience_only(
    context: tuple[RunContext, FakeClock],
) -> None:
    ctx, clock = context
    journal = ctx.journal
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("other:1:1", 60) is not None
    parked_for = PUSH_RETRY_PATIENCE + 60
    assert journal.transition(
        "/r/a.mp4", ItemState.UPLOADING, ItemState.RETRY, next_attempt_at=START + parked_for
    )
    burst, pool, feed = Burst(journal, None), idle_pool(ctx), SettledFeed()

    assert burst.done(pool, feed, clock.time())  # due beyond the patience: reported
    clock.advance(60 - 1)
    assert burst.done(pool, feed, clock.time())  # a second beyond still
    clock.advance(1)
    assert not burst.done(pool, feed, clock.time())  # within: waited for


def test_deferred_metadata_is_waited_for_within_the_patience_only(
    context: tuple[RunContext, FakeClock],
) -> None:
    ctx, clock = context
    journal = ctx.journal
    add_ready(journal, "/r/a.mp4")
    row = journal.claim(ctx.owner, 60)
    assert row is not None
    assert journal.transition(
        row.path, ItemState.UPLOADING, ItemState.UPLOADED, owner=ctx.owner, photo_id="1"
    )
    behind = journal.claim_metadata(ctx.owner, 60)
    assert behind is not None
    delay = PUSH_RETRY_PATIENCE + 30
    assert journal.defer_metadata(
        behind, ctx.owner, delay=delay, code="ServerError", message="502", parks=1
    )
    burst, pool, feed = Burst(journal, None), idle_pool(ctx), SettledFeed()

    assert burst.done(pool, feed, clock.time())
    clock.advance(30)
    assert not burst.done(pool, feed, clock.time())


class CountingFeed(SettledFeed):
    """A settled feed that counts how often the stop rule asked it."""

    def __init__(self) -> None:
        self.asked = 0

    def settled(self) -> bool:
        self.asked += 1
        return True


def test_a_burst_is_not_over_while_work_is_in_flight_and_asks_nothing(
    context: tuple[RunContext, FakeClock],
) -> None:
    """The loop wakes once per file finished: while other files are in flight, the stop
    rule says "not over" without a look at the journal (the feed's look included)."""
    ctx, clock = context
    burst, pool, feed = Burst(ctx.journal, None), idle_pool(ctx), CountingFeed()
    pool._inflight.add("/r/a.mp4")
    assert not burst.done(pool, feed, clock.time())
    assert feed.asked == 0
    pool._inflight.discard("/r/a.mp4")
    assert burst.done(pool, feed, clock.time())
    assert feed.asked == 1


def test_a_burst_is_not_over_while_a_file_sent_back_to_the_scan_is_not_passed_on(
    context: tuple[RunContext, FakeClock],
) -> None:
    """A worker sends a changed file back to the scan (`pending`), says so, and leaves the
    in-flight set: until the loop has poked the feed with it, the run is not over, even
    when the feed's look at the journal came before the file was sent back."""
    ctx, clock = context
    burst, pool, feed = Burst(ctx.journal, None), idle_pool(ctx), SettledFeed()
    pool.requeued.set()
    assert not burst.done(pool, feed, clock.time())
    pool.requeued.clear()
    assert burst.done(pool, feed, clock.time())


def test_pending_rows_another_scan_recorded_are_looked_at_once_the_burst_asks(
    context: tuple[RunContext, FakeClock], tmp_path: Path
) -> None:
    """The scan feed does not ask the journal about pending rows on every wake-up once it
    found none; rows another process recorded meanwhile keep the burst going (settled()
    always asks) and are scanned at the next step."""
    ctx, clock = context
    root = tmp_path / "tree"
    root.mkdir()
    feed = ScanFeed(ctx, [root], Announcer(NullProgress(), clock), on_ready=lambda: None)
    feed.start()
    assert feed.step() is None  # nothing pending: nothing to wait for
    [clip] = make_tree(root, 1)
    st = clip.stat()
    ctx.journal.observe_batch(
        [LocalFile(str(clip), st.st_size, st.st_mtime_ns, st.st_ino)], str(root)
    )
    assert feed.step() is None  # not asked again on this wake-up
    assert not feed.settled()
    feed.step()  # scanned now: stable (by the clock), hashed, ready for a worker
    row = ctx.journal.get(str(clip))
    assert row is not None and row.state is ItemState.READY
    assert feed.settled()


# --- leases --------------------------------------------------------------------------------


class LeaseWatcher(NullProgress):
    """Reads the row's lease each time a block of it is sent (on the worker's thread)."""

    def __init__(self, journal: Journal, clock: FakeClock) -> None:
        self.journal = journal
        self.clock = clock
        self.seen: list[tuple[float, float | None, str | None]] = []  # now, lease_until, owner
        self.on_block: list[object] = []

    def file_bytes(self, path: str, nbytes: int) -> None:
        if nbytes <= 0:
            return
        row = self.journal.get(path)
        assert row is not None
        self.seen.append((self.clock.time(), row.lease_until, row.lease_owner))
        for hook in self.on_block:
            hook()  # type: ignore[operator]


def test_a_claim_outlives_its_lease_on_a_long_transfer(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    size, chunk = 1 << 20, 64 * 1024
    [clip] = make_tree(root, 1, size=size)
    transfer = 2.5 * LEASE_SECONDS  # virtual seconds the throttle makes the upload last
    clock = FakeClock(start=time.time())
    config = load_config(sandbox_config)
    with Journal.open(journal_path(sandbox_config), clock=clock) as journal:
        watcher = LeaseWatcher(journal, clock)
        report = Push(config, journal, clock=clock, progress=watcher).run(
            PushOptions(
                roots=[root],
                no_wait=True,
                mode=UploadMode.CHUNKED,
                chunk_size=chunk,
                bwlimit=int(size / transfer),
                concurrency=1,
            )
        )
        events = [e.detail for e in journal.events(str(clip))]

    assert report.all_landed, report
    assert len(sandbox.items()) == 1
    first, last = watcher.seen[0][0], watcher.seen[-1][0]
    assert last - first > LEASE_SECONDS  # longer than one lease
    # At every block the lease was ours and still running; it was renewed on the way.
    for now, lease_until, owner in watcher.seen:
        assert owner is not None and lease_until is not None and lease_until > now
    assert max(until for _, until, _ in watcher.seen if until) > first + LEASE_SECONDS
    assert not [e for e in events if "recovered" in e]


def test_a_claim_whose_owner_died_is_recovered_while_the_run_goes_on(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    size = 512 * 1024
    make_tree(root, 1, size=size)
    orphan = str(tmp_path / "elsewhere" / "orphan.mp4")  # outside the push's roots
    gone = dead_owner()
    clock = FakeClock(start=time.time())
    config = load_config(sandbox_config)
    with Journal.open(journal_path(sandbox_config), clock=clock) as journal:
        watcher = LeaseWatcher(journal, clock)
        claimed: list[FileRow] = []

        def claim_for_a_dead_process() -> None:
            if not claimed:  # once the run is going: the start-up recovery is behind us
                add_ready(journal, orphan)
                row = journal.claim(gone, LEASE_SECONDS, roots=[str(tmp_path / "elsewhere")])
                assert row is not None
                claimed.append(row)

        watcher.on_block.append(claim_for_a_dead_process)
        report = Push(config, journal, clock=clock, progress=watcher).run(
            PushOptions(
                roots=[root],
                no_wait=True,
                mode=UploadMode.CHUNKED,
                chunk_size=64 * 1024,
                bwlimit=int(size / (3 * LEASE_RENEW_EVERY)),
                concurrency=1,
            )
        )
        orphan_row = journal.get(orphan)
        recovered = [e for e in journal.events(orphan) if "recovered" in e.detail]

    assert report.all_landed and claimed
    assert orphan_row is not None and orphan_row.state is ItemState.RETRY
    assert orphan_row.lease_owner is None
    [event] = recovered
    assert f"recovered from {gone} (owner gone)" == event.detail
    assert watcher.seen[0][0] < event.at < watcher.seen[-1][0]  # during the upload
