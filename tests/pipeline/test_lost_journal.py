"""Issue 12, defect 7: a new, lost or emptied journal, a second host, or a file moved after
an unknown outcome does not upload the archive again. Before the first upload of any
content the site is asked by identity marker; right after an upload, a copy another host
uploaded at the same moment wins if it is older (README: "What exactly once covers")."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections import Counter
from pathlib import Path

from pipeline_helpers import (
    PUSH_TIMEOUT,
    HeldRequests,
    assert_once_each,
    make_tree,
    run_syncd,
    sha256_of,
    start_syncd,
    upload_requests,
)

from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import IDENTITY_NAMESPACE, ItemState, identity_tag
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

FILES = 50
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=0.2, park_max=0.5)


def states(journal_file: Path) -> dict[str, tuple[ItemState, str | None]]:
    with Journal.open(journal_file) as journal:
        return {r.path: (r.state, r.photo_id) for r in journal.rows_in(list(ItemState))}


def uploads_by_marker(sandbox: Sandbox) -> Counter[str]:
    """How many photo/upload requests carried each identity marker."""
    prefix = f"{IDENTITY_NAMESPACE}:"
    return Counter(
        tag
        for r in sandbox.requests
        if r.method == "photo/upload"
        for tag in r.params.get("tags", "").split()
        if tag.startswith(prefix)
    )


def test_two_hosts_pushing_the_same_files_at_once_leave_one_item_each(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The race itself: each host's first upload (of clip000, the first file in path order,
    one file at a time) is held until the other host's has arrived too, so both hosts asked
    the site before either upload was stored, and both upload it. The check after an upload
    then keeps the older item and its host deletes the newer one."""
    tree = tmp_path / "tree"
    files = make_tree(tree, FILES)
    hosts = []
    for name in ("host-a", "host-b"):
        config = tmp_path / f"{name}.toml"
        sandbox.write_config(config, journal_path=tmp_path / f"{name}.db")
        hosts.append(config)
    with HeldRequests(sandbox, "photo/upload", release_at=2, timeout=PUSH_TIMEOUT) as held:
        procs = [
            start_syncd(config, "push", "--no-wait", "--concurrency", "1", tree) for config in hosts
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=PUSH_TIMEOUT)
            assert proc.returncode == 0, out.decode() + err.decode()

    assert held.max_in_flight == 2  # both first uploads were waiting at once
    sent = uploads_by_marker(sandbox)
    assert sum(sent.values()) == upload_requests(sandbox)  # every upload was direct
    assert sent[identity_tag(sha256_of(files[0]))] == 2  # both hosts sent clip000
    # Each upload beyond one per file left a newer copy, deleted by the host that made it.
    deletes = [r for r in sandbox.requests if r.method == "photo/delete"]
    assert len(deletes) == upload_requests(sandbox) - FILES >= 1
    assert_once_each(sandbox, files)
    a, b = (states(tmp_path / f"{name}.db") for name in ("host-a", "host-b"))
    assert {s for s, _ in a.values()} == {s for s, _ in b.values()} == {ItemState.SYNCED}
    assert a == b  # both journals name the same item for each file
    kept = {str(item["photo_id"]) for item in sandbox.items()}
    assert {photo for _, photo in a.values()} == kept


def test_a_deleted_journal_does_not_upload_the_archive_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree, FILES)
    first = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert first.returncode == 0, first.stderr
    before = {p: photo for p, (_, photo) in states(tmp_path / "journal.db").items()}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'journal.db'}{suffix}").unlink(missing_ok=True)

    again = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert again.returncode == 0, again.stdout + again.stderr
    assert upload_requests(sandbox) == FILES  # the first push's only
    assert_once_each(sandbox, files)
    after = states(tmp_path / "journal.db")
    assert {p: photo for p, (_, photo) in after.items()} == before
    assert {s for s, _ in after.values()} == {ItemState.SYNCED}


def test_a_journal_truncated_to_zero_bytes_does_not_upload_the_archive_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree, FILES)
    first = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert first.returncode == 0, first.stderr
    journal = tmp_path / "journal.db"
    assert not Path(f"{journal}-wal").exists()  # closed cleanly: all of it is in the file
    os.truncate(journal, 0)

    again = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert again.returncode == 0, again.stdout + again.stderr
    assert upload_requests(sandbox) == FILES
    assert_once_each(sandbox, files)
    assert {s for s, _ in states(journal).values()} == {ItemState.SYNCED}


def test_a_file_moved_after_an_unknown_outcome_is_found_not_sent_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """The upload was stored but its answer lost, and every lookup failed: the row waits in
    `retry` without a photo_id. Moved, the file is new at its new path (the old row goes
    as vanished); its first upload asks the site, which has it."""
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1, size=3000)
    config = load_config(sandbox_config)
    sandbox.faults.add("photo/upload", cut_after_store=True, count=1)
    sandbox.faults.add("photo/list", status=503, count=1000)
    # The first attempt as a syncd that did not ask before a first upload: it sends at once.
    blind = dataclasses.replace(
        config, upload=dataclasses.replace(config.upload, lookup_before_upload=False)
    )
    with Journal.open(config.journal_path) as journal:
        Push(blind, journal, policy=FAST, patience=0).run(PushOptions(roots=[tree], no_wait=True))
        row = journal.get(str(clip))
        assert row is not None and (row.state, row.photo_id) == (ItemState.RETRY, None)
    assert len(sandbox.items()) == 1
    sandbox.faults.clear()
    moved = tree / "renamed" / "clip-moved.mp4"
    moved.parent.mkdir()
    shutil.move(clip, moved)
    os.utime(moved)  # a new mtime, as a copy to another disk would give it
    sent = upload_requests(sandbox)

    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(PushOptions(roots=[tree], no_wait=True))
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}

    assert report.all_landed, (report.failed, report.waiting)
    assert upload_requests(sandbox) == sent
    assert_once_each(sandbox, [moved])
    assert rows[str(moved)].photo_id == str(sandbox.items()[0]["photo_id"])


def test_a_second_host_with_its_own_journal_adopts_what_the_first_uploaded(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree, 5)
    first = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert first.returncode == 0, first.stderr
    config = load_config(sandbox_config)
    other = dataclasses.replace(config, journal_path=tmp_path / "other-host.db")
    with Journal.open(other.journal_path) as journal:
        report = Push(other, journal, policy=FAST).run(PushOptions(roots=[tree], no_wait=True))
    assert report.all_landed
    assert upload_requests(sandbox) == len(files)
    assert_once_each(sandbox, files)
