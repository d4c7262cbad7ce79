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
    back-off schedule runs in milliseconds. Several threads may wait at once (a run's loop,
    its workers, the lease renewer): time then moves to the earliest deadline among the
    waiters, never past it, so each thread wakes in virtual-time order as on a real clock
    (instead of every waiter pushing time on by its whole wait). While a thread that has
    waited on this clock before is busy (a query, an HTTP answer), time moves at most
    MAX_STEP_SECONDS a moment: it holds no deadline, and a lone long waiter (the lease
    renewer's 100 s) must not jump time past what that thread is about to do. A wait
    still yields the CPU for a moment, so the threads it waits for get to run.
    """

    # Real seconds a waiter yields before it moves time on, so other threads (and a
    # sandbox) get to run.
    YIELD_SECONDS = 0.001
    # Virtual seconds time moves per yield at most while another thread of this clock is
    # busy.
    MAX_STEP_SECONDS = 1.0

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._deadlines: dict[int, float] = {}  # waiter -> its deadline
        self._next_waiter = 0
        # Every thread that waited here, and the one that made the clock (a test's main
        # thread, which runs the run's loop: busy scanning before it first waits).
        self._threads = {threading.get_ident(): threading.current_thread()}
        self._waiting: dict[int, int] = {}  # thread id -> its waits in progress
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
        me = threading.get_ident()
        with self._cond:
            deadline = self._now + max(0.0, seconds)
            waiter = self._next_waiter
            self._next_waiter += 1
            self._deadlines[waiter] = deadline
            self._threads[me] = threading.current_thread()
            self._waiting[me] = self._waiting.get(me, 0) + 1
        try:
            while True:
                with self._cond:
                    if event.is_set():
                        return True
                    if self._now >= deadline:
                        self.slept.append(seconds)
                        return False
                    if not self._move_on(only_if_all_wait=True):
                        self._cond.wait(self.YIELD_SECONDS)
                        if not event.is_set():
                            self._move_on()
        finally:
            with self._cond:
                del self._deadlines[waiter]
                self._waiting[me] -= 1
                if not self._waiting[me]:
                    del self._waiting[me]

    def _move_on(self, *, only_if_all_wait: bool = False) -> bool:
        """Move time towards the earliest waiter's deadline (holding the condition); True
        if it moved. With every thread of this clock waiting, straight there (nobody has
        anything to do first); else by MAX_STEP_SECONDS at most, or not at all with
        `only_if_all_wait`."""
        earliest = min(self._deadlines.values())
        if earliest <= self._now:
            return False
        for ident, thread in list(self._threads.items()):
            if not thread.is_alive():
                del self._threads[ident]
        busy = any(ident not in self._waiting for ident in self._threads)
        if busy and only_if_all_wait:
            return False
        step = earliest - self._now
        self._now += min(step, self.MAX_STEP_SECONDS) if busy else step
        self._cond.notify_all()
        return True

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()
