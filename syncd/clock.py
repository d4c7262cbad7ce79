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
    """A clock tests move by hand; sleep() advances it at once, wait() in virtual time.

    Virtual time only moves forward when something waits, so a test of a five-minute
    back-off schedule runs in milliseconds. With several threads waiting at once (a run's
    loop, its workers, the lease renewer), time moves to the earliest deadline among the
    waiters, never past it: each thread wakes in virtual-time order, as it would on a real
    clock, instead of every waiter pushing time on by its own whole wait. A wait still
    yields the CPU for a moment: a thread that waits in a loop must not starve the thread
    it waits for (a worker talking HTTP does not hold time back).
    """

    # Real seconds a waiter yields before it moves time on, so other threads (and a
    # sandbox) get to run.
    YIELD_SECONDS = 0.001

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._deadlines: dict[int, float] = {}  # waiter -> its deadline
        self._next_waiter = 0
        self.slept: list[float] = []

    def time(self) -> float:
        with self._cond:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)
            self._cond.notify_all()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        with self._cond:
            deadline = self._now + max(0.0, seconds)
            waiter = self._next_waiter
            self._next_waiter += 1
            self._deadlines[waiter] = deadline
        try:
            while True:
                with self._cond:
                    self._cond.wait(self.YIELD_SECONDS)
                    if event.is_set():
                        return True
                    earliest = min(self._deadlines.values())
                    if earliest > self._now:
                        self._now = earliest  # the earliest waiter's time has come
                        self._cond.notify_all()
                    if self._now >= deadline:
                        self.slept.append(seconds)
                        return False
        finally:
            with self._cond:
                del self._deadlines[waiter]

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()
