"""A worker ended by an error no file's handling catches stops the run with that error,
instead of leaving the main loop waiting for files nobody will take."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pipeline_helpers import items_by_sha, make_tree

from syncd.config import load_config
from syncd.errors import JournalError, WorkerFailed
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.pipeline.report import RunReport
from syncd.progress import NullProgress
from syncd.push import Push, PushOptions
from syncd.sandbox import Sandbox

# A push of five small files takes well under a second; a hang is what this catches.
RUN_SECONDS = 30.0


class BrokenDisplay(NullProgress):
    """A progress display that fails when a file is done (as a closed stderr once did)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def file_finished(self, path: str, outcome: str, detail: str = "") -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [RuntimeError("display gone"), JournalError("disk full")],
    ids=["a bug", "a syncd error that stops no run by itself"],
)
def test_a_failed_worker_stops_the_run_and_says_why(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, error: Exception
) -> None:
    make_tree(tmp_path / "tree", 5)
    config = load_config(sandbox_config)
    reports: list[RunReport] = []
    with Journal.open(config.journal_path) as journal:
        run = Push(config, journal, progress=BrokenDisplay(error))
        options = PushOptions(roots=[tmp_path / "tree"], no_wait=True, concurrency=2)
        pusher = threading.Thread(target=lambda: reports.append(run.run(options)), daemon=True)
        pusher.start()
        pusher.join(RUN_SECONDS)
        assert not pusher.is_alive(), "the run waited for workers that had failed"
        rows = journal.rows_in(list(ItemState))
    states = [r.state for r in rows]
    synced = {r.sha256 for r in rows if r.state is ItemState.SYNCED}
    (report,) = reports
    assert isinstance(report.stopped_by, WorkerFailed)
    assert f"{type(error).__name__}: {error}" in str(report.stopped_by)
    assert not report.all_landed  # exit status 1, the files listed as not landed
    # Nothing lost, nothing twice: each synced row is one item on the site; the others are
    # not failed but waiting (ready, claimed with a lease, or not hashed yet: the stop also
    # stops the scan), and one interrupted mid-upload is asked for by marker before resending.
    on_site = items_by_sha(sandbox)
    assert all(n == 1 for n in on_site.values())
    assert synced and synced <= set(on_site)  # a worker fails as it finishes its first file
    waiting = {ItemState.READY, ItemState.UPLOADING, ItemState.PENDING}
    assert len(states) == 5 and all(s in waiting for s in states if s is not ItemState.SYNCED)
