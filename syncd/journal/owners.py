"""Lease owners: which process holds a claim, and whether it can still be running."""

from __future__ import annotations

import os
import socket


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2 :].split()  # comm may hold spaces and ')'
    if len(rest) < 20:
        return None
    return rest[0], rest[19]  # fields 3 and 22 of proc(5)


def _process_start(pid: int) -> str | None:
    found = _proc_stat(pid)
    return None if found is None else found[1]


def make_owner() -> str:
    """This process as a lease owner: "<hostname>:<pid>:<start time>"."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or '0'}"


def owner_is_local(owner: str) -> bool:
    """Whether the owner string names a process on this host."""
    return owner.rsplit(":", 2)[0] == socket.gethostname()


def owner_is_alive(owner: str) -> bool:
    """False only when we know the owner process is gone.

    On this host: the pid must exist, not be a zombie, and (when recorded)
    have the same start time, so a recycled pid does not count. On another
    host we cannot tell: alive until its lease expires.
    """
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False  # not ours to guess about: a malformed owner holds nothing
    if pid <= 0:
        return False  # kill(0 or -n) would signal a process group, not a process
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to someone else
    found = _proc_stat(pid)
    if found is None:
        return True  # exists (kill said so) but /proc is hidden from us: assume alive
    state, current = found
    if state in ("Z", "X"):
        return False  # exited, not yet reaped: runs nothing
    return start == "0" or current == start  # a different start time = a recycled pid
