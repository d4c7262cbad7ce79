"""`syncd watch`'s lifecycle as a service: signals, kills, reloads, systemd notifications and
refused credentials (a real subprocess against the sandbox)."""

from __future__ import annotations

import random
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, make_tree, run_syncd, sigkill, upload_requests
from watch_helpers import (
    WAIT,
    NotifySocket,
    WatchProcess,
    wait_for_items,
    wait_until,
    watch_config,
)

from syncd.sandbox import Sandbox

SEED = 20261129


@pytest.mark.slow(seconds=3)
def test_sigterm_lets_the_upload_in_flight_finish_and_a_restart_sends_nothing(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    sandbox.faults.add("photo/upload", delay=2.0, count=1)  # the answer comes 2 s late
    files = make_tree(archive, 1, size=5000)
    log = tmp_path / "watch.log"
    daemon = WatchProcess(sandbox_config, log)
    try:
        # The item is stored before the delayed answer: the transfer is in flight.
        wait_until("the upload in flight", lambda: len(sandbox.items()) == 1, daemon)
        assert daemon.stop() == 0  # drained: the transfer finished within stop_timeout
        assert "stopped; the journal is consistent" in daemon.output()
        assert_once_each(sandbox, files)
    finally:
        daemon.kill()
    again = WatchProcess(sandbox_config, tmp_path / "again.log")
    try:
        again.wait_for_log("ready:")  # the start-up scan is done and its work queued
        wait_until("an idle pool", lambda: "0 queued, 0 uploading" in again.output(), again)
        assert again.stop() == 0
        assert upload_requests(sandbox) == 1
        assert_once_each(sandbox, files)
    finally:
        again.kill()


def test_a_second_signal_stops_at_once_and_a_restart_ends_exactly_once(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    sandbox.faults.add("photo/upload", delay=120.0, count=1)  # longer than any test waits
    files = make_tree(archive, 1, size=5000)
    log = tmp_path / "watch.log"
    daemon = WatchProcess(sandbox_config, log)
    try:
        # The item is stored before the delayed answer: the transfer is in flight.
        wait_until("the upload in flight", lambda: len(sandbox.items()) == 1, daemon)
        # `syncd status` works beside the running daemon and shows what it is sending.
        status = run_syncd(sandbox_config, "status")
        assert status.returncode == 0, status.stderr
        assert f"UPLOADING {files[0]} (pid {daemon.proc.pid} on" in status.stdout
        daemon.signal(signal.SIGTERM)
        daemon.wait_for_log("transfer(s) get")  # draining, the transfer still in flight
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=WAIT) == 130
    finally:
        daemon.kill()
    sandbox.faults.clear()
    again = WatchProcess(sandbox_config, tmp_path / "again.log")
    try:
        # The interrupted upload is recovered, the site asked, the stored item recorded
        # (and its metadata applied to it, since the journal never saw the answer).
        again.wait_for_log("earlier attempt landed as photo")
        again.wait_for_log(f"updated {files[0]}")
        assert again.stop() == 0
        assert_once_each(sandbox, files)  # the stored item was found, not sent twice
    finally:
        again.kill()


@pytest.mark.slow(seconds=10)
def test_sigkill_at_random_moments_while_files_keep_arriving_lands_each_once(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    watch_config(sandbox_config, archive, extra="\n[upload]\nconcurrency = 2\n")
    sandbox.faults.add("photo/upload", delay=0.2)  # widen the stored-but-unrecorded window
    written: list[Path] = []
    stop_writing = threading.Event()

    def writer() -> None:
        batch = 0
        while not stop_writing.is_set() and batch < 40:
            written.extend(make_tree(archive / f"b{batch:02d}", 2, size=3000, prefix=f"w{batch}-"))
            batch += 1
            stop_writing.wait(0.3)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    log = tmp_path / "watch.log"
    kills = 0
    try:
        while kills < 10:
            daemon = WatchProcess(sandbox_config, log)
            time.sleep(rng.uniform(0.3, 1.5))  # a random moment, not a timing assertion
            if daemon.proc.poll() is not None:
                raise AssertionError(f"daemon exited early:\n{daemon.output()[-2000:]}")
            sigkill(daemon.proc)
            kills += 1
    finally:
        stop_writing.set()
        thread.join(timeout=30)
    final = WatchProcess(sandbox_config, log)
    try:
        wait_for_items(sandbox, len(set(written)), final, timeout=120)
        assert final.stop() == 0
        assert_once_each(sandbox, written)
    finally:
        final.kill()


@pytest.mark.slow(seconds=2)
def test_sighup_adds_a_root_and_a_broken_config_keeps_the_running_one(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    good = sandbox_config.read_text()
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        daemon.wait_for_log("watching")
        second = tmp_path / "second"
        files = make_tree(second, 2, size=2500, prefix="second")
        sandbox_config.write_text(good + f'\n[[watch]]\npath = "{second}"\n')
        daemon.signal(signal.SIGHUP)
        wait_for_items(sandbox, 2, daemon)
        assert "reloaded" in daemon.output()
        sandbox_config.write_text(good + "\n[[watch]]\npath = 42\n")  # not a path
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("keeping the running configuration")
        more = make_tree(second, 1, size=2500, prefix="later")  # the second root still watched
        wait_for_items(sandbox, 3, daemon)
        assert_once_each(sandbox, [*files, *more])
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    finally:
        sandbox_config.write_text(good)
        daemon.kill()


def test_systemd_hears_ready_status_watchdog_reloading_and_stopping(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    make_tree(archive, 1, size=2000)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log", env=env)
    try:
        wait_until("READY=1", lambda: notify.seen("READY=1"), daemon)
        wait_until("a STATUS= line", lambda: notify.seen("STATUS="), daemon)
        wait_until("WATCHDOG=1 pings", lambda: notify.seen("WATCHDOG=1"), daemon)
        daemon.signal(signal.SIGHUP)
        wait_until("RELOADING=1", lambda: notify.seen("RELOADING=1"), daemon)
        # The reload's "reloading ..." status is replaced by the status line again, even
        # though the daemon's counts did not change.
        wait_until(
            "a status line after the reload's",
            lambda: "reloading" not in notify.statuses()[-1],
            daemon,
        )
        assert daemon.stop() == 0
        assert notify.seen("STOPPING=1")
        status = [m for m in notify.messages if "STATUS=" in m]
        assert any(re.search(r"\d+ queued", m) for m in status), status
    finally:
        daemon.kill()
        notify.close()


def test_refused_credentials_pause_uploading_until_fixed_without_a_restart(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    good = sandbox_config.read_text()
    bad = re.sub(r'access_token_secret = "[^"]*"', 'access_token_secret = "not-the-secret"', good)
    assert bad != good
    sandbox_config.write_text(bad)
    files = make_tree(archive, 1, size=2000)
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path)}
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log", env=env)
    try:
        daemon.wait_for_log("uploading paused")
        # systemd hears it too: `systemctl status` shows the pause and why.
        wait_until(
            "the pause in STATUS=",
            lambda: any("; uploading paused: " in s for s in notify.statuses()),
            daemon,
        )
        assert daemon.proc.poll() is None  # paused, not ended
        assert sandbox.items() == []
        told = len(notify.statuses())
        sandbox_config.write_text(good)
        daemon.signal(signal.SIGHUP)
        wait_for_items(sandbox, 1, daemon)
        assert_once_each(sandbox, files)
        wait_until(
            "a STATUS= without the pause",
            lambda: any("paused" not in s for s in notify.statuses()[told:]),
            daemon,
        )
        assert daemon.stop() == 0
        assert "not-the-secret" not in daemon.output()
        assert not any("not-the-secret" in m for m in notify.messages)
    finally:
        sandbox_config.write_text(good)
        daemon.kill()
        notify.close()


def test_status_tells_systemd_the_last_error(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    sandbox.faults.add("photo/upload", error_processing_upload=True, count=1)
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = WatchProcess(
        sandbox_config, tmp_path / "watch.log", env={"NOTIFY_SOCKET": str(notify.path)}
    )
    try:
        daemon.wait_for_log("watching")
        [bad] = make_tree(archive, 1, size=2000, prefix="bad")
        wait_until(
            "the failure in STATUS=",
            lambda: any(
                f"1 failed; last error: {bad}: error_processing_upload: " in s
                for s in notify.statuses()
            ),
            daemon,
        )
        assert daemon.stop() == 0
    finally:
        daemon.kill()
        notify.close()


def test_metrics_of_a_running_daemon(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive, extra='\nmetrics_listen = "127.0.0.1:0"\n')
    make_tree(archive, 2, size=2000)
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        wait_for_items(sandbox, 2, daemon)
        daemon.wait_for_log("metrics at ")
        url = re.search(r"metrics at (\S+)", daemon.output())
        assert url is not None

        def scrape() -> str:
            with urllib.request.urlopen(url.group(1), timeout=10) as answer:
                return answer.read().decode()

        wait_until(
            "two uploads counted",
            lambda: re.search(r"^syncd_uploaded_files_total 2\.0$", scrape(), re.M),
            daemon,
        )
        text = scrape()
        assert re.search(r'^syncd_files\{state="synced"\} 2\.0$', text, re.M), text
        assert re.search(r'^syncd_observer_state\{.*state="inotify"\} 1\.0$', text, re.M), text
        assert daemon.stop() == 0
    finally:
        daemon.kill()
