"""`syncd watch` (a real subprocess, real inotify or polling observers) against the sandbox:
files land once complete, renames and sidecar edits upload nothing, the start-up scan and
vanished roots."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pipeline_helpers import (
    assert_once_each,
    items_by_sha,
    journal_path,
    make_tree,
    sha256_of,
    upload_requests,
)
from watch_helpers import (
    WatchProcess,
    wait_for_items,
    wait_until,
    watch_config,
    write_slowly,
)

from syncd.journal import Journal
from syncd.model import ItemState
from syncd.sandbox import Sandbox


def _state(config: Path, path: Path) -> tuple[ItemState, str | None] | None:
    with Journal.open(journal_path(config)) as journal:
        row = journal.get(str(path))
        return None if row is None else (row.state, row.photo_id)


@pytest.mark.slow(seconds=4)
def test_a_file_written_slowly_is_uploaded_once_complete(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        daemon.wait_for_log("watching")
        pieces = [bytes([i]) * 50_000 for i in range(8)]
        # Eight pieces over ~3 s: longer than stable_seconds (1 s) in all, each gap shorter.
        write_slowly(archive / "recording.mp4", pieces, pause=0.4)
        wait_for_items(sandbox, 1, daemon)
        [item] = sandbox.items()
        assert item["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
        assert upload_requests(sandbox) == 1
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.slow(seconds=4)
def test_files_copied_in_at_once_all_land_exactly_once(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive, extra="\n[upload]\nconcurrency = 8\n")
    staging = tmp_path / "staging"
    files = make_tree(staging / "batch", 500, size=300)
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        daemon.wait_for_log("watching")
        shutil.copytree(staging / "batch", archive / "batch")
        wait_for_items(sandbox, 500, daemon)
        assert_once_each(sandbox, files)
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.slow(seconds=2)
def test_renames_moves_and_sidecar_edits_upload_nothing(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    (archive / "sub").mkdir()
    clip = make_tree(archive, 1, size=4000, prefix="clip")[0]
    other = make_tree(archive, 1, size=4000, prefix="other")[0]
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        # The item is on the site a moment before the journal hears the answer: wait for both.
        wait_until(
            "both files synced in the journal",
            lambda: all(
                (_state(sandbox_config, p) or (None,))[0] is ItemState.SYNCED for p in (clip, other)
            ),
            daemon,
        )
        uploads = upload_requests(sandbox)
        photo = _state(sandbox_config, clip)
        assert photo is not None
        renamed = archive / "sub" / "renamed.mp4"
        clip.rename(renamed)  # a move to another folder and a new name in one
        wait_until(
            "the renamed file synced under its new path",
            lambda: _state(sandbox_config, renamed) == (ItemState.SYNCED, photo[1]),
            daemon,
        )
        assert _state(sandbox_config, clip) is None  # the row followed the file
        (archive / "other000.mp4.json").write_text(json.dumps({"title": "Edited title"}))
        wait_until(
            "the sidecar's title on the site",
            lambda: any(i["title"] == "Edited title" for i in sandbox.items()),
            daemon,
        )
        assert upload_requests(sandbox) == uploads  # nothing was uploaded again
        assert len(sandbox.items()) == 2
        assert other.exists()
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.slow(seconds=2)
def test_start_up_scan_finds_what_arrived_while_the_daemon_was_down(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    watch_config(sandbox_config, archive)
    log = tmp_path / "watch.log"
    first = make_tree(archive, 2, size=2000, prefix="before")
    daemon = WatchProcess(sandbox_config, log)
    try:
        wait_for_items(sandbox, 2, daemon)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    later = make_tree(archive, 3, size=2000, prefix="while-down")
    daemon = WatchProcess(sandbox_config, log)
    try:
        wait_for_items(sandbox, 5, daemon)
        assert_once_each(sandbox, [*first, *later])
        assert daemon.stop() == 0
    finally:
        daemon.kill()


@pytest.mark.slow(seconds=2)
def test_polling_root_lands_files_and_a_root_that_comes_back_is_watched_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """observer = "polling" (network file systems); the root missing at start, created
    later, removed, and created again."""
    mount = tmp_path / "mount"
    watch_config(sandbox_config, mount, observer="polling")
    daemon = WatchProcess(sandbox_config, tmp_path / "watch.log")
    try:
        daemon.wait_for_log("does not exist")  # logged, and the daemon keeps running
        mount.mkdir()
        first = make_tree(mount, 2, size=1500, prefix="first")
        wait_for_items(sandbox, 2, daemon)
        daemon.wait_for_log("(polling)")
        hashes = [sha256_of(p) for p in first]
        shutil.rmtree(mount)
        daemon.wait_for_log("missing")
        mount.mkdir()
        second = make_tree(mount, 2, size=1500, prefix="second")
        wait_for_items(sandbox, 4, daemon)
        hashes += [sha256_of(p) for p in second]
        assert items_by_sha(sandbox) == Counter(hashes)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
