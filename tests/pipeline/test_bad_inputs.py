"""Issue 4: bad inputs. Each gets a clear message naming the file, and none of them stops the
other files from landing (exit 1 when something did not land).

Permission cases run `syncd push` with file permissions really enforced: as root the child
drops CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (see conftest.drop_file_powers); as any other
user chmod binds anyway. So they test the same thing as root and as non-root.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    HeldRequests,
    append_config,
    assert_once_each,
    items_by_sha,
    journal_states,
    make_tree,
    run_syncd,
    sha256_of,
    start_syncd,
    wait_for,
)

from syncd.journal import Journal, read_state
from syncd.model import ItemState
from syncd.sandbox import Sandbox

# The other files in every tree: they must all land whatever the bad one does.
GOOD_FILES = 3
# The growing file: two 1 MiB socket blocks, so a change after the first is caught.
GROWER_SIZE = 2 * 1024 * 1024


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "tree"
    make_tree(root, GOOD_FILES)
    yield root
    # Give back every permission a test took away, so tmp_path can be cleaned up.
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)


def good_files(root: Path) -> list[Path]:
    return sorted(root.glob("clip*.mp4"))


Report = dict[str, Any]


def push_json(
    config: Path, root: Path, *extra: str, unprivileged: bool = False
) -> tuple[subprocess.CompletedProcess[str], Report]:
    """`syncd push --no-wait --json ... ROOT`: the process and its JSON report."""
    result = run_syncd(
        config, "push", "--no-wait", "--json", *extra, root, unprivileged=unprivileged
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result, json.loads(result.stdout)


def named(report: Report, path: Path | str, key: str) -> Report:
    """The entry of `report[key]` naming `path`."""
    hits = [e for e in report[key] if e["path"] == str(path)]
    assert len(hits) == 1, f"{path} not (once) in {key}: {report[key]}"
    return hits[0]


def test_unreadable_file_fails_alone(sandbox: Sandbox, sandbox_config: Path, tree: Path) -> None:
    bad = tree / "locked.mp4"
    bad.write_bytes(b"secret footage" * 100)
    bad.chmod(0)
    result, report = push_json(sandbox_config, tree, unprivileged=True)
    assert result.returncode == 1, result.stdout + result.stderr
    entries = [e for k in ("failed", "problems") for e in report[k] if e["path"] == str(bad)]
    assert entries, report
    assert any("ermission denied" in (e.get("message") or "") for e in entries), entries
    assert journal_states(sandbox_config)[str(bad)] is ItemState.FAILED
    assert_once_each(sandbox, good_files(tree))


def test_file_deleted_after_scan_is_dropped(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    """Hashed and queued by one run, deleted before the next: nothing to send, and its
    history says what happened to it."""
    gone = tree / "gone.mp4"
    gone.write_bytes(b"here today" * 100)
    dry = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", tree)
    assert dry.returncode == 0, dry.stderr
    assert journal_states(sandbox_config)[str(gone)] is ItemState.READY  # hashed, queued
    gone.unlink()
    result, report = push_json(sandbox_config, tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["failed"] == [] and report["counts"] == {"synced": GOOD_FILES}
    assert str(gone) not in journal_states(sandbox_config)
    assert_once_each(sandbox, good_files(tree))
    history = run_syncd(sandbox_config, "status", gone)
    assert "not in the journal" in history.stdout
    assert "ready -> -  vanished from disk" in history.stdout, history.stdout


def test_file_deleted_while_queued_fails_with_its_name(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    """Deleted after the push's own scan, while it waited for a worker: reported, not lost."""
    gone = tree / "zz-gone.mp4"  # sorts last: claimed after the held upload
    gone.write_bytes(b"here today" * 100)
    with HeldRequests(sandbox, "photo/upload") as held:
        proc = start_syncd(
            sandbox_config, "push", "--no-wait", "--concurrency", "1", "--json", tree
        )
        try:
            # The first upload is held at the sandbox: the only worker is busy.
            wait_for("the first upload", lambda: held.arrived >= 1, 60, proc)
            assert read_state(sandbox_config.parent / "journal.db", gone) == "ready"
            gone.unlink()
            held.release()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1, err
    report = json.loads(out)
    message = named(report, gone, "failed")["message"]
    assert str(gone) in message and "disappeared" in message, message
    assert_once_each(sandbox, good_files(tree))


