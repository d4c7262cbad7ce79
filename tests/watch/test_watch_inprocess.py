"""`syncd watch` in this process, where a test can stand in for the kernel: inotify's limits
hit, and what the daemon says about it."""

from __future__ import annotations

import errno
import logging
import threading
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, make_tree, wait_for
from watch_helpers import WAIT, watch_config

from syncd.config import ObserverMode, load_config
from syncd.journal import Journal
from syncd.local.watch import make_observer
from syncd.model import ObserverState
from syncd.sandbox import Sandbox
from syncd.watch import Watch


@pytest.mark.parametrize(
    ("code", "sysctl"),
    [
        (errno.ENOSPC, "fs.inotify.max_user_watches"),
        (errno.EMFILE, "fs.inotify.max_user_instances"),
    ],
)
def test_inotify_limit_names_the_sysctl_and_the_root_is_polled(
    sandbox: Sandbox,
    sandbox_config: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    code: int,
    sysctl: str,
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    watch_config(sandbox_config, archive)
    config = load_config(sandbox_config)
    tried: list[ObserverMode] = []

    def kernel_at_its_limit(mode: ObserverMode, poll_interval: float):  # type: ignore[no-untyped-def]
        tried.append(mode)
        if mode is not ObserverMode.POLLING:
            raise OSError(code, "inotify limit reached")
        return make_observer(mode, poll_interval)

    caplog.set_level(logging.INFO)
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal, observer_factory=kernel_at_its_limit)
        thread = threading.Thread(target=watch.run, daemon=True)
        thread.start()
        try:
            wait_for("the root watched", lambda: watch.observer_states, WAIT)
            files = make_tree(archive, 3, size=1200)
            wait_for("3 items", lambda: len(sandbox.items()) == 3, WAIT)
            assert_once_each(sandbox, files)
            assert watch.observer_states[str(archive)] is ObserverState.POLLING
            assert tried[:2] == [ObserverMode.AUTO, ObserverMode.POLLING]
            said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert any(sysctl in m and "polling" in m for m in said), said
        finally:
            watch.lifecycle.request_drain()
            thread.join(timeout=WAIT)
        assert not thread.is_alive()


def test_a_worker_that_dies_is_restarted_and_the_daemon_goes_on(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An error no file's handling catches (here announcing a claimed file to the display,
    which happens outside the file's own handling) ends a worker; in a daemon the worker is
    restarted, the file it held is given back, and every file lands once."""
    archive = tmp_path / "archive"
    archive.mkdir()
    watch_config(sandbox_config, archive, extra="\n[upload]\nconcurrency = 1\n")
    config = load_config(sandbox_config)
    caplog.set_level(logging.INFO)
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal)
        real = watch.pool.announcer.claimed
        broken = threading.Event()

        def breaks_once(path: str, size: int) -> None:
            if not broken.is_set():
                broken.set()
                raise RuntimeError("the display broke")
            real(path, size)

        watch.pool.announcer.claimed = breaks_once  # type: ignore[method-assign]
        monkey_restart = pytest.MonkeyPatch()
        monkey_restart.setattr("syncd.pipeline.pool.WORKER_RESTART_SECONDS", 0.1)
        thread = threading.Thread(target=watch.run, daemon=True)
        thread.start()
        try:
            wait_for("the root watched", lambda: watch.observer_states, WAIT)
            files = make_tree(archive, 3, size=1200)
            wait_for("3 items", lambda: len(sandbox.items()) == 3, WAIT)
            assert_once_each(sandbox, files)
            assert broken.is_set()
            assert any("restarting it" in r.getMessage() for r in caplog.records)
            assert thread.is_alive()  # the daemon did not end
        finally:
            watch.lifecycle.request_drain()
            thread.join(timeout=WAIT)
            monkey_restart.undo()
        assert not thread.is_alive()


def test_reload_changes_concurrency_bwlimit_and_roots_and_refuses_another_journal(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    good = sandbox_config.read_text()
    watch_config(sandbox_config, first, extra="\n[upload]\nconcurrency = 2\n")
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal)
        thread = threading.Thread(target=watch.run, daemon=True)
        thread.start()
        try:
            wait_for("the root watched", lambda: watch.observer_states, WAIT)
            assert watch.pool.size == 2 and watch.ctx.throttle.rate is None
            sandbox_config.write_text(good)
            watch_config(
                sandbox_config, second, extra='\n[upload]\nconcurrency = 5\nbwlimit = "2MiB"\n'
            )
            assert watch.reload()
            assert watch.pool.size == 5
            assert watch.ctx.throttle.rate == 2 * 1024 * 1024
            assert list(watch.feed.observers.roots) == [str(second)]  # first no longer watched
            files = make_tree(second, 2, size=1000)
            wait_for("2 items from the new root", lambda: len(sandbox.items()) == 2, WAIT)
            assert_once_each(sandbox, files)
            # Another journal needs a restart: the running configuration is kept.
            moved = sandbox_config.read_text().replace(
                str(config.journal_path), str(tmp_path / "other.db")
            )
            sandbox_config.write_text(moved)
            assert not watch.reload()
            assert watch.config.journal_path == config.journal_path
        finally:
            watch.lifecycle.request_drain()
            thread.join(timeout=WAIT)
        assert not thread.is_alive()
