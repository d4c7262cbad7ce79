"""`syncd watch` in this process, with observers a test controls: the periodic rescan finds
what no event announced, and a dead observer is restarted with back-off."""

from __future__ import annotations

import errno
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, make_tree, wait_for
from watch_helpers import WAIT, watch_config
from watchdog.events import FileSystemEventHandler
from watchdog.observers.api import BaseObserver, EventEmitter, ObservedWatch

from syncd.clock import FakeClock
from syncd.config import ObserverMode, load_config
from syncd.journal import Journal
from syncd.local.watch import ObserverFactory, Observers, make_observer
from syncd.model import ObserverState
from syncd.pipeline import pool as pool_module
from syncd.pipeline.context import RunContext
from syncd.pipeline.pool import CREDENTIALS_RETRY_SECONDS
from syncd.pipeline.tasks import WorkerTools
from syncd.sandbox import Sandbox
from syncd.watch import Watch


class DeafObserver(BaseObserver):
    """An observer that runs and watches nothing: inotify after its queue overflowed (the
    kernel drops events without a word), or a network file system that sends none."""

    def __init__(self) -> None:
        super().__init__(EventEmitter)

    def schedule(  # type: ignore[override]
        self, event_handler: FileSystemEventHandler, path: str, *, recursive: bool = False
    ) -> ObservedWatch:
        return ObservedWatch(path, recursive=recursive)  # no emitter: no event, ever


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in list(caplog.records)]


@contextmanager
def running(watch: Watch) -> Iterator[None]:
    """`watch.run()` in a thread, drained and joined at the end."""
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        watch.lifecycle.request_drain()
        thread.join(timeout=WAIT)
    assert not thread.is_alive()


def test_the_periodic_rescan_lands_a_file_no_event_announced(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch_config(sandbox_config, archive, extra="rescan_interval = 0.5\n")
    config = load_config(sandbox_config)
    assert config.daemon.rescan_interval == 0.5
    deaf: list[DeafObserver] = []

    def deaf_factory(mode: ObserverMode, poll_interval: float) -> BaseObserver:
        deaf.append(DeafObserver())
        return deaf[-1]

    caplog.set_level(logging.INFO)
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal, observer_factory=deaf_factory)
        with running(watch):
            # The start-up scan is over (it would find the file too): only a rescan can.
            wait_for("the daemon ready", lambda: watch._ready_said, WAIT)
            rescans_before = _messages(caplog).count("periodic rescan of 1 root(s)")
            files = make_tree(archive / "sub", 2, size=1500)
            wait_for("2 items", lambda: len(sandbox.items()) == 2, WAIT)
            assert_once_each(sandbox, files)
            assert _messages(caplog).count("periodic rescan of 1 root(s)") > rescans_before
            assert len(deaf) == 1 and deaf[0].is_alive()  # watched (deafly) all along
            assert watch.feed.queued_events() == 0


