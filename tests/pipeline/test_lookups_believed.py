"""Issue 12, defects 1 and 3: what the site answers to a lookup is read the documented way
(`no_such_tag` means "not there") and believed only after it is checked. A file whose
lookup cannot be believed is held with the candidates named: never uploaded twice, never
recorded against an item that is not its own."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_helpers import (
    PUSH_TIMEOUT,
    HeldRequests,
    append_config,
    assert_once_each,
    items_by_sha,
    journal_path,
    make_tree,
    run_syncd,
    sha256_of,
    start_syncd,
    upload_requests,
)

from syncd.config import load_config
from syncd.errors import Interrupted
from syncd.journal import Journal
from syncd.model import FileRow, ItemState, UploadMode, identity_tag
from syncd.pipeline.report import RunReport
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox
from syncd.upload.landed import LandedCheck

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=0.2, park_max=0.5)
REDEEM = "photo/redeem-upload-token"


def push(config_path: Path, root: Path, **options: object) -> tuple[RunReport, dict[str, FileRow]]:
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=[root], no_wait=True, **options)  # type: ignore[arg-type]
        )
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}
    return report, rows


def assert_each_recorded_item_is_its_own(sandbox: Sandbox, rows: dict[str, FileRow]) -> None:
    """Every photo_id the journal records holds that row's content."""
    items = {str(i["photo_id"]): i for i in sandbox.items()}
    for row in rows.values():
        if row.photo_id is not None:
            assert items[row.photo_id]["sha256"] == row.sha256, (row.path, row.photo_id)


