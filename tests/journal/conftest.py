"""Fixtures of the journal tests: a FakeClock (a module may start it elsewhere by a
`clock` fixture of its own) and a journal on a real SQLite file that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.journal import Journal


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", clock=clock) as j:
        yield j
