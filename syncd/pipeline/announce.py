"""Telling the progress display about work: in batches as the scan readies files (a line per
file would flood plain output), and always before a worker starts a file."""

from __future__ import annotations

import threading

from syncd.clock import Clock
from syncd.progress import ProgressSink

# Files the scan readies are told to the progress display at most this often.
ANNOUNCE_EVERY_SECONDS = 0.5


class Announcer:
    def __init__(self, progress: ProgressSink, clock: Clock, *, remember: bool = True) -> None:
        self._progress = progress
        self._clock = clock
        self._remember = remember  # a daemon forgets: its set would grow for ever
        self._lock = threading.Lock()
        self._announced: set[str] = set()
        self._unannounced: dict[str, int] = {}  # path -> size, not yet told
        self._announced_at = clock.time()

    def ready(self, path: str, size: int) -> None:
        """The scan readied a file: count it once per run; flush now and then."""
        with self._lock:
            self._queue(path, size)
            due = self._clock.time() - self._announced_at >= ANNOUNCE_EVERY_SECONDS
        if due:
            self.flush()

    def claimed(self, path: str, size: int) -> None:
        """Before a worker starts a file, progress must have counted it. The batch being
        collected goes out early only when it holds this file (each hand-over is a line
        in plain output)."""
        with self._lock:
            if path not in self._announced or path in self._unannounced:
                self._queue(path, size)
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _queue(self, path: str, size: int) -> None:
        if path not in self._announced:
            if self._remember:
                self._announced.add(path)
            self._unannounced[path] = size

    def _flush(self) -> None:
        batch, self._unannounced = self._unannounced, {}
        self._announced_at = self._clock.time()
        if batch:
            self._progress.add_work(len(batch), sum(batch.values()))
