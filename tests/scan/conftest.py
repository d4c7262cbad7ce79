"""Fixtures of the scan tests: a FakeClock at the real time (files' mtimes are real), an
empty archive root, and a journal on a real SQLite file beside it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.journal import Journal


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "archive"
    r.mkdir()
    return r


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal.open(tmp_path / "state" / "journal.db", clock=clock) as j:
        yield j
