"""Uploads start while the scan is still hashing the tree; the progress display hears of each
file once and before it starts; the report tells what this run synced from what was synced
before it; a stop during the scan ends the scan too."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import append_config, assert_once_each, make_tree

import syncd.pipeline.feeds
import syncd.pipeline.pool
from syncd.clock import FakeClock
from syncd.config import load_config
from syncd.journal import Journal
from syncd.local.scan import ScanStopped, sha256_file
from syncd.model import ItemState
from syncd.push import Push, PushOptions
from syncd.sandbox import Sandbox

# Long enough for anything that should happen, short enough that a failure is quick.
WAIT_SECONDS = 20.0


def pause_scan_before_hashing(
    monkeypatch: pytest.MonkeyPatch, path: Path, until: Callable[[], object]
) -> None:
    """Make the run's scan wait for `until()` before it hashes `path` (a known point in the
    scan; everything else about the scan is the real one)."""
    real_scan = syncd.pipeline.feeds.scan

    def scan(*args: Any, **kwargs: Any) -> Any:
        def hash_file(name: str) -> str:
            if name == str(path):
                until()
            return sha256_file(name)

        return real_scan(*args, hash_file=hash_file, **kwargs)

    monkeypatch.setattr(syncd.pipeline.feeds, "scan", scan)


class Recorder:
    """A ProgressSink that records calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, int]] = []
        self.synced = threading.Event()

    def add_work(self, files: int, nbytes: int) -> None:
        with self.lock:
            self.calls.append(("add_work", "", files))

    def file_started(self, path: str, size: int) -> None:
        with self.lock:
            self.calls.append(("started", path, size))

    def file_bytes(self, path: str, nbytes: int) -> None:
        pass

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.calls.append((outcome, path, 0))
        if outcome == "synced":
            self.synced.set()

    def note(self, text: str) -> None:
        pass

    def announced(self) -> int:
        return sum(n for kind, _, n in self.calls if kind == "add_work")

    def assert_announced_before_started(self) -> None:
        """Every file started was counted in the totals before it started."""
        announced, started = 0, set()
        for kind, path, n in self.calls:
            if kind == "add_work":
                announced += n
            elif kind == "started":
                started.add(path)
                assert len(started) <= announced, f"{path} started before it was announced"


def test_small_files_land_while_the_scan_is_still_busy(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Idle workers must be woken by the scan, not find the file by polling later.
    monkeypatch.setattr(syncd.pipeline.pool, "IDLE_POLL_SECONDS", 3 * WAIT_SECONDS)
    tree = tmp_path / "tree"
    # The walk goes depth first in name order: a/ (and its files) before z/.
    small = make_tree(tree / "a", 6, 3000)
    last = make_tree(tree / "z", 1, 3000, prefix="last")[0]
    recorder = Recorder()
    # The scan waits before the last file until a worker has synced one: only possible if
    # workers run during the scan.
    pause_scan_before_hashing(monkeypatch, last, lambda: recorder.synced.wait(WAIT_SECONDS))
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, progress=recorder).run(
            PushOptions(roots=[tree], no_wait=True)
        )
        last_ready = next(e.id for e in journal.events(str(last)) if e.to_state is ItemState.READY)
        first_synced = min(
            e.id for p in small for e in journal.events(str(p)) if e.to_state is ItemState.SYNCED
        )
    assert report.all_landed, (report.failed, report.waiting, report.problems)
    # Event ids are the journal's own order of commits.
    assert first_synced < last_ready, "no upload finished before the scan reached the last file"
    assert_once_each(sandbox, [*small, last])
    recorder.assert_announced_before_started()
    assert recorder.announced() == 7
    assert (report.synced_by_run, report.synced_before) == (7, 0)

    with Journal.open(config.journal_path) as journal:
        again = Push(config, journal).run(PushOptions(roots=[tree], no_wait=True))
    assert (again.synced_by_run, again.synced_before) == (0, 7)
    assert len(sandbox.items()) == 7


