"""A file whose content changes at the same path after its upload: push follows
`[reconcile] on_change` as reconcile does. `replace` keeps the photo_id (page, embeds) and
gives the item the new bytes and the new identity marker; `new` makes a second item; `report`
sends nothing and says why."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconcile_helpers import (
    Watch,
    append_config,
    item,
    journal_path,
    push,
    reconcile,
    sha256_of,
    upload_requests,
)

from syncd.api.body import FileSlice
from syncd.api.client import Client
from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import CONTENT_CHANGED, ItemState, identity_tag
from syncd.reconcile import Outcome
from syncd.sandbox import Sandbox


def synced_clip(sandbox_config: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    root = tmp_path / "tree"
    root.mkdir()
    clip = root / "clip.mp4"
    clip.write_bytes(os.urandom(3000))
    report, rows = push(sandbox_config, root)
    assert report.all_landed
    photo_id = rows[str(clip)].photo_id
    assert photo_id is not None
    return root, clip, photo_id


def test_replace_keeps_the_photo_id_and_the_site_holds_the_new_bytes(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    old_sha = sha256_of(clip)
    clip.write_bytes(os.urandom(4000))  # re-exported: new bytes, same path
    new_sha = sha256_of(clip)
    uploads = upload_requests(sandbox)

    report, rows = push(sandbox_config, root)

    assert report.all_landed
    [only] = sandbox.items()
    assert str(only["photo_id"]) == photo_id
    assert only["sha256"] == new_sha and only["size"] == 4000
    assert Path(only["path"]).read_bytes() == clip.read_bytes()
    # The marker follows the content: found by the new hash, not by the old one.
    assert identity_tag(new_sha) in only["tags"] and identity_tag(old_sha) not in only["tags"]
    row = rows[str(clip)]
    assert (row.state, row.photo_id, row.uploaded_sha256) == (ItemState.SYNCED, photo_id, new_sha)
    assert upload_requests(sandbox) == uploads  # no photo/upload, no upload token
    methods = [r.method for r in sandbox.requests[-3:]]
    assert methods == ["photo/get-replace-token", "photo/redeem-replace-token", "photo/update"]


def test_the_sandbox_replaces_the_file_and_keeps_every_tag(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """photo/replace and the replace token swap the file and keep title, tags and albums:
    the marker is syncd's to change, after the bytes are there."""
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    one.write_bytes(b"first" * 100)
    two.write_bytes(b"second" * 100)
    photo_id = str(sandbox.add_item(b"zero", title="T", tags=["a", "syncd:00"]))
    with Client(load_config(sandbox_config).site) as client:
        client.photo_replace(photo_id, FileSlice(str(one)))
        assert item(sandbox, photo_id)["sha256"] == sha256_of(one)
        token = client.get_replace_token(photo_id, return_url="http://127.0.0.1/x")
        answer = client.redeem_replace_token(token["replace_token"], FileSlice(str(two)))
    assert answer.status == 301 and f"photo_id={photo_id}" in (answer.location or "")
    replaced = item(sandbox, photo_id)
    assert (replaced["sha256"], replaced["title"], replaced["tags"]) == (
        sha256_of(two),
        "T",
        ["a", "syncd:00"],
    )


