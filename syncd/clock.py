"""Time, passed in, so lease, back-off, stability and pacing logic test in milliseconds.

Every wait in syncd goes through `Clock.wait(event, seconds)`, which returns early when the
event (a run's stop flag, a wake-up) is set: no sleep can outlast a Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (wall clock: comparable with file mtimes)."""
        ...

    def sleep(self, seconds: float) -> None:
        """A wait nothing can cut short; only for waits that are a few milliseconds."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds`, or until `event` is set; True when it is set."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class FakeClock:
    """A clock tests move by hand; sleep() and wait() advance it instantly.

    Virtual time only moves forward when something waits, so a test of a five-minute
    back-off schedule runs in milliseconds. A wait still yields the CPU for a moment: a
    thread that waits in a loop must not starve the thread it waits for.
    """

    # Real seconds a wait yields, so other threads (and a sandbox) get to run.
    YIELD_SECONDS = 0.001

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        time.sleep(self.YIELD_SECONDS)
        if event.is_set():
            return True
        self.sleep(seconds)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
