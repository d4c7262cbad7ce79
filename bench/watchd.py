"""Shared plumbing for the `syncd watch` benchmarks: a daemon as a child process, its CPU
and peak RSS, and the journal's view of each file, read without taking its write lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import psutil
from common import PYTHON

from syncd.journal.db import path_key

# The daemon's settings for the benchmarks: files are complete after a second of quiet
# (the latency target is stated for stable_seconds = 1).
WATCH_CONFIG = """
[scan]
stable_seconds = 1

[daemon]
debounce = 0.05
"""


def watch_section(root: Path) -> str:
    return WATCH_CONFIG + f'\n[[watch]]\npath = "{root}"\n'


class Daemon:
    """`syncd watch` with its output in a file; CPU and RSS read through psutil."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "syncd", "-c", str(config), "watch"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0
        self._done = threading.Event()
        self._poller = threading.Thread(target=self._poll_rss, daemon=True)
        self._poller.start()

    def _poll_rss(self) -> None:
        while not self._done.wait(0.05):
            try:
                status = Path(f"/proc/{self.proc.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def wait_for_log(self, text: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise SystemExit(f"syncd watch exited ({self.proc.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {text!r}; see {self.log}")
            time.sleep(0.05)

    def stop(self) -> int:
        self._done.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self._poller.join(timeout=5)
        return code


class JournalPeek:
    """Read-only looks at the daemon's journal (never takes its write lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def first_event_at(self, path: Path, to_state: str) -> float | None:
        found = self._query(
            # Events name their file by a hash of its path (issue 15's keyed event log).
            "SELECT MIN(at) FROM events WHERE path_key = ? AND to_state = ?",
            (path_key(os.fsencode(path)), to_state),
        )
        value = found[0][0] if found else None
        return None if value is None else float(value)  # type: ignore[arg-type]

    def count(self, states: tuple[str, ...]) -> int:
        marks = ", ".join("?" for _ in states)
        found = self._query(f"SELECT COUNT(*) FROM files WHERE state IN ({marks})", states)
        return int(found[0][0]) if found else 0  # type: ignore[call-overload]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
