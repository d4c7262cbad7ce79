"""Uploads start while the scan is still hashing the tree, and the report still tells what
this run synced from what was synced before it."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_helpers import assert_once_each, make_tree

from syncd.config import load_config
from syncd.daemon import PushOptions, Run
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.sandbox import Sandbox

# A sparse file this big takes the scan ~0.1 s to hash: time for the small files that were
# hashed before it to be uploaded, if (and only if) workers run during the scan.
BIG_FILE_BYTES = 128 << 20


def test_small_files_land_while_the_scan_still_hashes_a_big_one(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    # The walk goes depth first in name order: a/ (and its files) before z/.
    small = make_tree(tree / "a", 6, 3000)
    big = tree / "z" / "big.mp4"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(BIG_FILE_BYTES)  # sparse: quick to make, real bytes to hash
    os.utime(big, (1, 1))
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Run(config, journal).push(PushOptions(roots=[tree], no_wait=True))
        big_ready = next(e.id for e in journal.events(str(big)) if e.to_state is ItemState.READY)
        first_synced = min(
            e.id for p in small for e in journal.events(str(p)) if e.to_state is ItemState.SYNCED
        )
    assert report.all_landed, (report.failed, report.waiting, report.problems)
    # Event ids are the journal's own order of commits.
    assert first_synced < big_ready, "no upload finished before the scan reached the big file"
    assert_once_each(sandbox, [*small, big])
    assert (report.synced_by_run, report.synced_before) == (7, 0)

    with Journal.open(config.journal_path) as journal:
        again = Run(config, journal).push(PushOptions(roots=[tree], no_wait=True))
    assert (again.synced_by_run, again.synced_before) == (0, 7)
    assert len(sandbox.items()) == 7


def test_a_run_stopped_by_bad_credentials_stops_hashing_too(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """The first upload is refused while the scan is still busy: the scan ends at the next
    file instead of hashing the rest of a tree nobody can upload now."""
    tree = tmp_path / "tree"
    make_tree(tree / "a", 2, 3000)
    big = []
    for i in range(8):  # ~1 s of hashing in all
        path = tree / "z" / f"big{i}.mp4"
        path.parent.mkdir(exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(BIG_FILE_BYTES)
        big.append(path)
    secret = sandbox.credentials().consumer_secret
    sandbox_config.write_text(sandbox_config.read_text().replace(secret, "not-the-secret-42"))
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Run(config, journal).push(PushOptions(roots=[tree], no_wait=True))
        states = [journal.get(str(p)).state for p in big]  # type: ignore[union-attr]
    assert report.stopped_by is not None and report.stopped_by.stops_run
    assert sandbox.items() == []
    assert ItemState.PENDING in states, "the scan hashed every big file after the stop"
    assert ItemState.FAILED not in states
