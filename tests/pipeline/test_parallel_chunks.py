"""Chunks of one file sent in parallel (`chunk_concurrency`), with a fault in the middle."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline_helpers import append_config, assert_once_each, run_syncd, write_random_file

from syncd.sandbox import Sandbox

KiB = 1024
CHUNK = 256 * KiB
REDEEM = "photo/redeem-upload-token"


def chunk_posts(sandbox: Sandbox) -> list[int]:
    """The HTTP status of every chunk POST, in arrival order."""
    # The chunk that completes the file is answered by the redirect to the token's
    # return_url (301): for the chunk, that is "accepted" as a 200 is.
    return [
        200 if r.status == 301 else r.status
        for r in sandbox.requests
        if r.method == REDEEM and r.http_method == "POST"
    ]


def test_parallel_chunks_land_once_and_a_failed_chunk_is_resent_alone(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, "[upload]\nchunk_concurrency = 3\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    # 12 chunks of 256 KiB, the last one carrying 1000 extra bytes.
    big = tree / "big.mp4"
    write_random_file(big, 12 * CHUNK + 1000, seed=7)
    # One chunk answered 503: only that chunk is sent again.
    rule = sandbox.faults.add(method=REDEEM, status=503, count=1)

    result = run_syncd(
        sandbox_config, "push", "--no-wait", "--mode", "chunked", "--chunk-size", "256KiB", tree
    )

    assert result.returncode == 0, result.stderr
    assert rule.fired == 1
    assert_once_each(sandbox, [big])
    statuses = Counter(chunk_posts(sandbox))
    # 12 chunks accepted once each, plus the one refused attempt; no other resends.
    assert statuses == Counter({200: 12, 503: 1})
    [item] = sandbox.items()
    assert item["created_by"] == "redeem-upload-token"
