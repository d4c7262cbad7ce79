"""Ctrl-C is never held up by a wait (issue 11, defect 4).

A push at `--bwlimit 32KiB` (one 1 MiB block is a 32 s debt) and a push held by a site that
answers `429 Retry-After: 150` each stop after one SIGINT: exit 130, the row back in the
queue (`ready` or `retry`, no claim left), and the next push finishes the file exactly
once. Each waits for the process with a timeout the old behaviour (30 s and more at
32 KiB/s; 141 s for Retry-After 150) could not meet; nothing here measures time.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from pipeline_helpers import (
    assert_once_each,
    journal_path,
    make_tree,
    run_syncd,
    start_push_logged,
    upload_requests,
    wait_for,
)

from syncd.journal import Journal
from syncd.journal.peek import read_state
from syncd.model import ItemState
from syncd.sandbox import Sandbox

# How long a stopped push may take to exit before the test calls it stuck. Far above what
# a stop needs, far below the waits it must cut short (32 s of throttle debt, 150 s of
# Retry-After).
STOP_TIMEOUT = 20.0
# How long a push may take to reach the wait the test interrupts.
START_TIMEOUT = 60.0


def interrupt(proc: subprocess.Popen[bytes], log: Path) -> None:
    """One SIGINT; the push must exit 130 within STOP_TIMEOUT."""
    assert proc.poll() is None, f"push exited ({proc.returncode}) before the signal"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(
            f"push did not stop within {STOP_TIMEOUT:.0f} s of SIGINT:\n{log.read_text()}"
        ) from None
    assert proc.returncode == 130, log.read_text()


def assert_consistent(config: Path, path: Path, allowed: set[ItemState]) -> None:
    """Nothing left claimed: the row is back in the queue with no lease."""
    with Journal.open(journal_path(config)) as journal:
        row = journal.get(str(path))
        assert row is not None
        assert row.state in allowed, row
        assert row.lease_owner is None and row.lease_until is None, row


def test_sigint_cuts_a_bandwidth_limited_upload_short(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [big] = make_tree(root, 1, size=4 * 1024 * 1024)  # two minutes at 32 KiB/s
    log = tmp_path / "push.log"
    proc = start_push_logged(sandbox_config, log, root, "--no-wait", "--bwlimit", "32KiB")
    try:
        wait_for(
            "the upload to start",
            lambda: read_state(journal_path(sandbox_config), big) == "uploading",
            START_TIMEOUT,
            proc,
        )
        interrupt(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert sandbox.items() == []
    assert_consistent(sandbox_config, big, {ItemState.READY})
    again = run_syncd(sandbox_config, "push", "--no-wait", "--json", root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["synced_this_run"] == 1
    assert_once_each(sandbox, [big])


def test_sigint_cuts_a_retry_after_wait_short(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    sandbox.faults.add("photo/upload", status=429, retry_after=150)
    log = tmp_path / "push.log"
    proc = start_push_logged(sandbox_config, log, root, "--no-wait")
    try:
        wait_for(
            "a 429 answer",
            lambda: any(r.status == 429 for r in sandbox.requests),
            START_TIMEOUT,
            proc,
        )
        interrupt(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert sandbox.items() == []
    assert_consistent(sandbox_config, clip, {ItemState.READY, ItemState.RETRY})
    sandbox.faults.clear()
    again = run_syncd(sandbox_config, "push", "--no-wait", "--json", root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_once_each(sandbox, [clip])
    assert upload_requests(sandbox) == 2  # the refused one, and the one that landed
