"""Read a sidecar or folder-defaults file: a regular file (symlinks followed), under a size
cap, strictly UTF-8. One function for every format.

A FIFO named like a sidecar would block a plain open() or read() for ever, and a device
(a symlink to /dev/zero) would be read until memory runs out: the type is checked before
opening and again on the open file (it may have been swapped in between), the open does
not block, and the read stops one byte past the cap whatever the file says its size is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd.errors import SidecarError

_FILE_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def read_sidecar_bytes(path: Path, cap: int) -> bytes:
    """The bytes of `path`, at most `cap` of them, or SidecarError naming the file and the
    problem ("not a regular file (FIFO)", "larger than 1 MiB", "cannot read: ...")."""
    try:
        _check(path, os.stat(path), cap)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        _check(path, os.fstat(fd), cap)
        raw = _read_up_to(fd, cap + 1)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > cap:  # it grew after the check, or its size lied (/proc files say 0)
        raise _too_large(path, cap)
    return raw


def read_sidecar_text(path: Path, cap: int) -> str:
    """read_sidecar_bytes, decoded as UTF-8 (a byte-order mark some editors write is fine)."""
    raw = read_sidecar_bytes(path, cap)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarError(
            f"{path}: not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None


def _check(path: Path, st: os.stat_result, cap: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "special file")
        raise SidecarError(f"{path}: not a regular file ({kind})")
    if st.st_size > cap:
        raise _too_large(path, cap)


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


def _too_large(path: Path, cap: int) -> SidecarError:
    return SidecarError(
        f"{path}: larger than {_size_text(cap)}; a sidecar holds metadata, not media"
    )


def _size_text(n: int) -> str:
    return f"{n / 1024**2:g} MiB" if n >= 1024**2 else f"{n} bytes"
