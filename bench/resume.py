"""Issue 5: what a chunked upload costs after a crash. One big file is pushed in chunks,
SIGKILLed at about 90 %, then pushed again; the sandbox's request log says what the resume
sent beyond the chunks the site was still missing.

    .venv/bin/python bench/resume.py [SIZE] [--chunk-size 8MiB] [--kill-at 0.9]

Target: the resume re-sends no more than one chunk per chunk in flight ([upload]
chunk_concurrency, default 1). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# `python bench/resume.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import (
    SandboxProcess,
    human_size,
    make_big_file,
    parse_size,
    require_ok,
    run_measured,
    sandbox_process,
    start_benchmark,
    syncd_argv,
    verdict,
    workdir,
)

from syncd.journal import read_chunk_progress

DEFAULT_SIZE = "1GiB"
DEFAULT_CHUNK = "8MiB"  # the [upload] chunk_size default
CHUNK_CONCURRENCY = 1  # the [upload] chunk_concurrency default (the config says so too)
DEFAULT_KILL_AT = 0.9  # share of chunks acknowledged when the push is killed
REDEEM = "photo/redeem-upload-token"
# How often the journal is read while waiting for the kill point (seconds).
POLL_SECONDS = 0.005
# Seconds after the kill for the sandbox to finish (and log) the request the client left.
SETTLE_SECONDS = 0.5
# Bytes of framing one chunk POST may differ from another by (chunk numbers' digits).
FRAMING_SLACK = 16
# The first push must reach the kill point within this long, or something is wrong.
FIRST_RUN_TIMEOUT = 1800.0


def chunk_layout(size: int, chunk: int) -> list[int]:
    """Bytes of each chunk (Resumable.js: the last one carries the remainder)."""
    total = max(1, size // chunk)
    return [chunk] * (total - 1) + [size - (total - 1) * chunk]


def chunk_posts(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r["method"] == REDEEM and r["http_method"] == "POST"]


def kill_at(proc: subprocess.Popen[bytes], journal: Path, path: Path, share: float) -> int:
    """SIGKILL `proc` once `share` of the chunks are acknowledged; returns the count then."""
    deadline = time.monotonic() + FIRST_RUN_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the first push exited ({proc.returncode}) before the kill point")
        found = read_chunk_progress(journal, path)
        if found is not None and found[0] >= share * found[1]:
            break
        if time.monotonic() > deadline:
            raise SystemExit("the first push did not reach the kill point in time")
        time.sleep(POLL_SECONDS)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = read_chunk_progress(journal, path)
    assert after is not None
    return after[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("size", nargs="?", default=DEFAULT_SIZE, help="file size (default 1GiB)")
    p.add_argument("--chunk-size", default=DEFAULT_CHUNK, help="chunk size (default 8MiB)")
    p.add_argument("--kill-at", type=float, default=DEFAULT_KILL_AT, help="0..1 (default 0.9)")
    args = p.parse_args(argv)
    try:
        size = parse_size(args.size)
        chunk = parse_size(args.chunk_size)
    except ValueError as exc:
        p.error(str(exc))
    if not 0 < args.kill_at < 1:
        p.error("--kill-at must be between 0 and 1")
    layout = chunk_layout(size, chunk)
    if len(layout) < 3:
        p.error(f"{args.size} in {args.chunk_size} chunks is fewer than 3 chunks: nothing to kill")

    start_benchmark(f"resume after SIGKILL: {human_size(size)} in {human_size(chunk)} chunks")
    with workdir("syncd-bench-resume-") as work, sandbox_process(work) as sb:
        tree = work / "tree"
        tree.mkdir()
        big = tree / "big.mp4"
        sha = make_big_file(big, size)
        push = syncd_argv(
            sb.config, "push", str(tree), "--no-wait", "--mode", "chunked",
            "--chunk-size", str(chunk), "--json",
        )  # fmt: skip
        report(sb, work, big, sha, size, chunk, layout, push, args.kill_at)
    return 0


def report(
    sb: SandboxProcess,
    work: Path,
    big: Path,
    sha: str,
    size: int,
    chunk: int,
    layout: list[int],
    push: list[str],
    share: float,
) -> None:
    journal = work / "journal.db"
    started = time.perf_counter()
    with open(work / "first.log", "wb") as out:
        proc = subprocess.Popen(push, stdout=out, stderr=subprocess.STDOUT)
    at_kill = kill_at(proc, journal, big, share)
    first_wall = time.perf_counter() - started
    time.sleep(SETTLE_SECONDS)
    before = chunk_posts(sb.requests())
    stored = sum(1 for r in before if r["status"] == 200)  # each chunk was sent once so far
    cut = [r for r in before if r["status"] != 200]
    cut_bytes = sum(r["bytes_received"] for r in cut)

    resume = require_ok(run_measured(push), "the resumed push")
    after = chunk_posts(sb.requests())[len(before) :]
    tests = [r for r in sb.requests() if r["method"] == REDEEM and r["http_method"] == "GET"]
    items = sb.items()
    landed = [(i["sha256"], i["size"]) for i in items] == [(sha, size)]

    sent = sum(r["bytes_received"] for r in after)
    # Multipart framing and Resumable.js fields per POST, measured on the last chunk stored
    # intact before the kill (its numbers have as many digits as the resume's, give or take).
    intact = [r["bytes_received"] for r in before if r["status"] == 200]
    framing = intact[-1] - layout[stored - 1] if intact else 0
    touched = stored + len(cut)  # chunks that had (at least partly) gone out before the kill
    new_bytes = sum(layout[touched:])  # never sent before the kill
    resent = max(0, sent - len(after) * framing - new_bytes)
    total = len(layout)
    print(f"   chunk size: {human_size(chunk)}; chunks: {total}; in flight: {CHUNK_CONCURRENCY}")
    print(
        f"   killed after {first_wall:.1f} s with {at_kill}/{total} chunks acknowledged "
        f"({100 * at_kill / total:.1f} %); the site had stored {stored}; the request cut by "
        f"the kill had delivered {human_size(cut_bytes)}"
    )
    print(
        f"   resume: {resume.wall:.1f} s, {len(after)} chunk POSTs, {len(tests)} chunk tests, "
        f"{human_size(sent)} received ({framing} B framing per POST)"
    )
    print(
        f"   bytes re-sent after the restart: {resent} ({human_size(resent)}) of chunk data "
        "that had gone out before the kill"
    )
    bound = CHUNK_CONCURRENCY * chunk
    print(
        f"   target: <= {CHUNK_CONCURRENCY} chunk(s) in flight = {human_size(bound)}: "
        f"{verdict(resent <= bound + FRAMING_SLACK * len(after))}"
    )
    print(f"   one item with the file's sha256: {'yes' if landed else 'NO'} ({len(items)} items)")


if __name__ == "__main__":
    sys.exit(main())