@pytest.mark.slow(seconds=2)
def test_file_growing_during_upload_is_requeued_and_sent_whole(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    grower = tree / "growing.mp4"
    # Several socket blocks: the change is seen at the next block, with more to send.
    grower.write_bytes(os.urandom(GROWER_SIZE))
    journal_file = sandbox_config.parent / "journal.db"
    proc = start_syncd(sandbox_config, "push", "--no-wait", "--bwlimit", "1MiB", tree)
    try:
        wait_for(
            "the upload to start", lambda: read_state(journal_file, grower) == "uploading", 60, proc
        )
        with open(grower, "ab") as fh:
            fh.write(b"one more take" * 1000)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out.decode() + err.decode()
    assert "changed while being uploaded" in err.decode(), err.decode()
    final_sha = sha256_of(grower)
    # Exactly one item for the file, holding its final content; no half-old item.
    assert items_by_sha(sandbox)[final_sha] == 1
    assert_once_each(sandbox, [*good_files(tree), grower])
    with Journal.open(journal_file) as journal:
        row = journal.get(str(grower))
        assert row is not None and row.state is ItemState.SYNCED and row.sha256 == final_sha
        tos = [e.to_state for e in journal.events(str(grower))]
        assert ItemState.PENDING in tos[1:], tos  # went back to the scanner once


def test_zero_byte_file_is_skipped_as_empty(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    empty = tree / "empty.mp4"
    empty.touch()
    result, report = push_json(sandbox_config, tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["counts"] == {"synced": GOOD_FILES, "skipped": 1}
    assert report["skipped"] == [{"path": str(empty), "reason": "empty file"}]
    assert_once_each(sandbox, good_files(tree))
    plain = run_syncd(sandbox_config, "push", "--no-wait", tree)  # a rerun names it no more
    assert "SKIPPED" not in plain.stdout
    empty.unlink()
    empty.touch()  # a new empty file is named again, in the plain report too
    plain = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert f"SKIPPED {empty}: empty file" in plain.stdout, plain.stdout
    history = run_syncd(sandbox_config, "status", empty)
    assert "skipped" in history.stdout and "empty file" in history.stdout, history.stdout


@pytest.mark.parametrize("mode", ["direct", "token", "chunked"])
def test_non_utf8_filename_lands_and_prints(
    sandbox: Sandbox, sandbox_config: Path, tree: Path, mode: str
) -> None:
    raw = os.fsencode(tree) + b"/caf\xe9-\xff.mp4"  # Latin-1 bytes: not UTF-8
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"latin-1 named clip" * 50)
    os.close(fd)
    result, report = push_json(sandbox_config, tree, "--mode", mode, "--chunk-size", "256")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["counts"] == {"synced": GOOD_FILES + 1}
    assert_once_each(sandbox, [*good_files(tree), Path(os.fsdecode(raw))])
    [item] = [i for i in sandbox.items() if i["sha256"] == sha256_of(raw)]
    assert item["title"] == "caf\\xe9-\\xff"  # the odd bytes, readable
    # Output stays valid UTF-8 (run_syncd decodes strictly) and names the file readably.
    status = run_syncd(sandbox_config, "status", "--json")
    assert status.returncode == 0, status.stderr
    history = run_syncd(sandbox_config, "status", os.fsdecode(raw))
    assert history.returncode == 0, history.stderr
    assert "caf" in history.stdout and "synced" in history.stdout, history.stdout


def test_symlink_loop_fifo_and_device_are_skipped_not_failures(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    """Not media: named once as skipped; a push timer does not fail for ever on them."""
    append_config(sandbox_config, "[scan]\nfollow_symlinks = true")
    sub = tree / "sub"
    sub.mkdir()
    make_tree(sub, 1, prefix="deep")
    (sub / "loop").symlink_to("..")
    os.mkfifo(tree / "pipe.mp4")
    (tree / "zero.mp4").symlink_to("/dev/zero")
    result, report = push_json(sandbox_config, tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "symlink loop" in named(report, sub / "loop", "not_media")["message"]
    assert "not a regular file" in named(report, tree / "pipe.mp4", "not_media")["message"]
    assert "not a regular file" in named(report, tree / "zero.mp4", "not_media")["message"]
    assert report["problems"] == [] and report["not_landed"] == []
    assert_once_each(sandbox, [*good_files(tree), *sub.glob("deep*.mp4")])
    again, _ = push_json(sandbox_config, tree)
    assert again.returncode == 0, again.stdout + again.stderr


def test_unlistable_directory_is_reported_and_the_rest_lands(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    closed = tree / "closed"
    closed.mkdir()
    make_tree(closed, 1, prefix="hidden")
    closed.chmod(0)
    result, report = push_json(sandbox_config, tree, unprivileged=True)
    assert result.returncode == 1, result.stdout + result.stderr
    problem = named(report, closed, "problems")
    assert "cannot list directory" in problem["message"]
    assert "ermission denied" in problem["message"]
    assert_once_each(sandbox, good_files(tree))


def test_journal_not_writable_is_a_config_error(
    sandbox: Sandbox, tmp_path: Path, tree: Path
) -> None:
    locked = tmp_path / "state"
    locked.mkdir()
    config = sandbox.write_config(tmp_path / "j.toml", journal_path=locked / "journal.db")
    locked.chmod(0o555)
    result = run_syncd(config, "push", "--no-wait", tree, unprivileged=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(locked / "journal.db") in result.stderr, result.stderr
    assert "journal" in result.stderr.lower()
    assert sandbox.items() == []


def test_broken_sidecar_fails_only_its_file(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    clip = tree / "described.mp4"
    clip.write_bytes(b"clip with a broken sidecar" * 40)
    sidecar = tree / "described.mp4.json"
    sidecar.write_text('{"title": "Harbour at dawn", "tags": ["sea",}', encoding="utf-8")
    result, report = push_json(sandbox_config, tree)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = named(report, clip, "failed")
    assert str(sidecar) in failed["message"], failed
    assert_once_each(sandbox, good_files(tree))
    # Fixed sidecar + retry: the file lands with its metadata.
    sidecar.write_text('{"title": "Harbour at dawn", "tags": ["sea"]}', encoding="utf-8")
    assert run_syncd(sandbox_config, "retry", clip).returncode == 0
    again, _ = push_json(sandbox_config, tree)
    assert again.returncode == 0, again.stdout + again.stderr
    [item] = [i for i in sandbox.items() if i["sha256"] == sha256_of(clip)]
    assert item["title"] == "Harbour at dawn" and "sea" in item["tags"]


@pytest.mark.parametrize(
    "custom",
    [
        pytest.param({"photo_id": "10001"}, id="photo_id"),  # stopped the run: TypeError
        pytest.param({"tags": "foo"}, id="tags"),  # replaced the identity marker
    ],
)
def test_custom_variable_named_like_a_parameter_fails_only_its_file(
    sandbox: Sandbox, sandbox_config: Path, tree: Path, custom: dict[str, str]
) -> None:
    clip = tree / "overriding.mp4"
    clip.write_bytes(b"clip whose sidecar names a parameter" * 40)
    sidecar = tree / "overriding.mp4.json"
    sidecar.write_text(json.dumps({"albums": ["One", "Two"], "custom": custom}))
    for _push in range(2):  # and every later push of the folder says the same, calmly
        result, report = push_json(sandbox_config, tree)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        failed = named(report, clip, "failed")
        (key,) = custom
        assert f"{sidecar}: custom.{key}: " in failed["message"], failed
        assert_once_each(sandbox, good_files(tree))
    assert all(i["sha256"] != sha256_of(clip) for i in sandbox.items())
