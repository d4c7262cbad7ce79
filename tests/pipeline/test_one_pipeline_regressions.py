"""One test per defect of issue 11 fixed by the one-pipeline work that had none yet.

- The rate meter is the run's, not a worker's: a token's lifetime follows what another
  worker measured.
- Album creation is claimed in the journal: two push processes sharing a new album name
  create one album.
- Rows left `uploaded` are finished during the run, not only when a run starts.
- The stop rule's question "anything left?" is asked under the pool's claim lock.
- Nested [[watch]] roots: the deepest root holding a file gives its album, tags and mode.
- Two pushes on one journal: the one that ends first names the other process, and does
  not fail for the files it is uploading.

(Sidecar edits, renames, the dry run, stopping and retry timing have their own files.)
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from pipeline_helpers import (
    HeldRequests,
    append_config,
    assert_once_each,
    dead_owner,
    journal_path,
    make_tree,
    run_syncd,
    sha256_of,
    start_push_logged,
    wait_for,
)

from syncd.clock import FakeClock, SystemClock
from syncd.config import load_config
from syncd.journal import Journal
from syncd.journal.peek import read_state
from syncd.model import ItemState, LocalFile
from syncd.pipeline.announce import Announcer
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.lifecycle import Lifecycle
from syncd.pipeline.pool import LEASE_SECONDS, OnWorkerFailure, WorkerPool
from syncd.plan.upload import token_valid_minutes
from syncd.progress import NullProgress
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

# How long a test waits for another thread or process to get somewhere (never reached
# unless something is broken).
REACH_TIMEOUT = 30.0


# --- the rate meter -------------------------------------------------------------------------


class HandOver(NullProgress):
    """Makes the direct upload and the token upload run on two different workers, the
    token one starting only after the direct one has finished (and been measured)."""

    def __init__(self, direct: Path, token: Path) -> None:
        self.direct, self.token = str(direct), str(token)
        self.token_started = threading.Event()
        self.direct_done = threading.Event()
        self.problems: list[str] = []

    def file_started(self, path: str, size: int) -> None:
        if path == self.direct and not self.token_started.wait(REACH_TIMEOUT):
            self.problems.append("the token upload never started on another worker")
        if path == self.token:
            self.token_started.set()
            if not self.direct_done.wait(REACH_TIMEOUT):
                self.problems.append("the direct upload never finished")

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        if path == self.direct:
            self.direct_done.set()


def test_token_lifetimes_follow_the_rate_any_worker_measured(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, "[upload]\nchunk_threshold = 100000\nchunk_size = 65536")
    root = tmp_path / "tree"
    [direct] = make_tree(root, 1, size=1000, prefix="direct")
    [token] = make_tree(root, 1, size=200_000, prefix="token")
    # The direct upload's answer comes a second late: a measured rate of 1000 B/s at most.
    sandbox.faults.add("photo/upload", delay=1.0)
    hand_over = HandOver(direct, token)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, progress=hand_over).run(
            PushOptions(roots=[root], no_wait=True, concurrency=2)
        )

    assert hand_over.problems == [] and report.all_landed
    [asked] = [r for r in sandbox.requests if r.method == "photo/get-upload-token"]
    minutes = int(asked.params["valid_minutes"])
    # Sized from the direct upload's rate (at most 1000 B/s), not from the default rate a
    # worker without a measurement of its own would assume.
    assert minutes >= token_valid_minutes(200_000, 1000.0) > token_valid_minutes(200_000, None)
    assert_once_each(sandbox, [direct, token])


# --- albums created once across processes ---------------------------------------------------

# After the second push has claimed its file (and so is resolving its album), how long its
# album/create, if it sent one, gets to arrive at the sandbox beside the first one's. Only
# a broken claim needs this window; a correct run passes whatever its length.
RACE_WINDOW = 1.5


@pytest.mark.slow(seconds=2)
def test_two_processes_create_a_shared_new_album_once(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    trees = [tmp_path / "one", tmp_path / "two"]
    clips = [make_tree(tree, 1, prefix=tree.name)[0] for tree in trees]
    for tree in trees:
        (tree / ".syncd.json").write_text(json.dumps({"album": "Shared"}))
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    with HeldRequests(sandbox, "album/create") as held:
        first = start_push_logged(sandbox_config, logs[0], trees[0], "--no-wait")
        wait_for("the first push's album/create", lambda: held.arrived >= 1, 60, first)
        # The first create is held before the sandbox handles it: the album does not
        # exist yet when the second push looks for it.
        second = start_push_logged(sandbox_config, logs[1], trees[1], "--no-wait")
        wait_for(
            "the second push to claim its file",
            lambda: read_state(journal_path(sandbox_config), clips[1]) == "uploading",
            60,
            second,
        )
        time.sleep(RACE_WINDOW)
        held.release()
        for proc, log in zip((first, second), logs, strict=True):
            assert proc.wait(timeout=60) == 0, log.read_text()

    albums = [a for a in sandbox.state.values("albums") if a["title"] == "Shared"]
    assert len(albums) == 1, albums
    assert held.arrived == 1  # the second process never asked to create it
    assert [i["albums"] for i in sandbox.items()] == [["Shared"], ["Shared"]]
    assert_once_each(sandbox, clips)


# --- uploaded rows are finished by the run that left them ------------------------------------


def test_a_row_left_uploaded_is_finished_during_the_same_run(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    (root / f"{clip.name}.json").write_text(json.dumps({"albums": ["First", "Second"]}))
    config = load_config(sandbox_config)
    # The direct upload's follow-up update (the second album) fails a whole round: the row
    # is left `uploaded`; the metadata stage must finish it in this run.
    sandbox.faults.add("photo/update", status=502, count=config.upload.max_attempts)
    clock = FakeClock(start=time.time())
    with Journal.open(config.journal_path, clock=clock) as journal:
        started = clock.time()
        report = Push(config, journal, clock=clock).run(PushOptions(roots=[root], no_wait=True))
        row = journal.get(str(clip))
        moves = [(e.from_state, e.to_state, e.at) for e in journal.events(str(clip))]

    assert report.all_landed, report
    assert row is not None and row.state is ItemState.SYNCED
    # uploading -> uploaded (the follow-up failed), then uploaded -> synced, both in the run.
    steps = [(frm, to) for frm, to, _ in moves]
    assert (ItemState.UPLOADING, ItemState.UPLOADED) in steps, steps
    assert (ItemState.UPLOADED, ItemState.SYNCED) in steps, steps
    assert all(at >= started for _, to, at in moves if to in (ItemState.UPLOADED, ItemState.SYNCED))
    [item] = sandbox.items()
    assert sorted(item["albums"]) == ["First", "Second"]
    assert sandbox.count_requests("photo/upload") == 1


# --- the stop rule and the claim lock -------------------------------------------------------


def test_no_claim_can_start_while_the_stop_rule_asks_the_journal(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        ctx = RunContext(
            config,
            journal,
            clock=SystemClock(),
            progress=NullProgress(),
            policy=RetryPolicy(),
            lifecycle=Lifecycle(),
            options=RunOptions(),
        )
        pool = WorkerPool(
            ctx,
            Announcer(NullProgress(), ctx.clock),
            roots=[str(root)],
            on_failure=OnWorkerFailure.STOP_RUN,
        )
        pool.start(1)
        seen: list[ItemState | None] = []

        def has_work() -> bool:
            # A file becomes ready while the stop rule looks at the journal, and the idle
            # worker is told: it must not be able to claim it until the look is over.
            st = clip.stat()
            journal.observe_batch(
                [LocalFile(str(clip), st.st_size, st.st_mtime_ns, st.st_ino)], str(root)
            )
            assert journal.mark_ready(
                str(clip), sha256_of(clip), expect_size=st.st_size, expect_mtime_ns=st.st_mtime_ns
            )
            pool.wake()
            claimed = threading.Event()

            def look() -> None:
                row = journal.get(str(clip))
                if row is not None and row.state is not ItemState.READY:
                    claimed.set()

            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline and not claimed.is_set():
                look()
                time.sleep(0.01)
            row = journal.get(str(clip))
            seen.append(row.state if row else None)
            return False  # "nothing left", as a look that raced a claim would have said

        try:
            # Asked when the idle worker is between two looks for work (nothing in flight,
            # nobody claiming), as the run's loop asks.
            wait_for("an idle moment", lambda: pool.quiescent(has_work), REACH_TIMEOUT)
            assert seen == [ItemState.READY]  # the worker was held off while we looked
            # Once the look is over the worker takes the file, and sends it.
            wait_for(
                "the worker to send the file", lambda: len(sandbox.items()) == 1, REACH_TIMEOUT
            )
        finally:
            pool.finish()


# --- nested [[watch]] roots ------------------------------------------------------------------


def test_nested_watch_roots_give_files_the_deepest_roots_settings(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    outer = tmp_path / "archive"
    inner = outer / "talks"
    [top] = make_tree(outer, 1, prefix="top")
    [below] = make_tree(inner, 1, prefix="below")
    [deeper] = make_tree(inner / "2024", 1, prefix="deeper")
    append_config(
        sandbox_config,
        f"""
        [[watch]]
        path = "{outer}"
        album = "Outer"
        tags = ["outer"]
        mode = "direct"

        [[watch]]
        path = "{inner}"
        album = "Inner"
        tags = ["inner"]
        mode = "token"
        """,
    )

    result = run_syncd(sandbox_config, "push", "--no-wait", outer)  # the outer root only

    assert result.returncode == 0, result.stdout + result.stderr
    by_sha = {i["sha256"]: i for i in sandbox.items()}
    top_item = by_sha[sha256_of(top)]
    assert (top_item["albums"], top_item["created_by"]) == (["Outer"], "photo/upload")
    assert "outer" in top_item["tags"] and "inner" not in top_item["tags"]
    for path in (below, deeper):
        item = by_sha[sha256_of(path)]
        assert item["albums"] == ["Inner"], path
        assert item["created_by"] == "redeem-upload-token", path  # the inner root's mode
        assert "inner" in item["tags"] and "outer" not in item["tags"], path
    assert len(by_sha) == 3


# --- two pushes on one journal ---------------------------------------------------------------


def test_a_push_beside_another_names_it_and_does_not_fail_for_its_files(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    log = tmp_path / "first.log"
    with HeldRequests(sandbox, "photo/upload") as held:
        first = start_push_logged(sandbox_config, log, root, "--no-wait")
        wait_for("the first push's upload", lambda: held.arrived >= 1, 60, first)

        second = run_syncd(sandbox_config, "push", "--no-wait", root)
        second_json = run_syncd(sandbox_config, "push", "--no-wait", "--json", root)
        held.release()
        assert first.wait(timeout=60) == 0, log.read_text()

    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert "NOT LANDED" not in output and "FAILED" not in output
    assert f"IN PROGRESS ELSEWHERE {clip}: another syncd process (pid {first.pid} on" in output
    report = json.loads(second_json.stdout)
    assert second_json.returncode == 0 and report["not_landed"] == []
    [elsewhere] = report["in_progress_elsewhere"]
    assert elsewhere["path"] == str(clip) and f":{first.pid}:" in elsewhere["owner"]
    assert_once_each(sandbox, [clip])


# --- a metadata claim left by a killed push ---------------------------------------------------


def test_a_metadata_claim_left_by_a_killed_push_does_not_hold_the_next_one(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """Found by the crash test under load: a push killed while it applied an item's
    metadata left the row `uploaded` under its lease, and the next push waited the whole
    lease (300 s) before it could finish the item."""
    root = tmp_path / "tree"
    [clip] = make_tree(root, 1)
    (root / f"{clip.name}.json").write_text(json.dumps({"albums": ["First", "Second"]}))
    config = load_config(sandbox_config)
    sandbox.faults.add("photo/update", status=502)  # the second album cannot be added
    fast = RetryPolicy(initial_wait=0.01, max_wait=0.05)
    with Journal.open(config.journal_path) as journal:
        Push(config, journal, policy=fast, patience=0.0).run(
            PushOptions(roots=[root], no_wait=True)
        )
        assert journal.make_due([str(root)])
        # A push that dies while it holds the item's metadata claim.
        assert journal.claim_metadata(dead_owner(), LEASE_SECONDS) is not None
    sandbox.faults.clear()

    clock = FakeClock(start=time.time())
    with Journal.open(config.journal_path, clock=clock) as journal:
        started = clock.time()
        report = Push(config, journal, clock=clock).run(PushOptions(roots=[root], no_wait=True))
        took = clock.time() - started
        row = journal.get(str(clip))

    assert report.all_landed and row is not None and row.state is ItemState.SYNCED
    assert took < LEASE_SECONDS, f"waited {took:.0f} s of run time for a dead process's claim"
    assert sorted(sandbox.items()[0]["albums"]) == ["First", "Second"]
