"""`syncd watch` as a service (a real subprocess against the sandbox): an inotify root that
goes away, is replaced or made anew is watched again."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from pipeline_helpers import items_by_sha, make_tree, sha256_of
from watch_helpers import WatchProcess, wait_for_items, wait_until, watch_config

from syncd.sandbox import Sandbox


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
