"""The body an upload attempt sends is read through its TransferGuard, in blocks the
bandwidth limit can pace: about a quarter second of traffic when limited, large otherwise."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from syncd.api.body import MAX_READ_BLOCK
from syncd.clock import FakeClock
from syncd.progress import NullProgress
from syncd.throttle import Throttle
from syncd.upload.core import TransferGuard
from tests.plan.plan_rows import file_row

SIZE = 300_000


def _blocks(tmp_path: Path, rate: int | None) -> tuple[list[int], float]:
    """The sizes of the blocks one attempt reads, and the virtual time it took."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(SIZE))
    st = os.stat(path)
    row = file_row(
        path=str(path), root=str(tmp_path), size=SIZE, mtime_ns=st.st_mtime_ns, inode=st.st_ino
    )
    clock, stop = FakeClock(), threading.Event()
    start = clock.time()
    guard = TransferGuard(
        row, stop=stop, throttle=Throttle(rate, clock, stop), progress=NullProgress()
    )
    sizes = []
    with guard.body().open() as reader:
        while block := reader.read(1 << 20):  # urllib3 asks for 1 MiB at a time
            sizes.append(len(block))
    assert sum(sizes) == SIZE == guard.sent
    return sizes, clock.time() - start


def test_a_limited_transfer_reads_quarter_second_blocks(tmp_path: Path) -> None:
    sizes, took = _blocks(tmp_path, 128 * 1024)
    assert max(sizes) == 32 * 1024  # a quarter second at 128 KiB/s
    assert took == pytest.approx(SIZE / (128 * 1024), abs=0.3)  # paced, minus one burst


def test_an_unlimited_transfer_reads_large_blocks(tmp_path: Path) -> None:
    sizes, took = _blocks(tmp_path, None)
    assert sizes == [SIZE] and SIZE < MAX_READ_BLOCK
    assert took == 0
