"""Issue 5: chunked uploads survive SIGKILL of the client, a restart of the site, an upload
token that expires mid-upload, and a token consumed by an upload whose answer was lost.

Every test runs `syncd push` as a real process against the sandbox over loopback and reads
the real SQLite journal. The sandbox's own session record (which chunks it has stored) is
the ground truth for what a resume had to send.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    SandboxProcess,
    free_port,
    journal_path,
    run_syncd,
    sigkill,
    start_push_logged,
    wait_for,
    write_random_file,
)

from syncd.journal import read_chunk_progress
from syncd.sandbox import Sandbox

MiB = 1 << 20
# Resumable.js chunk test (GET) and chunk POSTs both go to this method.
REDEEM = "photo/redeem-upload-token"
# Multipart framing and Resumable.js fields around one chunk's bytes (generous bound).
CHUNK_OVERHEAD = 4096
# Chunks of one file in flight at once (the [upload] chunk_concurrency default).
CHUNK_CONCURRENCY = 1

# The kill test: 20 kills over a file of 96 chunks, sent at a capped rate so a kill can
# land inside a chunk's body as well as between chunks. (It once sent 200 MiB in 1 MiB
# chunks; what it proves depends on the chunk count and the kills, not on the bytes.)
BIG_SIZE = 24 * MiB
BIG_CHUNK = 256 * 1024
BIG_BWLIMIT = 8 * MiB
KILLS = 20
# Seconds the sandbox holds each chunk's answer after storing it, so some kills land
# between "the site stored the chunk" and "the journal acknowledged it".
CHUNK_ANSWER_DELAY = 0.03
# A kill is "settled" once the sandbox has finished every connection the dead client left
# (it may still store a chunk whose body was already in the socket buffer).
SETTLE_TIMEOUT = 30.0
# Share of kills aimed inside that window (the rest land at a random point of a chunk).
IN_WINDOW_SHARE = 0.3
SEED = 5


def _push_args(path: Path, chunk: int, bwlimit: int | None) -> list[str]:
    args = [str(path.parent), "--no-wait", "--mode", "chunked", "--chunk-size", str(chunk)]
    return [*args, "--bwlimit", str(bwlimit)] if bwlimit else args


def _server_received(sandbox: Sandbox) -> set[int]:
    """Chunk numbers the sandbox has stored, over all its upload sessions."""
    return {n for s in sandbox.state.values("sessions") for n in s["received"]}


def _acked(journal: Path, path: Path) -> int:
    return (read_chunk_progress(journal, path) or (0, 0))[0]


def _mid_upload(journal: Path, path: Path) -> bool:
    found = read_chunk_progress(journal, path)
    return found is not None and 0 < found[0] < found[1]


@pytest.mark.slow(seconds=10)
def test_chunked_push_killed_twenty_times_resumes_without_resending(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    tree = tmp_path / "tree"
    tree.mkdir()
    big = tree / "big.mp4"
    sha = write_random_file(big, BIG_SIZE, SEED)
    total = BIG_SIZE // BIG_CHUNK
    journal = journal_path(sandbox_config)
    sandbox.faults.add(REDEEM, delay=CHUNK_ANSWER_DELAY)
    args = _push_args(big, BIG_CHUNK, BIG_BWLIMIT)
    log = tmp_path / "push.log"
    chunk_seconds = BIG_CHUNK / BIG_BWLIMIT + CHUNK_ANSWER_DELAY

    targets = sorted(rng.sample(range(2, total - 5), KILLS))
    starts: list[float] = []  # when each run started
    stored_before: list[set[int]] = []  # what the site held when each run started
    acked_at_kill: list[int] = []
    for target in targets:
        stored_before.append(_server_received(sandbox))
        starts.append(time.time())
        proc = start_push_logged(sandbox_config, log, *args)
        wait_for(
            f"{target} chunks acknowledged",
            lambda target=target: _acked(journal, big) >= target,
            120,
            proc,
        )
        if rng.random() < IN_WINDOW_SHARE:
            # Kill while the site holds a chunk whose answer has not reached the journal.
            wait_for(
                "a chunk stored but not yet acknowledged",
                lambda: len(_server_received(sandbox)) > _acked(journal, big),
                30,
                proc,
            )
        else:
            time.sleep(rng.uniform(0, chunk_seconds))
        assert _mid_upload(journal, big)
        sigkill(proc)
        progress = read_chunk_progress(journal, big)
        assert progress is not None and 0 < progress[0] < progress[1] == total, progress
        acked_at_kill.append(progress[0])
        wait_for(
            "the sandbox to finish the dead push's requests",
            lambda: sandbox.open_connections() == 0,
            SETTLE_TIMEOUT,
        )
    stored_before.append(_server_received(sandbox))
    # Kills after which the site held chunks the journal had not acknowledged.
    in_window = sum(1 for k, acked in enumerate(acked_at_kill) if len(stored_before[k + 1]) > acked)
    assert in_window > 0, "no kill landed between a chunk stored and its acknowledgement"
    starts.append(time.time())
    final = run_syncd(sandbox_config, "push", *args)
    assert final.returncode == 0, final.stdout + final.stderr
    starts.append(time.time() + 1)

    items = sandbox.items()
    assert [(i["sha256"], i["size"]) for i in items] == [(sha, BIG_SIZE)]
    assert sandbox.count_requests("photo/get-upload-token") == 1, "a resume took a new token"
    stored_before.append(_server_received(sandbox))
    assert stored_before[-1] == set(range(1, total + 1))

    posts = [r for r in sandbox.requests if r.method == REDEEM and r.http_method == "POST"]
    resent: list[int] = []
    resent_bytes: list[int] = []
    for run in range(1, len(starts) - 1):  # every resume: run 0 is the first start
        mine = [r for r in posts if starts[run] <= r.time < starts[run + 1]]
        new = len(stored_before[run + 1] - stored_before[run])
        # 200 accepts a chunk; the one that completes the file is answered by the redirect
        # to the token's return_url.
        accepted = sum(1 for r in mine if r.status in (200, 301))
        # Chunks the site already held that this resume sent again: at most those in flight.
        resent.append(accepted - new)
        assert 0 <= accepted - new <= CHUNK_CONCURRENCY, (run, accepted, new)
        # Bytes: the new chunks, plus at most one re-sent and one cut by the next kill,
        # per chunk in flight.
        sent = sum(r.bytes_received for r in mine)
        bound = (new + 2 * CHUNK_CONCURRENCY) * (BIG_CHUNK + CHUNK_OVERHEAD)
        assert sent <= bound, (run, sent, new)
        resent_bytes.append(sent - new * BIG_CHUNK)
    print(
        f"acked at kills: {acked_at_kill}; kills inside the store/ack window: {in_window}; "
        f"stored chunks re-sent per resume: {resent}; bytes beyond new chunks: {resent_bytes}"
    )


# --- the site restarted mid-upload ------------------------------------------------------------

RESTART_SIZE = 8 * MiB
RESTART_CHUNK = 256 * 1024
# Chunks the site takes before the one whose answer it holds until it is killed: the push
# cannot finish before the kill, however the machine schedules the test.
RESTART_AFTER_CHUNKS = 4
# Seconds the site stays down: the push must ride it out on transport retries.
DOWNTIME = 1.0


@pytest.mark.slow(seconds=2)
def test_sandbox_killed_and_restarted_mid_chunked_upload(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    big = tree / "big.mp4"
    sha = write_random_file(big, RESTART_SIZE, 11)
    config = tmp_path / "syncd.toml"
    site = SandboxProcess(tmp_path / "site-data", free_port())
    held = f"{REDEEM}:delay=0:count={RESTART_AFTER_CHUNKS};{REDEEM}:delay=3600"
    site.start(config=config, faults=held)
    log = tmp_path / "push.log"
    try:
        journal = journal_path(config)  # the sandbox wrote its own, in its data dir
        proc = start_push_logged(config, log, *_push_args(big, RESTART_CHUNK, None))
        wait_for(
            "a few chunks acknowledged",
            lambda: _progress_at_least(journal, big, RESTART_AFTER_CHUNKS),
            60,
            proc,
        )
        site.kill()  # holding the next chunk's answer; it restarts without faults
        at_kill = read_chunk_progress(journal, big)
        assert at_kill is not None and 0 < at_kill[0] < at_kill[1], at_kill
        time.sleep(DOWNTIME)
        assert proc.poll() is None, "push gave up while the site was down"
        site.start()
        code = proc.wait(timeout=120)
        pushed = log.read_text(errors="replace")
        assert code == 0, pushed[-3000:]
        assert "retry big.mp4" in pushed, "the push never retried while the site was down"
        items = site.get("items")
        assert [(i["sha256"], i["size"]) for i in items] == [(sha, RESTART_SIZE)]
        # The restarted site logs only its own requests: same token, only the missing chunks
        # (plus the one in flight when it died).
        after = site.get("requests")
        assert not [r for r in after if r["method"] == "photo/get-upload-token"], "new token"
        posts = [r for r in after if r["method"] == REDEEM and r["http_method"] == "POST"]
        assert len(posts) <= at_kill[1] - at_kill[0] + CHUNK_CONCURRENCY, (len(posts), at_kill)
    finally:
        site.stop()


def _progress_at_least(journal: Path, path: Path, n: int) -> bool:
    found = read_chunk_progress(journal, path)
    return found is not None and found[0] >= n


# --- tokens: expired mid-upload, consumed by an upload whose answer was lost ---------------

TOKEN_SIZE = 12 * MiB
TOKEN_CHUNK = MiB
TOKEN_BWLIMIT = 8 * MiB


def _token_in_journal(config: Path, path: Path) -> str:
    import os
    import sqlite3

    conn = sqlite3.connect(f"file:{journal_path(config)}?mode=ro", uri=True)
    try:
        (token,) = conn.execute(
            "SELECT upload_token FROM chunk_sessions WHERE path = ?", (os.fsencode(path),)
        ).fetchone()
        return str(token)
    finally:
        conn.close()


@pytest.mark.slow(seconds=2)
def test_token_expired_mid_upload_gets_a_new_token_and_one_item(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    big = tree / "big.mp4"
    sha = write_random_file(big, TOKEN_SIZE, 21)
    journal = journal_path(sandbox_config)
    proc = start_push_logged(
        sandbox_config, tmp_path / "push.log", *_push_args(big, TOKEN_CHUNK, TOKEN_BWLIMIT)
    )
    try:
        wait_for("3 chunks acknowledged", lambda: _progress_at_least(journal, big, 3), 60, proc)
        old = _token_in_journal(sandbox_config, big)
        sandbox.expire_upload_token(old)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, (tmp_path / "push.log").read_text(errors="replace")[-3000:]
    items = sandbox.items()
    assert [(i["sha256"], i["size"]) for i in items] == [(sha, TOKEN_SIZE)]
    assert items[0]["upload_token"] != old
    assert sandbox.count_requests("photo/get-upload-token") == 2
    # Between the refusal and the new token, the site was asked whether the old one landed.
    log = [(r.method, r.status) for r in sandbox.requests]
    refused = log.index((REDEEM, 403))
    second_token = [i for i, r in enumerate(log) if r[0] == "photo/get-upload-token"][1]
    assert refused < second_token
    asked = [m for m, _ in log[refused:second_token]]
    assert "photo/list" in asked, f"no photo/list?upload_token= before a new token: {asked}"


@pytest.mark.parametrize("mode", ["chunked", "token"])
def test_answer_lost_after_last_chunk_stored_is_not_uploaded_again(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, mode: str
) -> None:
    """The site stores the file (the token is used up) and the push is killed before the
    answer arrives: the rerun finds the item by photo/list?upload_token= and sends nothing."""
    tree = tmp_path / "tree"
    tree.mkdir()
    big = tree / "big.mp4"
    sha = write_random_file(big, TOKEN_SIZE, 31)
    chunks = TOKEN_SIZE // TOKEN_CHUNK if mode == "chunked" else 1
    # The first chunks pass untouched; the one that completes the file is answered late.
    if chunks > 1:
        sandbox.faults.add(REDEEM, delay=0.0, count=chunks - 1)
    sandbox.faults.add(REDEEM, delay=30.0, count=1)
    args = [str(tree), "--no-wait", "--mode", mode, "--chunk-size", str(TOKEN_CHUNK)]
    proc = start_push_logged(sandbox_config, tmp_path / "push.log", *args)
    try:
        wait_for("the item stored", lambda: sandbox.items(), 60, proc)
        sigkill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = _requests_by(sandbox)
    rerun = run_syncd(sandbox_config, "push", *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = _requests_by(sandbox)
    items = sandbox.items()
    assert [(i["sha256"], i["size"]) for i in items] == [(sha, TOKEN_SIZE)]
    assert after.get(("photo/list", "POST"), 0) > before.get(("photo/list", "POST"), 0)
    assert after.get((REDEEM, "POST")) == before.get((REDEEM, "POST")), "sent again"
    assert after.get(("photo/get-upload-token", "POST")) == 1


def _requests_by(sandbox: Sandbox) -> dict[Any, int]:
    from collections import Counter

    return dict(Counter((r.method, r.http_method) for r in sandbox.requests))
