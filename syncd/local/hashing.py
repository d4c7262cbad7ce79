"""Reading a file's content hash, never hanging on something that is not a file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable

from syncd.text import printable

# Read size for hashing: large enough that syscalls are noise next to disk
# throughput, small enough to keep memory flat with several scanners.
HASH_BLOCK_SIZE = 1024 * 1024

HashFile = Callable[[str], str]
# Asked between files (and between blocks of a big file); True ends the scan early.
ShouldStop = Callable[[], bool]


class NotRegularFile(OSError):
    """The path is a FIFO, socket or device: never read it."""


class ScanStopped(Exception):
    """`should_stop` said stop while a file was being hashed (a 50 GB file takes minutes)."""


def sha256_file(path: str, should_stop: ShouldStop | None = None) -> str:
    """SHA-256 of a regular file, streamed in HASH_BLOCK_SIZE blocks; ScanStopped between
    blocks once `should_stop()` is true."""
    # O_NONBLOCK: opening a FIFO that replaced the file must not hang the scan.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{printable(path)}: not a regular file")
        digest = hashlib.sha256()
        if st.st_size < HASH_BLOCK_SIZE:
            # A small file in one read, without the block buffer (most of an archive's
            # files by count, at a scan's first pass).
            # A short read of a regular file is its end; a full one means it grew.
            data = fh.read(st.st_size + 1)
            digest.update(data)
            if len(data) > st.st_size:
                while chunk := fh.read(HASH_BLOCK_SIZE):
                    digest.update(chunk)
            return digest.hexdigest()
        buffer = bytearray(HASH_BLOCK_SIZE)
        view = memoryview(buffer)
        while n := fh.readinto(buffer):
            digest.update(view[:n])
            if should_stop is not None and should_stop():
                raise ScanStopped(path)
    return digest.hexdigest()
