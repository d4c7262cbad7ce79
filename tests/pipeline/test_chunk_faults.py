"""Issue 5: chunked (Resumable.js) and token uploads under chunk-level faults.

Spec section 6: a chunk answered 500 cancels the upload; any other failure means resend
that chunk. A token that expires mid-upload is checked (did the file land?) and replaced;
a token whose upload landed while its answer was lost is never used for a second item.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from pipeline_helpers import (
    assert_once_each,
    run_syncd,
    start_syncd,
    wait_for,
    write_random_file,
)

from syncd.config import load_config
from syncd.journal import Journal, read_chunk_progress
from syncd.model import ItemState, UploadMode
from syncd.pipeline.report import RunReport
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

REDEEM = "photo/redeem-upload-token"
# Chunk layout of the test file: CHUNKS chunks of CHUNK bytes.
CHUNK = 64 * 1024
CHUNKS = 8
# Fast back-off: the faults decide the outcome, not the clock.
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.1, park_first=0.5, park_max=1.0)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    path = root / "long-take.mp4"
    write_random_file(path, CHUNK * CHUNKS, seed=5)
    return path


def pass_requests(sandbox: Sandbox, n: int) -> None:
    """Let the next `n` redeem requests through untouched, so a rule added after this one
    hits request n+1 (rules are tried in order; a zero delay changes nothing)."""
    sandbox.faults.add(REDEEM, delay=0.0, count=n)


def push(config: Path, root: Path, mode: UploadMode = UploadMode.CHUNKED) -> RunReport:
    cfg = load_config(config)
    with Journal.open(cfg.journal_path) as journal:
        return Push(cfg, journal, policy=FAST).run(
            PushOptions(roots=[root], no_wait=True, mode=mode, chunk_size=CHUNK)
        )


def chunk_posts(sandbox: Sandbox) -> list[int]:
    """Statuses of chunk POSTs, in order (0 = connection cut)."""
    # The chunk that completes the file is answered by the redirect to the token's
    # return_url (301): for the chunk, that is "accepted" as a 200 is.
    return [
        200 if r.status == 301 else r.status
        for r in sandbox.requests
        if r.method == REDEEM and r.http_method == "POST"
    ]


def state_of(config: Path, path: Path) -> ItemState:
    with Journal.open(load_config(config).journal_path) as journal:
        row = journal.get(str(path))
        assert row is not None
        return row.state


def test_chunk_answered_500_cancels_the_upload(
    sandbox: Sandbox, sandbox_config: Path, clip: Path
) -> None:
    pass_requests(sandbox, 2)
    sandbox.faults.add(REDEEM, status=500, count=1)
    report = push(sandbox_config, clip.parent)
    assert sandbox.items() == []
    [failed] = report.failed
    assert failed.path == str(clip)
    assert failed.error_code == "unsupported_file"
    assert "chunk 3" in (failed.error_message or "") and "HTTP 500" in (failed.error_message or "")
    assert "cancelled" in (failed.error_message or "")
    # Cancelled means cancelled: no chunk after the refused one, no session left to resume.
    assert chunk_posts(sandbox) == [200, 200, 500]
    with Journal.open(load_config(sandbox_config).journal_path) as journal:
        assert journal.session(str(clip)) is None


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 429, "retry_after": 0.05},
        {"cut_after_bytes": 1000},
    ],
    ids=["503", "429", "cut"],
)
def test_chunk_resent_after_transient_fault(
    sandbox: Sandbox, sandbox_config: Path, clip: Path, fault: dict[str, float]
) -> None:
    pass_requests(sandbox, 3)
    rule = sandbox.faults.add(REDEEM, count=2, **fault)
    report = push(sandbox_config, clip.parent)
    assert report.all_landed, (report.failed, report.waiting)
    assert rule.fired == 2
    assert_once_each(sandbox, [clip])
    # Chunk 4 was sent three times (two faults, then accepted); every other chunk once.
    statuses = chunk_posts(sandbox)
    assert len(statuses) == CHUNKS + 2, statuses
    assert statuses[:3] == [200, 200, 200] and statuses[5:] == [200] * (CHUNKS - 3)
    assert state_of(sandbox_config, clip) is ItemState.SYNCED


@pytest.mark.slow(seconds=2)
def test_token_expired_mid_upload_gets_a_new_token_and_one_item(
    sandbox: Sandbox, sandbox_config: Path, clip: Path
) -> None:
    pass_requests(sandbox, 3)
    sandbox.faults.add(REDEEM, expire_token=True, count=1)
    report = push(sandbox_config, clip.parent)
    assert report.all_landed, (report.failed, report.waiting)
    assert_once_each(sandbox, [clip])
    assert sandbox.count_requests("photo/get-upload-token") == 2  # the first expired
    # Before giving up on the expired token the client asked whether its upload landed.
    assert sandbox.count_requests("photo/list") >= 1
    [item] = sandbox.items()
    assert item["created_by"] == "redeem-upload-token"


def test_last_chunk_answer_lost_after_store_makes_no_second_item(
    sandbox: Sandbox, sandbox_config: Path, clip: Path
) -> None:
    """The last chunk completes the file, then the connection is cut: the token is used up
    and its item exists; the client must find it, not upload again."""
    pass_requests(sandbox, CHUNKS - 1)
    rule = sandbox.faults.add(REDEEM, cut_after_store=True, count=1)
    report = push(sandbox_config, clip.parent)
    assert rule.fired == 1
    assert report.all_landed, (report.failed, report.waiting)
    assert_once_each(sandbox, [clip])
    assert sandbox.count_requests("photo/get-upload-token") == 1  # never a second token
    assert state_of(sandbox_config, clip) is ItemState.SYNCED


def test_whole_file_token_redeem_cut_after_store_makes_one_item(
    sandbox: Sandbox, sandbox_config: Path, clip: Path
) -> None:
    rule = sandbox.faults.add(REDEEM, cut_after_store=True, count=1)
    report = push(sandbox_config, clip.parent, mode=UploadMode.TOKEN)
    assert rule.fired == 1
    assert report.all_landed, (report.failed, report.waiting)
    assert_once_each(sandbox, [clip])
    assert sandbox.count_requests(REDEEM) == 1  # found by token, never sent again
    assert sandbox.count_requests("photo/get-upload-token") == 1


@pytest.mark.slow(seconds=2)
def test_status_shows_an_interrupted_chunked_upload(
    sandbox: Sandbox, sandbox_config: Path, clip: Path
) -> None:
    journal_file = load_config(sandbox_config).journal_path
    # 512 KiB at 128 KiB/s: about 4 s, so the signal lands mid-upload.
    proc = start_syncd(
        sandbox_config,
        "push",
        "--no-wait",
        "--mode",
        "chunked",
        "--chunk-size",
        str(CHUNK),
        "--bwlimit",
        "128KiB",
        clip.parent,
    )
    try:
        wait_for(
            "two acknowledged chunks",
            lambda: (read_chunk_progress(journal_file, clip) or (0, 0))[0] >= 2,
            60,
            proc,
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert sandbox.items() == []
    done, total = read_chunk_progress(journal_file, clip) or (0, 0)
    assert 2 <= done < total == CHUNKS

    status = run_syncd(sandbox_config, "status")
    assert status.returncode == 0, status.stderr
    assert f"CHUNKED {clip}: {done}/{CHUNKS} chunks, token valid until" in status.stdout, (
        status.stdout
    )
    data = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    [session] = data["chunked_in_progress"]
    assert session["path"] == str(clip)
    assert (session["chunks_done"], session["chunks_total"]) == (done, CHUNKS)
    assert session["token_valid_until"]  # an ISO time
    history = run_syncd(sandbox_config, "status", clip)
    assert f"{done}/{CHUNKS} chunks" in history.stdout, history.stdout

    # The rerun resumes with the same token: one token in all, one item.
    again = run_syncd(sandbox_config, "push", "--no-wait", clip.parent)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_once_each(sandbox, [clip])
    assert sandbox.count_requests("photo/get-upload-token") == 1
