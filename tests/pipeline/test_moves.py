"""Renames and moves are understood (issue 11, defect 2).

A synced file renamed in its folder, moved to another folder under the same root, or
copied to a new place and then deleted at the old one (a new inode: found by content), is
the same item: no upload, the new path `synced` with the same photo_id, the old path gone
from `syncd status`, and `syncd status NEWPATH` shows the move in the file's history.
Under both `[scan] duplicates` settings. A copy whose original stays is what it always
was: a `skipped` duplicate, or (duplicates = "upload") a second item.

Pushes and `syncd status` run as real processes against the sandbox over HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    append_config,
    journal_path,
    make_tree,
    run_syncd,
    sha256_of,
    upload_requests,
)

from syncd.journal import Journal
from syncd.model import FileRow, ItemState
from syncd.sandbox import Sandbox


def push(config: Path, root: Path) -> dict[str, Any]:
    result = run_syncd(config, "push", "--no-wait", "--json", root)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def status(config: Path, *args: str | Path) -> str:
    result = run_syncd(config, "status", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rows(config: Path) -> dict[str, FileRow]:
    with Journal.open(journal_path(config)) as journal:
        return {r.path: r for r in journal.rows_in(list(ItemState))}


@pytest.mark.parametrize("duplicates", ["skip", "upload"])
def test_renamed_moved_and_recopied_files_keep_their_item(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, duplicates: str
) -> None:
    append_config(sandbox_config, f'[scan]\nduplicates = "{duplicates}"')
    root = tmp_path / "tree"
    renamed, moved, recopied, kept = make_tree(root, 4)
    (root / "elsewhere").mkdir()
    push(sandbox_config, root)
    before = rows(sandbox_config)
    uploads = upload_requests(sandbox)
    assert uploads == 4

    new_name = root / "renamed.mp4"
    os.rename(renamed, new_name)  # same inode, same folder
    new_place = root / "elsewhere" / moved.name
    os.rename(moved, new_place)  # same inode, another folder
    new_copy = root / "elsewhere" / "recopied.mp4"
    shutil.copyfile(recopied, new_copy)  # a new inode: only the content says it is the same
    recopied.unlink()
    assert new_copy.stat().st_ino != before[str(recopied)].inode
    report = push(sandbox_config, root)

    assert upload_requests(sandbox) == uploads  # nothing sent again
    assert len(sandbox.items()) == 4
    assert report["counts"] == {"synced": 4}  # the old paths are gone from the counts
    assert report["skipped"] == [] and report["failed"] == []
    after = rows(sandbox_config)
    assert set(after) == {str(new_name), str(new_place), str(new_copy), str(kept)}
    # A rename is known by its inode without reading the file; a copy by its content.
    for old, new, how in (
        (renamed, new_name, "renamed"),
        (moved, new_place, "renamed"),
        (recopied, new_copy, "same content"),
    ):
        assert after[str(new)].state is ItemState.SYNCED
        assert after[str(new)].photo_id == before[str(old)].photo_id
        history = status(sandbox_config, new)
        assert f"moved from {old} ({how})" in history, history
        assert f"photo_id {before[str(old)].photo_id}" in history  # the upload, kept
    counts = json.loads(status(sandbox_config, "--json"))["counts"]
    assert {state: n for state, n in counts.items() if n} == {"synced": 4}


def test_a_copy_whose_original_stays_is_a_skipped_duplicate(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [original] = make_tree(root, 1)
    push(sandbox_config, root)
    copy = root / "copy.mp4"
    shutil.copyfile(original, copy)

    report = push(sandbox_config, root)

    assert upload_requests(sandbox) == 1
    assert report["counts"] == {"synced": 1, "skipped": 1}
    [skipped] = report["skipped"]
    assert skipped["path"] == str(copy) and str(original) in skipped["reason"]
    after = rows(sandbox_config)
    assert after[str(copy)].state is ItemState.SKIPPED
    assert after[str(copy)].duplicate_of == str(original)
    assert after[str(original)].state is ItemState.SYNCED


def test_a_copy_whose_original_stays_is_a_second_item_with_duplicates_upload(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[scan]\nduplicates = "upload"')
    root = tmp_path / "tree"
    [original] = make_tree(root, 1)
    push(sandbox_config, root)
    copy = root / "copy.mp4"
    shutil.copyfile(original, copy)

    report = push(sandbox_config, root)

    assert report["counts"] == {"synced": 2}
    assert upload_requests(sandbox) == 2
    items = sandbox.items()
    assert [i["sha256"] for i in items] == [sha256_of(original)] * 2
    after = rows(sandbox_config)
    assert after[str(copy)].photo_id != after[str(original)].photo_id
    assert {after[str(copy)].photo_id, after[str(original)].photo_id} == {
        str(i["photo_id"]) for i in items
    }


def test_a_renamed_file_titled_by_its_name_takes_the_new_name_and_nothing_else(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    untitled, titled = make_tree(root, 2)
    (root / f"{titled.name}.json").write_text(json.dumps({"title": "Kept"}))
    push(sandbox_config, root)
    before = len(sandbox.requests)

    os.rename(untitled, root / "renamed.mp4")  # its title was its name
    os.rename(titled, root / "talk.mp4")  # its sidecar moves along: same metadata
    os.rename(root / f"{titled.name}.json", root / "talk.mp4.json")
    push(sandbox_config, root)

    sent = [(r.method, r.params.get("title")) for r in sandbox.requests[before:]]
    assert sent == [("photo/update", "renamed")]  # one update, no upload, no lookup
    assert sorted(i["title"] for i in sandbox.items()) == ["Kept", "renamed"]
