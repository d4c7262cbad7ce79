"""FileSlice: fresh readers over a region of a real file, large blocks, on_read hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.api.body import MAX_READ_BLOCK, FileSlice
from syncd.errors import LocalFileError


def make_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


def test_region_is_read_exactly(tmp_path: Path) -> None:
    path = make_file(tmp_path, 10_000)
    part = FileSlice(path, offset=1000, length=3000)
    reader = part.open()
    assert len(reader) == 3000  # type: ignore[arg-type]
    data = reader.read(1200) + reader.read(-1)
    assert data == path.read_bytes()[1000:4000]
    assert len(reader) == 0 and reader.read(10) == b""  # type: ignore[arg-type]
    reader.close()


def test_each_open_is_a_fresh_reader(tmp_path: Path) -> None:
    path = make_file(tmp_path, 5000)
    part = FileSlice(path, offset=4000)
    assert part.length == 1000 and part.filename == "data.bin"
    first, second = part.open(), part.open()
    assert first.read(-1) == second.read(-1) == path.read_bytes()[4000:]
    first.close()
    second.close()


def test_on_read_sees_every_block_and_can_abort(tmp_path: Path) -> None:
    path = make_file(tmp_path, 50_000)
    seen: list[int] = []
    reader = FileSlice(path, on_read=seen.append).open()
    while reader.read(16_384):
        pass
    assert sum(seen) == 50_000 and len(seen) == 4

    def abort(n: int) -> None:
        raise LocalFileError(str(path), "changed while sent", requeue=True)

    with pytest.raises(LocalFileError, match="changed while sent"):
        FileSlice(path, on_read=abort).open().read(100)


def test_reads_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        fh.truncate(MAX_READ_BLOCK * 2 + 5)
    reader = FileSlice(path).open()
    assert len(reader.read(-1)) == MAX_READ_BLOCK
    reader.close()


def test_shrunk_file_fails_instead_of_sending_short(tmp_path: Path) -> None:
    path = make_file(tmp_path, 10_000)
    part = FileSlice(path)
    path.write_bytes(b"short")
    reader = part.open()
    reader.read(100)
    with pytest.raises(LocalFileError, match="shrank") as info:
        reader.read(100)
    assert info.value.requeue


def test_missing_file_is_a_requeue(tmp_path: Path) -> None:
    with pytest.raises(LocalFileError) as info:
        FileSlice(tmp_path / "gone.mp4")
    assert info.value.requeue
    path = make_file(tmp_path, 10)
    part = FileSlice(path)
    path.unlink()
    with pytest.raises(LocalFileError, match="cannot open") as info:
        part.open()
    assert info.value.requeue
