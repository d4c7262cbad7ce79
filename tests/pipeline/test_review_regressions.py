"""Regressions found by an adversarial review of the exactly-once and crash-safety logic.

Each test failed before its fix: a duplicate, content that never landed while push said
it had, a push that never ended, or a file re-sent forever.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from pipeline_helpers import write_random_file

from syncd.api.client import Client
from syncd.config import load_config
from syncd.errors import ProtocolError
from syncd.journal import Journal
from syncd.model import FileRow, ItemState, LocalFile, UploadMode
from syncd.pipeline.report import RunReport
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=0.2, park_max=0.5)
REDEEM = "photo/redeem-upload-token"
CHUNK = 64 * 1024


def push(
    config_path: Path, root: Path, policy: RetryPolicy = FAST, **options: object
) -> tuple[RunReport, dict[str, FileRow]]:
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=policy).run(
            PushOptions(roots=[root], no_wait=True, **options)  # type: ignore[arg-type]
        )
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}
    return report, rows


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unreadable_answer_to_a_stored_upload_is_checked_not_resent(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.mp4").write_bytes(os.urandom(5000))
    real = Client.photo_upload
    calls = {"n": 0}

    def garbled(self: Client, part: object, fields: object) -> object:
        result = real(self, part, fields)  # type: ignore[arg-type]
        calls["n"] += 1
        if calls["n"] == 1:  # the site stored it, but its answer could not be read
            raise ProtocolError("photo/upload: the answer is not JSON")
        return result

    monkeypatch.setattr(Client, "photo_upload", garbled)
    _, rows = push(sandbox_config, root, mode=UploadMode.DIRECT)

    assert len(sandbox.items()) == 1
    assert calls["n"] == 1  # found by its identity marker, never sent again
    assert next(iter(rows.values())).state is ItemState.SYNCED


def test_whole_file_redeem_the_site_cannot_process_fails_the_file(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.mp4").write_bytes(os.urandom(5000))
    sandbox.faults.add(REDEEM, error_processing_upload=True)

    _, rows = push(sandbox_config, root, mode=UploadMode.TOKEN)

    row = next(iter(rows.values()))
    assert row.state is ItemState.FAILED, (row.state, row.error_message)
    assert "could not process" in (row.error_message or "")
    assert sum(1 for r in sandbox.requests if r.method == REDEEM) == 1  # never resent


def test_pending_row_no_scan_can_settle_does_not_hang_the_push(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    clip = root / "a.mp4"
    clip.write_bytes(os.urandom(5000))
    elsewhere = tmp_path / "elsewhere.mp4"
    elsewhere.write_bytes(os.urandom(10))
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:  # a previous run saw it, unstable
        st = clip.stat()
        journal.observe_batch(
            [LocalFile(str(clip), st.st_size, st.st_mtime_ns, st.st_ino)], str(root)
        )
    clip.unlink()
    clip.symlink_to(elsewhere)  # now a symlink: never walked, never vanished
    result: dict[str, RunReport] = {}
    worker = threading.Thread(
        target=lambda: result.update(report=push(sandbox_config, root)[0]), daemon=True
    )
    worker.start()
    worker.join(20)

    assert not worker.is_alive(), "push still running: it waits forever for the row"
    assert not result["report"].all_landed  # and it says so


def test_watch_path_with_dotdot_is_normalised(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.mp4").write_bytes(os.urandom(5000))
    (tmp_path / "sub").mkdir()
    with open(sandbox_config, "a", encoding="utf-8") as fh:
        fh.write(f'\n[[watch]]\npath = "{tmp_path}/sub/../media"\nalbum = "Media"\n')
    config = load_config(sandbox_config)
    assert config.watch[0].path == media

    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=[w.path for w in config.watch], no_wait=True)
        )

    assert report.all_landed
    [item] = sandbox.items()
    assert item["albums"] == ["Media"]


@pytest.mark.parametrize("how", ["touch", "copied-over"])
def test_synced_file_touched_or_copied_over_is_not_uploaded_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, how: str
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    clip = root / "a.mp4"
    clip.write_bytes(os.urandom(5000))
    push(sandbox_config, root)
    [item] = sandbox.items()
    if how == "touch":
        os.utime(clip, None)
    else:  # same bytes, new inode (cp over it, rsync's temp file + rename), mtime kept
        data, st = clip.read_bytes(), clip.stat()
        tmp = root / ".a.tmp"
        tmp.write_bytes(data)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, clip)
    before = sandbox.count_requests()

    _, rows = push(sandbox_config, root)

    assert [i["photo_id"] for i in sandbox.items()] == [item["photo_id"]]
    row = rows[str(clip)]
    assert (row.state, row.photo_id) == (ItemState.SYNCED, str(item["photo_id"]))
    # Recognised by its hash alone: not even a lookup on the site.
    assert [r.method for r in sandbox.requests[before:]] == []


def test_chunk_session_never_resumes_with_changed_content(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    clip = root / "clip.mp4"
    write_random_file(clip, CHUNK * 8, seed=1)
    # Three chunks land, then the fourth fails a whole round: parked, session kept.
    sandbox.faults.add(REDEEM, delay=0.0, count=3)
    sandbox.faults.add(REDEEM, status=502, count=5)
    patient = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=1000, park_max=2000)
    _, rows = push(sandbox_config, root, patient, mode=UploadMode.CHUNKED, chunk_size=CHUNK)
    assert rows[str(clip)].state is ItemState.RETRY
    # The clip is re-exported: same size, new bytes.
    time.sleep(0.01)
    write_random_file(clip, CHUNK * 8, seed=2)

    _, rows = push(sandbox_config, root, mode=UploadMode.CHUNKED, chunk_size=CHUNK)

    assert rows[str(clip)].state is ItemState.SYNCED
    assert [i["sha256"] for i in sandbox.items()] == [sha_of(clip)]


def test_copy_skipped_as_a_duplicate_lands_when_its_twin_vanishes(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    a, b = root / "a.mp4", root / "b.mp4"
    a.write_bytes(os.urandom(5000))
    b.write_bytes(a.read_bytes())
    push(sandbox_config, root, dry_run=True)  # scanned: one ready, the other skipped
    a.unlink()  # the kept copy is removed before the upload

    report, rows = push(sandbox_config, root)

    assert report.all_landed
    assert [i["sha256"] for i in sandbox.items()] == [sha_of(b)]
    assert rows[str(b)].state is ItemState.SYNCED
