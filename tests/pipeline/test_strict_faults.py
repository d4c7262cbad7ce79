"""Issue 12, "How it is shown": a fault-injected push against the strict sandbox (only the
documented answers, each in the least helpful reading: `no_such_tag` for a marker nobody
uses, list items without tags, redeem errors with HTTP 200). Uploads are cut before the
store and after it, answered 503, or 429 with Retry-After; lookups fail with 503 and 429
too. Afterwards: exactly one item per distinct file, every file synced, none failed."""

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

FILE_COUNT = 200
FILE_SIZE = 6000
CUT_AFTER_BYTES = 2000  # less than a file: the cut is mid-body, before the store
RETRY_AFTER = 0.05
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.1, park_first=0.5, park_max=1.0)


@pytest.mark.slow(seconds=5)
def test_strict_site_with_faults_lands_each_file_once(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile("strict")
    files = make_tree(tmp_path / "tree", FILE_COUNT, FILE_SIZE)
    uploads = sandbox.faults.add(
        "photo/upload",
        fraction=0.2,
        kinds=["cut_after_bytes", "cut_after_store", "503", "429"],
        retry_after=RETRY_AFTER,
        cut_after_bytes=CUT_AFTER_BYTES,
    )
    lookups = sandbox.faults.add(
        "photo/list", fraction=0.1, kinds=["503", "429"], retry_after=RETRY_AFTER
    )
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=[tmp_path / "tree"], no_wait=True, concurrency=4)
        )
        states = Counter(row.state for row in journal.rows_in(list(ItemState)))

    fired = Counter(
        r.fault.split(",")[0] if "cut" in (r.fault or "") else str(r.status)
        for r in sandbox.requests
        if r.method == "photo/upload" and r.fault
    )
    assert {"cut_after_bytes", "cut_after_store", "503", "429"} <= set(fired), fired
    assert uploads.fired > 0 and lookups.fired > 0
    assert report.all_landed, (report.failed, report.waiting, report.problems, report.stopped_by)
    assert states == {ItemState.SYNCED: FILE_COUNT}, states
    assert_once_each(sandbox, files)