def test_a_marker_update_that_fails_is_left_to_the_metadata_stage(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    clip.write_bytes(os.urandom(4000))
    # Every attempt of the follow-up photo/update fails; the metadata stage's succeeds.
    sandbox.faults.add(
        "photo/update", status=500, count=load_config(sandbox_config).upload.max_attempts
    )

    report, rows = push(sandbox_config, root)

    assert report.all_landed and rows[str(clip)].state is ItemState.SYNCED
    with Journal.open(journal_path(sandbox_config)) as journal:
        events = [(e.from_state, e.to_state) for e in journal.events(str(clip))]
    assert events[-2:] == [
        (ItemState.UPLOADING, ItemState.UPLOADED),  # the bytes replaced, marker not yet
        (ItemState.UPLOADED, ItemState.SYNCED),  # the metadata stage set it
    ]
    assert item(sandbox, photo_id)["tags"] == [identity_tag(sha256_of(clip))]


def test_on_change_new_uploads_a_second_item(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[reconcile]\non_change = "new"')
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    old = item(sandbox, photo_id)
    clip.write_bytes(os.urandom(4000))

    report, rows = push(sandbox_config, root)

    assert report.all_landed
    assert item(sandbox, photo_id) == old  # untouched
    new_id = rows[str(clip)].photo_id
    assert new_id != photo_id and item(sandbox, new_id)["sha256"] == sha256_of(clip)


def test_on_change_report_sends_nothing_until_reconcile_is_told_otherwise(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[reconcile]\non_change = "report"')
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    old = item(sandbox, photo_id)
    clip.write_bytes(os.urandom(4000))
    before = len(sandbox.requests)

    report, rows = push(sandbox_config, root)

    assert not report.all_landed
    row = rows[str(clip)]
    assert (row.state, row.error_code) == (ItemState.FAILED, CONTENT_CHANGED)
    assert 'on_change = "report"' in (row.error_message or "")
    # Nothing sent.
    assert sandbox.items() == [old]
    assert [r.method for r in sandbox.requests[before:]] == []
    # A reconcile under the same policy reports it; once the policy says replace, it does.
    rec = reconcile(sandbox_config, root)
    assert [str(r.action) for r in rec.results] == [f"changed {clip} photo {photo_id}: report"]
    assert rec.exit_status() == 1
    text = sandbox_config.read_text().replace('on_change = "report"', 'on_change = "replace"')
    sandbox_config.write_text(text)
    rec = reconcile(sandbox_config, root)
    assert [(str(r.action), r.outcome) for r in rec.results] == [
        (f"changed {clip} photo {photo_id}: replace", Outcome.DONE)
    ]
    assert rec.exit_status() == 0
    [only] = sandbox.items()
    assert (str(only["photo_id"]), only["sha256"]) == (photo_id, sha256_of(clip))


def test_push_dry_run_prints_the_replacement(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    clip.write_bytes(os.urandom(4000))
    report, _ = push(sandbox_config, root, dry_run=True)
    [line] = report.plans
    assert line.startswith(f"replace photo {photo_id} with {clip} [4000 B]; then update ")
    assert f"tags='{identity_tag(sha256_of(clip))}'" in line


def test_watch_replaces_a_changed_file_too(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root, clip, photo_id = synced_clip(sandbox_config, tmp_path)
    append_config(
        sandbox_config,
        f'[scan]\nstable_seconds = 0.3\n[daemon]\ndebounce = 0.05\n[[watch]]\npath = "{root}"',
    )
    daemon = Watch(sandbox_config, tmp_path / "watch.log")
    try:
        clip.write_bytes(os.urandom(5000))
        wanted = sha256_of(clip)
        daemon.wait_for("the item replaced", lambda: item(sandbox, photo_id)["sha256"] == wanted)
        assert len(sandbox.items()) == 1
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert item(sandbox, photo_id)["tags"] == [identity_tag(wanted)]


def test_a_replacement_keeps_chapters_and_coordinate_and_takes_the_thumbnail_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """The media changes; the sections and the coordinate syncd set stay as they are (no
    second coordinate), and the thumbnail frame is taken again from the new video."""
    root = tmp_path / "tree"
    root.mkdir()
    clip = root / "talk.mp4"
    clip.write_bytes(os.urandom(3000))
    sidecar = {
        "chapters": [{"start": 0, "title": "Intro"}, {"start": 30, "title": "Talk"}],
        "coordinates": {"latitude": 55.5, "longitude": 12.25},
        "thumbnail": 12,
    }
    (root / "talk.mp4.json").write_text(json.dumps(sidecar))
    report, rows = push(sandbox_config, root)
    assert report.all_landed
    photo_id = rows[str(clip)].photo_id or ""
    before = item(sandbox, photo_id)
    assert before["coordinates"] == [(55.5, 12.25)] and len(before["sections"]) == 2
    clip.write_bytes(os.urandom(4000))
    requests = len(sandbox.requests)

    report, rows = push(sandbox_config, root)

    assert report.all_landed and rows[str(clip)].state is ItemState.SYNCED
    after = item(sandbox, photo_id)
    assert after["sha256"] == sha256_of(clip) and after["replaced"] > before["replaced"]
    assert after["coordinates"] == before["coordinates"]
    assert after["sections"] == before["sections"]
    assert after["thumbnail"] == {"time": 12.0}
    # site/get (asked when a journal meets a domain it is not bound to) is not this work.
    methods = [r.method for r in sandbox.requests[requests:] if r.method != "site/get"]
    assert methods == [
        "photo/get-replace-token",
        "photo/redeem-replace-token",
        "photo/update",  # the fields, with the new marker
        "photo/replace",  # the thumbnail frame of the new video
    ]
