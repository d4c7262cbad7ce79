"""`syncd scan`: index an archive into the journal without uploading anything.

The scan push and watch run (new and changed files hashed, renames followed, vanished
files dropped, metadata signatures compared), and nothing else: no site is asked, no
worker starts. Afterwards the journal knows the size of the job (`syncd status`), and a
push starts uploading at once.

With a progress bar, a first walk counts the media files (a stat each, no hashing), so
the bar has a total and an ETA; the scan itself is what takes the time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncd.clock import Clock, SystemClock
from syncd.config import Config
from syncd.journal import Journal
from syncd.local.folder import Entry, Filter, walk
from syncd.local.report import ScanReport
from syncd.local.scan import ScanProgress, scan
from syncd.model import ItemState
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.lifecycle import Lifecycle
from syncd.progress import NullProgress
from syncd.retry import RetryPolicy


@dataclass
class IndexResult:
    report: ScanReport
    seconds: float
    totals: dict[ItemState, tuple[int, int]]  # under the roots: (files, bytes) per state
    interrupted: bool


def count_media(roots: Sequence[Path], config: Config, should_stop: Callable[[], bool]) -> int:
    """How many media files the scan will look at: a walk with the same filters, without
    the journal (its problems are the scan's to report, so they are not kept)."""
    filt = Filter(config.scan)
    found = 0
    for root in roots:
        try:
            for item in walk(
                os.path.abspath(root),
                filt,
                ScanReport(),
                follow_symlinks=config.scan.follow_symlinks,
            ):
                found += isinstance(item, Entry)
                if found % 4096 == 0 and should_stop():
                    return found
        except OSError:
            continue  # the scan reports the root
    return found


def index_archive(
    config: Config,
    journal: Journal,
    roots: Sequence[Path],
    *,
    no_wait: bool = False,
    lifecycle: Lifecycle | None = None,
    progress: ScanProgress | None = None,
    clock: Clock | None = None,
) -> IndexResult:
    """Scan `roots` into the journal (see the module docstring)."""
    lifecycle = lifecycle or Lifecycle()
    ctx = RunContext(
        config,
        journal,
        clock=clock or SystemClock(),
        progress=NullProgress(),
        policy=RetryPolicy(),
        lifecycle=lifecycle,
        options=RunOptions(no_wait=no_wait),
    )
    started = time.monotonic()
    report = scan(
        roots,
        journal,
        config.scan,
        clock=ctx.clock,
        no_wait=no_wait,
        should_stop=lifecycle.stop.is_set,
        probe=ctx.probe(),
        progress=progress,
    )
    seconds = time.monotonic() - started
    totals = journal.totals(roots=[str(r) for r in roots])
    return IndexResult(report, seconds, totals, interrupted=lifecycle.by_signal)