@pytest.mark.slow(seconds=4)
def test_a_dead_observer_is_restarted_with_back_off_and_files_land_after(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The inotify observer's thread ends; the next start fails (the kernel refuses for a
    while); the supervisor tries again after 1 s, and then watches. (The whole back-off
    schedule is shown on a FakeClock below.)"""
    watch_config(sandbox_config, archive, observer="inotify")
    config = load_config(sandbox_config)
    made: list[BaseObserver] = []
    refusals = 0

    def flaky_kernel(mode: ObserverMode, poll_interval: float) -> BaseObserver:
        nonlocal refusals
        if made and refusals < 1:  # only a restart is refused
            refusals += 1
            raise OSError(errno.EIO, "inotify refused")
        made.append(make_observer(mode, poll_interval))
        return made[-1]

    factory: ObserverFactory = flaky_kernel
    caplog.set_level(logging.INFO)
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal, observer_factory=factory)
        with running(watch):
            wait_for("the daemon ready", lambda: watch._ready_said, WAIT)
            assert watch.observer_states[str(archive)] is ObserverState.INOTIFY
            first = make_tree(archive, 1, size=1500, prefix="before")
            wait_for("1 item", lambda: len(sandbox.items()) == 1, WAIT)

            made[0].stop()  # the observer's thread ends
            made[0].join(timeout=WAIT)
            wait_for("a second observer", lambda: len(made) == 2, WAIT)
            wait_for(
                "the root watched again",
                lambda: watch.observer_states[str(archive)] is ObserverState.INOTIFY,
                WAIT,
            )
            said = _messages(caplog)
            retries = [m for m in said if m.startswith(f"cannot watch {archive}: ")]
            assert [m.rsplit("trying again in ", 1)[-1] for m in retries] == ["1 s"]
            assert f"watch root {archive}: restarting" in said

            later = make_tree(archive / "later", 2, size=1500, prefix="after")
            wait_for("3 items", lambda: len(sandbox.items()) == 3, WAIT)
            assert_once_each(sandbox, [*first, *later])
            assert made[1].is_alive()


def test_observer_restarts_back_off_1_2_4_up_to_60_s_and_start_over_after_a_success(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The supervisor's schedule on a FakeClock: each refused start doubles the wait (1, 2,
    4 ... 60 s, then 60 s), nothing is tried before its time, and a success starts over."""
    clock = FakeClock()
    refuse = True
    made: list[BaseObserver] = []

    def kernel(mode: ObserverMode, poll_interval: float) -> BaseObserver:
        if refuse:
            raise OSError(errno.EIO, "inotify refused")
        made.append(make_observer(mode, poll_interval))
        return made[-1]

    observers = Observers(
        clock, poll_interval=0.5, debounce=0.05, wake=lambda: None, factory=kernel
    )
    observers.set_roots([(str(tmp_path), ObserverMode.INOTIFY)])
    caplog.set_level(logging.ERROR)
    waits: list[float] = []
    try:
        for _ in range(9):
            assert observers.supervise() == []
            due = observers.next_check()
            assert due is not None
            waits.append(due - clock.time())
            clock.sleep(due - clock.time() - 0.001)
            assert observers.supervise() == []  # not before its time: no new attempt
            clock.sleep(0.001)
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
        assert len(caplog.records) == 9  # one error per refused start, not per look
        refuse = False
        assert observers.supervise() == [str(tmp_path)]
        assert observers.states() == {str(tmp_path): ObserverState.INOTIFY}
        made[0].stop()
        made[0].join(timeout=WAIT)
        refuse = True
        observers.supervise()  # found dead, restart refused: the schedule starts over
        due = observers.next_check()
        assert due is not None and due - clock.time() == 1
    finally:
        observers.stop_all()


def test_a_reload_that_lands_while_a_worker_makes_its_client_is_not_missed(
    sandbox: Sandbox,
    sandbox_config: Path,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused credentials pause the workers and respawn the one that met them. The
    operator's fix (SIGHUP) can land while that worker is still making its client from the
    refused secret: it must make it again, not upload with the old secret and pause for
    another CREDENTIALS_RETRY_SECONDS. (Found under load: the worker read the reload's
    generation after making its tools, and took them for new.)"""
    watch_config(sandbox_config, archive, extra="\n[upload]\nconcurrency = 1\n")
    good = sandbox_config.read_text()
    bad = re.sub(r'access_token_secret = "[^"]*"', 'access_token_secret = "not-the-secret"', good)
    sandbox_config.write_text(bad)
    config = load_config(sandbox_config)
    made: list[WorkerTools] = []
    watches: list[Watch] = []

    class ToolsRacingAReload(WorkerTools):
        def __init__(self, ctx: RunContext) -> None:
            super().__init__(ctx)  # from the config as it is now
            made.append(self)
            if len(made) == 2:  # respawned after the refusal: made from the refused secret
                pool = watches[0].pool
                before = pool._tools_generation
                sandbox_config.write_text(good)
                watches[0].lifecycle.on_reload()  # what SIGHUP does; the main loop reloads
                wait_for("the reload", lambda: pool._tools_generation > before, WAIT)

    monkeypatch.setattr(pool_module, "WorkerTools", ToolsRacingAReload)
    caplog.set_level(logging.ERROR, logger="syncd.pipeline.pool")
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal)
        watches.append(watch)
        with running(watch):
            files = make_tree(archive, 1, size=1500)
            wait_for("the pause", lambda: watch.pool.paused() or len(made) > 1, WAIT)
            wait_for("the item", lambda: len(sandbox.items()) == 1, WAIT)
            assert_once_each(sandbox, files)
            assert len(made) == 3  # the worker made its tools again after the reload
    # Refused once, before the fix; never again (a stale client is refused and pauses the
    # workers for another CREDENTIALS_RETRY_SECONDS).
    paused = [m for m in _messages(caplog) if m.startswith("uploading paused for ")]
    assert paused == [paused[0]] and f"for {CREDENTIALS_RETRY_SECONDS:.0f} s" in paused[0]
