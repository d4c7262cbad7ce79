"""Read a sidecar's text: a regular file, under a size cap, strictly UTF-8."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd.errors import SidecarError

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def read_sidecar_text(path: Path, cap: int) -> str:
    """The text of `path`, or SidecarError naming the file and the problem.

    Opened non-blocking, so a FIFO in the sidecar's place is reported, not waited on;
    at most `cap` bytes are ever read, so a huge or growing file cannot exhaust memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise SidecarError(f"{path}: cannot read: {kind}, not a regular file")
        if st.st_size > cap:
            raise SidecarError(f"{path}: {_too_big(st.st_size, cap)}")
        raw = _read_up_to(fd, cap + 1)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > cap:  # it grew after the size check
        raise SidecarError(f"{path}: {_too_big(len(raw), cap)}")
    try:
        return raw.decode("utf-8-sig")  # tolerate the BOM some editors write
    except UnicodeDecodeError as exc:
        raise SidecarError(
            f"{path}: not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _too_big(size: int, cap: int) -> str:
    return f"too large ({size} bytes; a sidecar of this kind may be at most {cap} bytes)"