def test_no_such_tag_from_a_lookup_means_not_there_and_retry_all_sends_nothing(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile(no_such_tag=True)
    tree = tmp_path / "tree"
    files = make_tree(tree, 3)
    # The whole body is sent, then a proxy gives up (504) before the site stored it: the
    # outcome is unknown, so the site is asked by marker, and answers no_such_tag.
    rule = sandbox.faults.add("photo/upload", status=504, count=1)

    first = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert first.returncode == 0, first.stdout + first.stderr
    assert rule.fired == 1
    assert sandbox.count_requests("photo/list") >= 3  # every file was asked about
    assert_once_each(sandbox, files)
    sent = upload_requests(sandbox)
    retried = run_syncd(sandbox_config, "retry", "--all")
    assert retried.stdout.strip().startswith("0 file(s) queued again"), retried.stdout
    again = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert again.returncode == 0, again.stdout + again.stderr
    assert upload_requests(sandbox) == sent
    assert_once_each(sandbox, files)


def test_a_site_ignoring_the_tag_filter_gets_nothing_adopted_and_nothing_sent_twice(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile(careless=True)  # photo/list ignores `tags`: every lookup lists all
    tree = tmp_path / "tree"
    files = make_tree(tree, 6, size=1000)
    # An older item of the same size that is no file's: a careless lookup finds it first.
    stranger = sandbox.add_item(b"x" * 1000, title="someone else's video")
    # Three uploads are stored, then the connection is cut: their outcome is unknown.
    sandbox.faults.add("photo/upload", cut_after_store=True, count=3)

    report, rows = push(sandbox_config, tree, concurrency=1)

    assert_each_recorded_item_is_its_own(sandbox, rows)
    assert all(r.photo_id != str(stranger) for r in rows.values())
    held = [r for r in rows.values() if r.state is ItemState.FAILED]
    synced = [r for r in rows.values() if r.state is ItemState.SYNCED]
    assert len(held) == 3 and len(synced) == 3, [(r.path, r.state) for r in rows.values()]
    for row in held:
        assert row.error_code == "held"
        message = row.error_message or ""
        assert "ignores the tags filter" in message and identity_tag(row.sha256 or "") in message
    # Nothing was sent twice: each file's content is on the site at most once.
    assert max(items_by_sha(sandbox).values()) == 1
    assert upload_requests(sandbox) == len(files)
    assert not report.all_landed


def test_a_site_ignoring_the_tag_filter_only_once_it_holds_items_is_caught(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """An empty careless site passes the run's first check; the check made again before an
    answer with items is believed catches it."""
    sandbox.set_profile(careless=True)
    tree = tmp_path / "tree"
    files = make_tree(tree, 4, size=1000)
    sandbox.faults.add("photo/upload", cut_after_store=True, count=2)

    _, rows = push(sandbox_config, tree, concurrency=1)

    assert_each_recorded_item_is_its_own(sandbox, rows)
    assert max(items_by_sha(sandbox).values()) == 1
    assert len(sandbox.items()) == len(files)
    assert Counter(r.state for r in rows.values()) == {ItemState.SYNCED: 2, ItemState.FAILED: 2}


def test_two_items_with_the_files_marker_hold_the_file_naming_both(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1, size=2000)
    marker = identity_tag(sha256_of(clip))
    first = sandbox.add_item(clip.read_bytes(), tags=[marker], filename="clip000.mp4")
    second = sandbox.add_item(clip.read_bytes(), tags=[marker], filename="clip000.mp4")

    report, rows = push(sandbox_config, tree)

    row = rows[str(clip)]
    assert (row.state, row.error_code, row.photo_id) == (ItemState.FAILED, "held", None)
    assert f"photo {first}" in (row.error_message or "")
    assert f"photo {second}" in (row.error_message or "")
    assert upload_requests(sandbox) == 0  # neither adopted nor uploaded a third time
    assert len(sandbox.items()) == 2
    assert [r.path for r in report.failed] == [str(clip)]


def test_an_item_with_the_files_marker_but_another_size_is_not_adopted(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1, size=2000)
    other = sandbox.add_item(b"y" * 10, tags=[identity_tag(sha256_of(clip))])

    _, rows = push(sandbox_config, tree)

    row = rows[str(clip)]
    assert (row.state, row.error_code) == (ItemState.FAILED, "held")
    assert f"photo {other}" in (row.error_message or "") and "10 bytes" in (row.error_message or "")
    assert upload_requests(sandbox) == 0


def test_a_site_ignoring_the_upload_token_filter_gets_nothing_adopted(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile(careless="upload_token")
    tree = tmp_path / "tree"
    files = make_tree(tree, 3, size=1000)
    stranger = sandbox.add_item(b"z" * 1000)
    # Redeems stored, then cut: whether the upload landed is asked by upload token.
    sandbox.faults.add(REDEEM, cut_after_store=True, count=2)

    _, rows = push(sandbox_config, tree, mode=UploadMode.TOKEN, concurrency=1)

    assert_each_recorded_item_is_its_own(sandbox, rows)
    assert all(r.photo_id != str(stranger) for r in rows.values())
    held = [r for r in rows.values() if r.state is ItemState.FAILED]
    assert len(held) == 2
    assert all("upload_token filter" in (r.error_message or "") for r in held)
    assert max(items_by_sha(sandbox).values()) == 1
    assert {sha256_of(p) for p in files} <= set(items_by_sha(sandbox))


def test_lookups_before_the_first_upload_can_be_turned_off(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    with open(sandbox_config, "a", encoding="utf-8") as fh:
        fh.write("\n[upload]\nlookup_before_upload = false\n")
    tree = tmp_path / "tree"
    files = make_tree(tree, 3)
    report, _ = push(sandbox_config, tree)
    assert report.all_landed
    assert sandbox.count_requests("photo/list") == 0
    assert_once_each(sandbox, files)


def test_an_earlier_copy_is_adopted_and_the_event_says_so(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """The lookup before the first upload: the content is on the site already (another
    host, a lost journal), so it is recorded, not sent."""
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1, size=2000)
    data = clip.read_bytes()
    there = sandbox.add_item(data, tags=[identity_tag(hashlib.sha256(data).hexdigest())])
    _, rows = push(sandbox_config, tree)
    assert rows[str(clip)].photo_id == str(there)
    assert rows[str(clip)].state is ItemState.SYNCED
    assert upload_requests(sandbox) == 0


def test_without_lookups_before_uploads_an_unknown_outcome_is_still_asked_about(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    with open(sandbox_config, "a", encoding="utf-8") as fh:
        fh.write("\n[upload]\nlookup_before_upload = false\n")
    tree = tmp_path / "tree"
    files = make_tree(tree, 3)
    sandbox.faults.add("photo/upload", cut_after_store=True, count=1)
    report, rows = push(sandbox_config, tree)
    assert report.all_landed
    assert sandbox.count_requests("photo/list") >= 1  # the cut upload was looked up
    assert_once_each(sandbox, files)
    assert {r.state for r in rows.values()} == {ItemState.SYNCED}


def test_a_stop_while_looking_for_copies_keeps_the_record_of_what_landed(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        run = Push(config, journal, policy=FAST)

        def stopped(*_args: object) -> None:
            run.request_stop()  # a first Ctrl-C, right after the upload landed
            raise Interrupted("stopping")

        monkeypatch.setattr(LandedCheck, "older_copy", stopped)
        run.run(PushOptions(roots=[tree], no_wait=True))
        row = journal.get(str(clip))
    [item] = sandbox.items()
    assert row is not None and row.photo_id == str(item["photo_id"])
    assert row.state is ItemState.SYNCED


@pytest.mark.parametrize(
    ("mode", "method"), [("direct", "photo/upload"), ("token", REDEEM)], ids=["direct", "token"]
)
def test_an_item_found_with_another_title_than_the_upload_sent_is_held(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, mode: str, method: str
) -> None:
    """Both uploads are stored and their answers cut; the lookup that follows (by marker, or
    by the token this claim asked for), in the same claim, knows the title sent. The first
    file's item is retitled before its lookup is answered (as a site answering someone
    else's item would show it): held, naming it. The second's title comes back as the site
    stores it (HTML stripped): that is a match."""
    append_config(sandbox_config, "[upload]\nlookup_before_upload = false")
    tree = tmp_path / "tree"
    first, second = make_tree(tree, 2, size=1000)
    for path in (first, second):
        sidecar = path.with_name(path.name + ".json")
        sidecar.write_text('{"title": "<b>Sunset</b>  over Oslo"}', encoding="utf-8")
    sandbox.faults.add(method, cut_after_store=True, count=2)

    # The first photo/list is the first file's lookup after its cut upload (nothing asks
    # before a first upload here): hold it while the stored item is retitled.
    with HeldRequests(sandbox, "photo/list", timeout=PUSH_TIMEOUT) as held:
        proc = start_syncd(
            sandbox_config, "push", "--no-wait", "--mode", mode, "--concurrency", "1", tree
        )
        wait_until(lambda: held.arrived >= 1, "the lookup after the cut upload")
        [stored] = sandbox.items()
        assert stored["sha256"] == sha256_of(first) and stored["title"] == "Sunset  over Oslo"
        retitle(sandbox, stored["photo_id"], "someone else's video")
        held.release()
        out, err = proc.communicate(timeout=PUSH_TIMEOUT)

    assert proc.returncode == 1, out.decode() + err.decode()
    with Journal.open(journal_path(sandbox_config)) as journal:
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}
    held_row, adopted = rows[str(first)], rows[str(second)]
    assert (held_row.state, held_row.error_code, held_row.photo_id) == (
        ItemState.FAILED,
        "held",
        None,
    )
    message = held_row.error_message or ""
    what = identity_tag(sha256_of(first)) if mode == "direct" else "its upload token"
    assert f"photo {stored['photo_id']} answers to {what}" in message
    assert "its title is \"someone else's video\", the upload sent 'Sunset over Oslo'" in message
    assert adopted.state is ItemState.SYNCED
    assert adopted.photo_id == next(
        str(i["photo_id"]) for i in sandbox.items() if i["sha256"] == sha256_of(second)
    )
    # Neither file was sent again.
    assert upload_requests(sandbox) == 2 and len(sandbox.items()) == 2
    # Once the operator has looked, `syncd retry` lets the next run take the item: that
    # attempt's lookup follows another run's attempt, whose title is not known for certain.
    assert run_syncd(sandbox_config, "retry", "--all").returncode == 0
    again = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert again.returncode == 0, again.stdout + again.stderr
    with Journal.open(journal_path(sandbox_config)) as journal:
        row = journal.get(str(first))
    assert row is not None and row.photo_id == str(stored["photo_id"])
    assert upload_requests(sandbox) == 2 and len(sandbox.items()) == 2


def retitle(sandbox: Sandbox, photo_id: object, title: str) -> None:
    """Change an item's title in the sandbox's own state (no HTTP)."""
    with sandbox.state.lock:
        record = sandbox.state.get("items", photo_id)
        assert record is not None
        record["title"] = title
        sandbox.state.put("items", photo_id, record)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for an event another process causes (polled; fails after PUSH_TIMEOUT)."""
    deadline = time.monotonic() + PUSH_TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
