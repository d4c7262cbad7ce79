"""Shared pacing between workers: a bandwidth limit and a throughput meter."""

from __future__ import annotations

import threading

from syncd.clock import Clock
from syncd.errors import Interrupted

# The bucket holds at most this many seconds of traffic, so a pause does not
# let a burst far above the limit through afterwards.
BURST_SECONDS = 0.25
# The smallest block a limited transfer reads at a time (a block per syscall and per bucket
# draw; 16 KiB is half a second at 32 KiB/s).
MIN_LIMITED_BLOCK = 16 * 1024


class Throttle:
    """A token bucket over every worker: `consume(n)` blocks until n bytes may go.

    The wait for a debt ends at once when the run stops (Interrupted): at 32 KiB/s one
    1 MiB block is a 30 s debt, and Ctrl-C must not sit it out.
    """

    def __init__(self, rate: int | None, clock: Clock, stop: threading.Event) -> None:
        self.rate = rate
        self._clock = clock
        self._stop = stop
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._last = clock.time()

    def block_size(self, largest: int) -> int:
        """How much a transfer should read and send at a time: `largest` when unlimited,
        else about BURST_SECONDS of traffic, so the limit is kept smoothly rather than by
        a burst and a long wait per block."""
        if not self.rate:
            return largest
        return max(MIN_LIMITED_BLOCK, min(largest, int(self.rate * BURST_SECONDS)))

    def consume(self, nbytes: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self._clock.time()
            capacity = max(float(nbytes), self.rate * BURST_SECONDS)
            self._tokens = min(capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            debt = -self._tokens / self.rate if self._tokens < 0 else 0.0
        # Wait outside the lock: other workers keep their own debts.
        if debt > 0 and self._clock.wait(self._stop, debt):
            raise Interrupted("stopping: bandwidth-limited transfer abandoned")


class RateMeter:
    """Recent upload throughput over all workers of a run, to size upload tokens' lifetimes."""

    # Weight of the newest sample: a few files are enough to follow a change.
    SMOOTHING = 0.3

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None

    def record(self, nbytes: int, seconds: float) -> None:
        if nbytes <= 0 or seconds <= 0:
            return
        sample = nbytes / seconds
        with self._lock:
            old = self._rate
            self._rate = sample if old is None else old + self.SMOOTHING * (sample - old)

    @property
    def rate(self) -> float | None:
        with self._lock:
            return self._rate
