"""`syncd watch` as a service (a real subprocess against the sandbox): an inotify root that
goes away, is replaced or made anew is watched again; `stop_timeout` runs out on a transfer
held mid-body; one log line per file uploaded or failed."""

from __future__ import annotations

import itertools
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, items_by_sha, journal_states, make_tree, sha256_of
from watch_helpers import WAIT, NotifySocket, WatchProcess, wait_for_items, wait_until, watch_config

from syncd.model import ItemState
from syncd.sandbox import Sandbox


@pytest.mark.slow(seconds=7)
def test_an_inotify_root_moved_away_replaced_or_made_anew_is_watched_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    mount = tmp_path / "mount"
    mount.mkdir()
    watch_config(sandbox_config, mount)  # observer = "auto": inotify here
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    watching = f"watching {mount} (inotify)"

    def watched_times() -> int:
        return daemon.output().count(watching)

    try:
        daemon.wait_for_log(watching)
        hashes = [sha256_of(p) for p in make_tree(mount, 1, size=1500, prefix="first")]
        wait_for_items(sandbox, 1, daemon)

        # Unmounted: the folder goes away; the root is missing, the daemon keeps running.
        mount.rename(tmp_path / "unmounted")
        daemon.wait_for_log(f"watch root {mount}: missing")
        # Mounted again, with files that arrived meanwhile: the rescan on return finds them.
        staged = tmp_path / "remounted"
        hashes += [sha256_of(p) for p in make_tree(staged, 2, size=1500, prefix="meanwhile")]
        staged.rename(mount)
        wait_until("the root watched a second time", lambda: watched_times() == 2, daemon)
        hashes += [sha256_of(p) for p in make_tree(mount, 1, size=1500, prefix="second")]
        wait_for_items(sandbox, 4, daemon)

        # Replaced in one step, faster than the daemon looks: another folder at the path.
        mount.rename(tmp_path / "old-mount")
        (tmp_path / "replacement").mkdir()
        (tmp_path / "replacement").rename(mount)
        wait_until("the replacement watched", lambda: watched_times() == 3, daemon)
        hashes += [sha256_of(p) for p in make_tree(mount, 1, size=1500, prefix="third")]
        wait_for_items(sandbox, 5, daemon)

        # Deleted and made anew at once (watchdog's inotify watch ends with its folder).
        shutil.rmtree(mount)
        mount.mkdir()
        wait_until("the new folder watched", lambda: watched_times() == 4, daemon)
        hashes += [sha256_of(p) for p in make_tree(mount, 1, size=1500, prefix="fourth")]
        wait_for_items(sandbox, 6, daemon)

        # Each content once (the files of the first folders are no longer under the root).
        assert items_by_sha(sandbox) == Counter(hashes)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.slow(seconds=5)
def test_stop_timeout_runs_out_on_a_transfer_held_mid_body_and_a_restart_lands_it_once(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    """24 MiB at 128 KiB/s takes over three minutes. Once systemd's STATUS= shows it under
    way (bytes flowing, at a rate), the first SIGTERM with stop_timeout = 1 ends the daemon
    (exit 0) long before it could finish, abandoning the transfer; a restart sends it."""
    watch_config(sandbox_config, archive, extra='\n[upload]\nbwlimit = "128KiB"\n')
    limited = sandbox_config.read_text()
    sandbox_config.write_text(limited.replace("stop_timeout = 30", "stop_timeout = 1"))
    files = make_tree(archive, 1, size=24 * 1024 * 1024)
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = WatchProcess(
        sandbox_config, tmp_path / "watch.log", env={"NOTIFY_SOCKET": str(notify.path)}
    )
    try:
        under_way = re.compile(r"\b1 uploading\b.*; \d+\.\d (KiB|MiB)/s")
        wait_until(
            "a STATUS= with the transfer under way and its rate",
            lambda: any(under_way.search(s) for s in notify.statuses()),
            daemon,
        )
        # Held at the bandwidth limit: an exit within WAIT (60 s) is before it could finish.
        assert daemon.stop(timeout=WAIT) == 0
        out = daemon.output()
        assert "stopping: 1 transfer(s) get 1 s to finish" in out
        assert "stopped; the journal is consistent" in out
        assert notify.seen("STOPPING=1")
        told = notify.statuses()  # looked at every 2 s, sent only when it says something new
        assert all(one != next_one for one, next_one in itertools.pairwise(told)), told
        assert sandbox.items() == []  # abandoned, not finished
        assert journal_states(sandbox_config)[str(files[0])] is ItemState.READY
        assert f"ready {files[0]}: interrupted; will resume" in out
    finally:
        daemon.kill()
        notify.close()
    sandbox_config.write_text(limited.replace('bwlimit = "128KiB"', ""))
    again = WatchProcess(sandbox_config, tmp_path / "again.log")
    try:
        wait_for_items(sandbox, 1, again)
        wait_until(
            "the file synced in the journal",
            lambda: journal_states(sandbox_config)[str(files[0])] is ItemState.SYNCED,
            again,
        )
        assert again.stop() == 0
        assert_once_each(sandbox, files)
    finally:
        again.kill()


def test_one_log_line_per_file_uploaded_or_failed(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive, extra="\n[upload]\nconcurrency = 1\n")
    sandbox.faults.add("photo/upload", error_processing_upload=True, count=1)  # one fails
    files = make_tree(archive, 4, size=2000)
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        wait_until(
            "every file synced or failed",
            lambda: (
                sorted(journal_states(sandbox_config).values())
                == sorted([ItemState.FAILED] + [ItemState.SYNCED] * 3)
            ),
            daemon,
        )
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    states = journal_states(sandbox_config)
    lines = daemon.output().splitlines()
    for path in files:
        # Lines of the service's own logger that name the file: exactly one, its outcome.
        said = re.compile(rf"syncd\.watch: .*{re.escape(str(path))}\b")
        about = [line for line in lines if said.search(line)]
        if states[str(path)] is ItemState.FAILED:
            assert len(about) == 1 and " ERROR syncd.watch: failed " in about[0], about
            assert f"failed {path}: error_processing_upload: " in about[0], about
        else:
            assert len(about) == 1 and " INFO syncd.watch: synced " in about[0], about
            assert re.search(r"\(photo \S+\)$", about[0]), about
    assert len(sandbox.items()) == 3
