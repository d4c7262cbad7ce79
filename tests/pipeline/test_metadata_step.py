"""Metadata the upload request could not carry, and config defaults from [[watch]]."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline_helpers import append_config, run_syncd

from syncd.api.client import Client
from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

FAST = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.05, park_first=0.5)


def _push(config_path: Path, root: Path) -> dict[str, ItemState]:
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        # No patience: a deferred update is left to the next run, not waited for.
        Push(config, journal, policy=FAST, patience=0.0).run(
            PushOptions(roots=[root], no_wait=True)
        )
        return {row.path: row.state for row in journal.rows_in(list(ItemState))}


def test_second_album_left_behind_by_a_failed_update_is_applied_by_the_next_run(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    clip = tree / "clip.mp4"
    clip.write_bytes(b"two albums" * 100)
    (tree / "clip.mp4.json").write_text(json.dumps({"albums": ["First", "Second"]}))
    # photo/upload takes one album; the second needs photo/update, which fails now.
    sandbox.faults.add("photo/update", status=500, count=100)

    states = _push(sandbox_config, tree)

    assert states[str(clip)] is ItemState.UPLOADED
    [item] = sandbox.items()
    assert item["albums"] == ["First"]

    sandbox.faults.clear()
    states = _push(sandbox_config, tree)

    assert states[str(clip)] is ItemState.SYNCED
    [item] = sandbox.items()  # still one item: the update, not a second upload
    assert sorted(item["albums"]) == ["First", "Second"]


def test_push_without_path_takes_the_watch_folders_and_their_defaults(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    (archive / "deep").mkdir(parents=True)
    (archive / "deep" / "talk.mp4").write_bytes(b"a talk" * 200)
    append_config(
        sandbox_config,
        f"""
        [[watch]]
        path = "{archive}"
        album = "Archive"
        tags = ["from-archive"]
        mode = "token"
        """,
    )

    result = run_syncd(sandbox_config, "push", "--no-wait")

    assert result.returncode == 0, result.stderr
    [item] = sandbox.items()
    assert item["albums"] == ["Archive"]
    assert "from-archive" in item["tags"]
    assert item["created_by"] == "redeem-upload-token"  # the watch root's mode
    assert item["title"] == "talk"


def test_album_deleted_on_the_site_is_created_again_not_failed(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ".syncd.json").write_text(json.dumps({"album": "Shows"}))
    (tree / "one.mp4").write_bytes(b"first show" * 100)
    assert run_syncd(sandbox_config, "push", "--no-wait", tree).returncode == 0
    [first] = sandbox.items()
    [old_album_id] = first["album_ids"]
    # Someone deletes the album on the site; the journal still has its id cached.
    config = load_config(sandbox_config)
    with Client(config.site) as client:
        client.call("album/delete", {"album_id": old_album_id})

    (tree / "two.mp4").write_bytes(b"second show" * 100)
    result = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert result.returncode == 0, result.stdout + result.stderr
    second = next(i for i in sandbox.items() if i["title"] == "two")
    assert second["albums"] == ["Shows"]
    assert second["album_ids"] != [old_album_id]