def test_a_run_stopped_by_bad_credentials_stops_hashing_too(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first upload is refused while the scan is still busy: the scan ends at the next
    file instead of hashing the rest of a tree nobody can upload now."""
    tree = tmp_path / "tree"
    make_tree(tree / "a", 2, 3000)
    rest = make_tree(tree / "z", 5, 3000, prefix="rest")
    secret = sandbox.credentials().consumer_secret
    sandbox_config.write_text(sandbox_config.read_text().replace(secret, "not-the-secret-42"))
    config = load_config(sandbox_config)
    recorder = Recorder()
    with Journal.open(config.journal_path) as journal:
        run = Push(config, journal, progress=recorder)
        # The scan waits before the rest until the refusal has stopped the run.
        pause_scan_before_hashing(monkeypatch, rest[0], lambda: run.stop.wait(WAIT_SECONDS))
        report = run.run(PushOptions(roots=[tree], no_wait=True))
        states = [row.state for p in rest[1:] if (row := journal.get(str(p))) is not None]
    assert report.stopped_by is not None and report.stopped_by.stops_run
    assert sandbox.items() == []
    assert states and set(states) == {ItemState.PENDING}, "the scan went on after the stop"


def test_a_large_file_stops_hashing_between_blocks(tmp_path: Path) -> None:
    """Ctrl-C must not wait for the hash of a 50 GB file to finish."""
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)
    blocks = []

    def stop_after_two() -> bool:
        blocks.append(1)
        return len(blocks) >= 2

    with pytest.raises(ScanStopped):
        sha256_file(str(big), should_stop=stop_after_two)
    assert len(blocks) == 2


class GrowsOnFirstBlock(Recorder):
    """Appends to the file right after its first block went out: the next block sees the
    change (an event, not a moment picked by a timer)."""

    def __init__(self, clip: Path) -> None:
        super().__init__()
        self.clip = clip
        self.grown = False

    def file_bytes(self, path: str, nbytes: int) -> None:
        if path == str(self.clip) and nbytes > 0 and not self.grown:
            self.grown = True
            with open(self.clip, "ab") as fh:
                fh.write(b"more")


def test_a_file_readied_twice_in_a_run_is_counted_once(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """Changed while it was being sent, the file goes back to the scan and is readied
    again: still one file in the progress totals, and one synced by this run."""
    tree = tmp_path / "tree"
    tree.mkdir()
    clip = tree / "clip.mp4"
    clip.write_bytes(os.urandom(3 << 20))  # several socket blocks
    os.utime(clip, (1, 1))
    recorder = GrowsOnFirstBlock(clip)
    config = load_config(sandbox_config)
    clock = FakeClock(start=time.time())  # the rescan of the changed file: virtual time
    with Journal.open(config.journal_path, clock=clock) as journal:
        report = Push(config, journal, progress=recorder, clock=clock).run(
            PushOptions(roots=[tree], no_wait=True, concurrency=1)
        )
    outcomes = [kind for kind, path, _ in recorder.calls if path == str(clip)]
    assert recorder.grown
    assert outcomes.count("started") == 2 and "pending" in outcomes, outcomes
    assert recorder.announced() == 1
    assert report.all_landed and report.synced_by_run == 1
    assert_once_each(sandbox, [clip])


@pytest.mark.parametrize(
    ("new_content", "synced_by_run"),
    [
        (b"A" * 2000, 2),  # synced again: still one file synced by this run
        (b"", 1),  # emptied: skipped at the end, so not a file this run synced
    ],
)
def test_synced_by_this_run_counts_files_not_syncs(
    sandbox: Sandbox,
    sandbox_config: Path,
    tmp_path: Path,
    new_content: bytes,
    synced_by_run: int,
) -> None:
    """A file this run synced and then saw change counts once if it ends synced, not at
    all if it does not; a file synced by an earlier run stays 'already synced before it'."""
    append_config(sandbox_config, "[scan]\nstable_seconds = 1\n")
    config = load_config(sandbox_config)
    tree = tmp_path / "tree"
    tree.mkdir()
    before = tree / "c-before.mp4"
    before.write_bytes(b"c" * 1000)
    os.utime(before, (1, 1))
    with Journal.open(config.journal_path) as journal:
        Push(config, journal).run(PushOptions(roots=[tree]))
    changed = tree / "a-changed.mp4"
    changed.write_bytes(b"a" * 1000)
    os.utime(changed, (1, 1))
    settling = tree / "b-settling.mp4"
    settling.write_bytes(b"b" * 1000)  # fresh mtime: the run waits for it to settle

    recorder = Recorder()

    def change_after_sync() -> None:
        recorder.synced.wait(WAIT_SECONDS)
        changed.write_bytes(new_content)
        os.utime(changed, (1, 1))  # old mtime: stable at once, picked up by the next scan

    threading.Thread(target=change_after_sync, daemon=True).start()
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, progress=recorder).run(PushOptions(roots=[tree]))
        changes = [e for e in journal.events(str(changed)) if e.detail.startswith("changed")]
    assert changes, "the change did not come before the end of the run"
    assert report.counts[ItemState.SYNCED] == synced_by_run + 1
    assert (report.synced_by_run, report.synced_before) == (synced_by_run, 1)


def test_ctrl_c_during_a_dry_run_scan_is_an_interrupted_run(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan of a scan cut short is not the whole plan: the report says interrupted
    (the CLI exits 130), not 'all planned'."""
    tree = tmp_path / "tree"
    make_tree(tree, 5, 1000)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        run = Push(config, journal)
        real_scan = syncd.pipeline.feeds.scan

        def scan_interrupted_after_one_hash(*args: object, **kwargs: object) -> object:
            def hash_file(path: str) -> str:
                run.request_stop()  # what the SIGINT handler does
                return sha256_file(path)

            return real_scan(*args, hash_file=hash_file, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(syncd.pipeline.feeds, "scan", scan_interrupted_after_one_hash)
        report = run.run(PushOptions(roots=[tree], dry_run=True, no_wait=True))
    assert report.interrupted
    assert sum(line.startswith("upload") for line in report.plans) == 1
    assert sandbox.count_requests() == 0
