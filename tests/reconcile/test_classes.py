"""Each kind of difference, made behind syncd's back in the sandbox's own state (or on disk),
then repaired or reported by reconcile as `[reconcile]` says. Every reconcile here runs the
whole command in-process: scan, listing, plan, actions and the workers' burst."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reconcile_helpers import (
    append_config,
    delete_item,
    edit_item,
    item,
    make_tree,
    push,
    reconcile,
    rows,
    sha256_of,
    upload_requests,
)

from syncd.model import ItemState, identity_tag
from syncd.reconcile import Outcome, ReconcileReport
from syncd.sandbox import Sandbox


def synced_tree(config: Path, tmp_path: Path, count: int = 3) -> tuple[Path, list[Path], list[str]]:
    """A pushed tree; the first file has a sidecar (album, tag and description)."""
    root = tmp_path / "tree"
    files = make_tree(root, count)
    sidecar = {"albums": ["Trips"], "tags": ["cats"], "description": "<p>About cats</p>"}
    (root / f"{files[0].name}.json").write_text(json.dumps(sidecar))
    report, found = push(config, root)
    assert report.all_landed
    ids = [found[str(f)].photo_id or "" for f in files]
    return root, files, ids


def outcomes(report: ReconcileReport) -> list[tuple[str, Outcome]]:
    return [(str(r.action), r.outcome) for r in report.results]


def test_a_tree_in_step_plans_nothing_and_exits_0(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, _, _ = synced_tree(sandbox_config, tmp_path)
    sandbox.add_item(b"uploaded by somebody else", title="theirs")

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == []
    assert report.exit_status() == 0
    # The other item is counted, not judged; no file has its size: nothing looked up.
    assert (report.remote_items, report.untracked, report.lookups) == (4, 1, 0)


def test_an_archive_that_is_not_there_deletes_nothing(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[reconcile]\non_local_delete = "delete"')
    root, _, _ = synced_tree(sandbox_config, tmp_path)
    root.rename(tmp_path / "unmounted")

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == []
    assert [p.message for p in report.problems] == [
        "root is not a directory (missing or unmounted?)"
    ]
    assert report.exit_status() == 1 and len(sandbox.items()) == 3


@pytest.mark.parametrize("policy", ["reupload", "report"])
def test_deleted_item(sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, policy: str) -> None:
    append_config(sandbox_config, f'[reconcile]\non_remote_missing = "{policy}"')
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    delete_item(sandbox, ids[1])

    report = reconcile(sandbox_config, root)

    text = f"remote-missing {files[1]} photo {ids[1]} (gone from the site): {policy}"
    row = rows(sandbox_config)[str(files[1])]
    if policy == "reupload":
        assert outcomes(report) == [(text, Outcome.DONE)]
        assert report.exit_status() == 0
        assert row.state is ItemState.SYNCED and row.photo_id not in ids
        assert item(sandbox, row.photo_id or "")["sha256"] == sha256_of(files[1])
    else:
        assert outcomes(report) == [(text, Outcome.REPORTED)]
        assert report.exit_status() == 1
        assert row.state is ItemState.REMOTE_MISSING and len(sandbox.items()) == 2
        # Reported again next time, until repaired.
        assert outcomes(reconcile(sandbox_config, root)) == [(text, Outcome.REPORTED)]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"title": "Edited on the site"}, "title 'Edited on the site', not 'clip000'"),
        ({"album_ids": []}, "not in album 'Trips'"),
        ({"published": False}, "unpublished"),
        ({"description": "<p>added by hand</p>"}, "description differs"),
    ],
)
@pytest.mark.parametrize("policy", ["reapply", "report"])
def test_metadata_drift(
    sandbox: Sandbox,
    sandbox_config: Path,
    tmp_path: Path,
    change: dict[str, object],
    detail: str,
    policy: str,
) -> None:
    append_config(sandbox_config, f'[reconcile]\non_drift = "{policy}"')
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    before = item(sandbox, ids[0])
    edit_item(sandbox, ids[0], **change)
    edited = item(sandbox, ids[0])

    report = reconcile(sandbox_config, root)

    text = f"drift {files[0]} photo {ids[0]} ({detail}): {policy}"
    if policy == "reapply":
        assert outcomes(report) == [(text, Outcome.DONE)]
        assert report.exit_status() == 0
        after = item(sandbox, ids[0])
        for key in ("title", "albums", "published", "description", "tags"):
            assert after[key] == before[key], key
        assert outcomes(reconcile(sandbox_config, root)) == []
    else:
        assert outcomes(report) == [(text, Outcome.REPORTED)]
        assert report.exit_status() == 1
        assert item(sandbox, ids[0]) == edited


def test_tag_count_drift_is_reapplied(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    marker = identity_tag(sha256_of(files[0]))
    edit_item(sandbox, ids[0], tags=[marker])  # "cats" removed by hand

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [
        (f"drift {files[0]} photo {ids[0]} (1 tags, 2 wanted): reapply", Outcome.DONE)
    ]
    assert sorted(item(sandbox, ids[0])["tags"]) == sorted(["cats", marker])


@pytest.mark.parametrize("policy", ["keep", "unpublish", "delete"])
def test_local_file_deleted(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, policy: str
) -> None:
    append_config(sandbox_config, f'[reconcile]\non_local_delete = "{policy}"')
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    files[2].unlink()

    report = reconcile(sandbox_config, root)

    text = f"local-deleted {files[2]} photo {ids[2]}: {policy}"
    assert report.exit_status() == 0
    journal = rows(sandbox_config)
    if policy == "keep":
        assert outcomes(report) == [(text, Outcome.NOTHING)]
        assert item(sandbox, ids[2])["published"] is True
    elif policy == "unpublish":
        assert outcomes(report) == [(text, Outcome.DONE)]
        assert item(sandbox, ids[2])["published"] is False
        assert outcomes(reconcile(sandbox_config, root)) == [
            (
                f"local-deleted {files[2]} photo {ids[2]} (unpublished already): keep",
                Outcome.NOTHING,
            )
        ]
    else:
        assert outcomes(report) == [(text, Outcome.DONE)]
        assert ids[2] not in {str(i["photo_id"]) for i in sandbox.items()}
        assert str(files[2]) not in journal
        assert outcomes(reconcile(sandbox_config, root)) == []
    assert len(sandbox.items()) == (2 if policy == "delete" else 3)


def test_changed_content_is_replaced_by_reconcile(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    files[1].write_bytes(os.urandom(2000))
    uploads = upload_requests(sandbox)

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [(f"changed {files[1]} photo {ids[1]}: replace", Outcome.DONE)]
    assert item(sandbox, ids[1])["sha256"] == sha256_of(files[1])
    assert len(sandbox.items()) == 3 and upload_requests(sandbox) == uploads


def copy_of(sandbox: Sandbox, path: Path, title: str) -> str:
    """A second item with the file's bytes and identity marker, as a retried upload that
    landed twice (or a copy made by hand) would leave."""
    marker = identity_tag(sha256_of(path))
    return str(sandbox.add_item(path.read_bytes(), title=title, tags=[marker]))


def test_duplicates_are_reported_and_deleted_with_dedupe(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    copy = copy_of(sandbox, files[1], files[1].stem)
    text = f"duplicate {files[1]} photo {copy} (of photo {ids[1]})"

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [(f"{text}: report", Outcome.REPORTED)]
    assert report.exit_status() == 1 and len(sandbox.items()) == 4
    report = reconcile(sandbox_config, root, dedupe=True)
    assert outcomes(report) == [(f"{text}: delete", Outcome.DONE)]
    assert report.exit_status() == 0
    assert sorted(str(i["photo_id"]) for i in sandbox.items()) == sorted(ids)
    deletes = [r for r in sandbox.requests if r.method == "photo/delete"]
    assert len(deletes) == 1


def test_dedupe_keeps_the_oldest_copy_and_moves_the_row_to_it(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    older = copy_of(sandbox, clip, clip.stem)  # on the site before the journal knew it
    # A first upload that asks nothing (as syncd did before issue 12): a second item.
    append_config(sandbox_config, "[upload]\nlookup_before_upload = false")
    _, found = push(sandbox_config, root)
    mine = found[str(clip)].photo_id
    assert mine != older and len(sandbox.items()) == 2

    report = reconcile(sandbox_config, root, dedupe=True)

    assert outcomes(report) == [
        (f"duplicate {clip} photo {mine} (of photo {older}): delete", Outcome.DONE)
    ]
    assert [str(i["photo_id"]) for i in sandbox.items()] == [older]
    assert rows(sandbox_config)[str(clip)].photo_id == older
    assert outcomes(reconcile(sandbox_config, root)) == []


def test_a_replacement_whose_item_is_gone_is_uploaded_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    files[1].write_bytes(os.urandom(2000))
    delete_item(sandbox, ids[1])
    report, found = push(sandbox_config, root)
    assert found[str(files[1])].error_code == "no_such_photo"

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [
        (f"remote-missing {files[1]} photo {ids[1]} (gone from the site): reupload", Outcome.DONE)
    ]
    row = rows(sandbox_config)[str(files[1])]
    assert item(sandbox, row.photo_id or "")["sha256"] == sha256_of(files[1])


def test_an_item_with_the_marker_but_not_in_the_journal_is_adopted(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    on_site = copy_of(sandbox, clip, clip.stem)  # uploaded before the journal knew it

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [
        (f"adopt {clip} photo {on_site} (carries its identity marker): link", Outcome.DONE)
    ]
    assert upload_requests(sandbox) == 0 and len(sandbox.items()) == 1
    row = rows(sandbox_config)[str(clip)]
    assert (row.state, row.photo_id) == (ItemState.SYNCED, on_site)
    assert row.applied_digest == row.desired_digest  # title and tags as wanted: nothing to set


def test_a_deleted_item_uploaded_again_by_hand_is_adopted_not_uploaded(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, files, ids = synced_tree(sandbox_config, tmp_path)
    delete_item(sandbox, ids[2])
    again = copy_of(sandbox, files[2], files[2].stem)
    uploads = upload_requests(sandbox)

    report = reconcile(sandbox_config, root)

    assert outcomes(report) == [
        (f"adopt {files[2]} photo {again} (carries its identity marker): link", Outcome.DONE)
    ]
    assert upload_requests(sandbox) == uploads and len(sandbox.items()) == 3
    assert rows(sandbox_config)[str(files[2])].photo_id == again


def test_transcoding_overdue_is_reported(tmp_path: Path) -> None:
    with Sandbox(data_dir=tmp_path / "slow-site", transcode_seconds=3600) as slow:
        config = slow.write_config(tmp_path / "slow.toml", journal_path=tmp_path / "slow.db")
        append_config(config, "[reconcile]\ntranscoding_timeout = 0.001")
        root = tmp_path / "tree"
        [clip] = make_tree(root, 1)
        report, found = push(config, root)
        photo_id = found[str(clip)].photo_id

        report = reconcile(config, root)

    [(text, outcome)] = outcomes(report)
    assert text.startswith(f"transcoding {clip} photo {photo_id} (not transcoded 0.0 h after")
    assert outcome is Outcome.REPORTED and report.exit_status() == 1
