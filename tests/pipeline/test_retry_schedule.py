"""Retry timing is what the README says (issue 11, defect 8), on a FakeClock.

Against a site that answers 502 to every upload, a push tries `max_attempts` times per
round, parks the file for 30 s, 2 min, 8 min, ... (README: "30 s, 2 min, 8 min, ... 1 h"),
waits for parked files at most PUSH_RETRY_PATIENCE (README: "at most 5 minutes"), and then
reports the file as not landed. Virtual time: the whole schedule runs in a moment.

The old defect: parking divided the claim count by max_attempts, so a file was parked for
30 s nine times, then 2 min five times, and push gave up after 975 s.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

from pipeline_helpers import make_tree

from syncd.clock import FakeClock
from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.pipeline.stop import PUSH_RETRY_PATIENCE
from syncd.push import Push, PushOptions
from syncd.retry import MAX_RETRY_AFTER_SECONDS, RetryPolicy
from syncd.sandbox import Sandbox

README = Path(__file__).resolve().parents[2] / "README.md"
# The schedule the README promises, in seconds.
DOCUMENTED_PARKS = [30.0, 120.0, 480.0, 1920.0, 3600.0, 3600.0]
# Virtual seconds between two readings of the clock that belong to one step.
SLACK = 5.0
_PARKED = re.compile(r"^parked (\d+) s after round (\d+):")


def test_the_documented_schedule_is_the_policy() -> None:
    policy = RetryPolicy()
    assert [policy.park_delay(n) for n in range(1, 7)] == DOCUMENTED_PARKS
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "(30 s, 2 min, 8 min, ... 1 h)" in text
    assert PUSH_RETRY_PATIENCE == 5 * 60
    assert "waits for files parked in `retry` for at most 5 minutes" in text
    assert "A `Retry-After` longer than 15 minutes is capped (and the cap logged)" in text
    assert MAX_RETRY_AFTER_SECONDS == 15 * 60


def test_push_parks_by_rounds_and_gives_up_after_its_patience(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    sandbox.faults.add("photo/upload", status=502)  # every upload, for ever
    config = load_config(sandbox_config)
    attempts = config.upload.max_attempts
    clock = FakeClock(start=time.time())

    with Journal.open(config.journal_path, clock=clock) as journal:
        report = Push(config, journal, clock=clock).run(PushOptions(roots=[root], no_wait=True))
        end = clock.time()
        row = journal.get(str(clip))
        events = journal.events(str(clip))

    parks = [(int(m[2]), float(m[1]), e.at) for e in events if (m := _PARKED.match(e.detail or ""))]
    # Rounds 1, 2, 3 parked for 30 s, 2 min, 8 min; 8 min is beyond the patience, so the
    # push ended there instead of waiting.
    assert [(n, delay) for n, delay, _ in parks] == [(1, 30.0), (2, 120.0), (3, 480.0)]
    assert all(delay <= PUSH_RETRY_PATIENCE for _, delay, _ in parks[:-1])
    assert parks[-1][1] > PUSH_RETRY_PATIENCE
    # Each round came when its park was over, not sooner. (SLACK: the uploader reads the
    # clock a moment before the journal stamps the event; other threads move time on.)
    for (_, delay, parked_at), (_, _, next_parked_at) in itertools.pairwise(parks):
        assert next_parked_at >= parked_at + delay - SLACK
    last_parked_at = parks[-1][2]
    assert last_parked_at <= end < last_parked_at + PUSH_RETRY_PATIENCE  # gave up, did not wait
    assert sandbox.count_requests("photo/upload") == 3 * attempts  # max_attempts per round

    assert row is not None and row.state is ItemState.RETRY and row.parks == 3
    assert row.next_attempt_at is not None
    assert last_parked_at - SLACK <= row.next_attempt_at - 480.0 <= last_parked_at
    assert [r.path for r in report.waiting] == [str(clip)]
    assert not report.all_landed


def test_a_huge_retry_after_holds_the_run_for_the_cap_only(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    sandbox.faults.add("photo/upload", status=429, retry_after=86400)  # a day, for ever
    config = load_config(sandbox_config)
    clock = FakeClock(start=time.time())
    with Journal.open(config.journal_path, clock=clock) as journal:
        start = clock.time()
        Push(config, journal, clock=clock, policy=RetryPolicy(max_attempts=2)).run(
            PushOptions(roots=[root], no_wait=True)
        )
        end = clock.time()
        events = journal.events(str(clip))

    # One Retry-After wait between the two attempts, capped at 15 minutes; then the file
    # is parked for the cap too (not a day), which is beyond the patience: push ends.
    parks = [m[1] for e in events if (m := _PARKED.match(e.detail or ""))]
    assert parks == [str(int(MAX_RETRY_AFTER_SECONDS))]
    assert MAX_RETRY_AFTER_SECONDS <= end - start < 2 * MAX_RETRY_AFTER_SECONDS
    assert sandbox.count_requests("photo/upload") == 2
