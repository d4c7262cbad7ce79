"""Issue 4: a push through a site failing a fifth of its uploads in every way a network can
(500, 429 + Retry-After, a connection cut mid-body, a cut after the item was stored) still
lands every file exactly once, and the journal says so."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, make_tree

from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

# Files in the tree: enough that a 20 % fault rate fires every kind many times.
FILE_COUNT = 200
# Bytes per file: larger than CUT_AFTER_BYTES so the cut really is mid-body.
FILE_SIZE = 6000
CUT_AFTER_BYTES = 2000
# Retry-After the 429s carry (seconds): short, but it holds every worker.
RETRY_AFTER = 0.05
# A fast policy: the faults decide the outcome, not the back-off clock.
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.1, park_first=0.5, park_max=1.0)


def fault_kind(record_fault: str | None, status: int) -> str | None:
    """Which of the injected kinds one logged request suffered."""
    if not record_fault or record_fault.startswith("client:"):
        return None
    if "cut_after_store" in record_fault:
        return "cut_after_store"
    if "cut_after_bytes" in record_fault:
        return "cut_mid_body"
    return str(status)


@pytest.mark.slow(seconds=2)
def test_push_through_twenty_percent_faults_lands_each_file_once(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", FILE_COUNT, FILE_SIZE)
    rule = sandbox.faults.add(
        "photo/upload",
        fraction=0.2,
        kinds=["500", "429", "cut_after_bytes", "cut_after_store"],
        retry_after=RETRY_AFTER,
        cut_after_bytes=CUT_AFTER_BYTES,
    )
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=[tmp_path / "tree"], no_wait=True, concurrency=4)
        )
        states = Counter(row.state for row in journal.rows_in(list(ItemState)))

    kinds = Counter(
        fault_kind(r.fault, r.status) for r in sandbox.requests if r.method == "photo/upload"
    )
    kinds.pop(None, None)
    # Every kind really fired, and the rule as a whole hit roughly a fifth of the uploads.
    assert set(kinds) == {"500", "429", "cut_mid_body", "cut_after_store"}, kinds
    assert all(n > 0 for n in kinds.values()), kinds
    assert rule.fired == sum(kinds.values())
    assert report.all_landed, (report.failed, report.waiting, report.problems, report.stopped_by)
    assert states == {ItemState.SYNCED: FILE_COUNT}, states
    assert_once_each(sandbox, files)
    # The cuts after store were found by identity marker, not sent again.
    assert len(sandbox.items()) == FILE_COUNT
