"""Shared pacing between workers: a bandwidth limit and a rate-limit gate."""

from __future__ import annotations

import logging
import threading

from syncd.clock import Clock

log = logging.getLogger(__name__)

# The bucket holds at most this many seconds of traffic, so a pause does not
# let a burst far above the limit through afterwards.
BURST_SECONDS = 0.25


class Throttle:
    """A token bucket over every worker: `consume(n)` blocks until n bytes may go."""

    def __init__(self, rate: int | None, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._last = clock.time()

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
        # Sleep outside the lock: other workers keep their own debts.
        if debt > 0:
            self._clock.sleep(debt)


class RateGate:
    """After a 429 (or 503 with Retry-After) nobody sends until the server's time is up."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._not_before = 0.0

    def hold(self, seconds: float, reason: str) -> None:
        with self._lock:
            until = self._clock.time() + seconds
            if until > self._not_before:
                self._not_before = until
                log.info("holding all requests for %.1f s: %s", seconds, reason)

    def wait(self) -> None:
        with self._lock:
            delay = self._not_before - self._clock.time()
        if delay > 0:
            self._clock.sleep(delay)


class RateMeter:
    """Recent upload throughput over all workers, to size upload tokens' lifetimes."""

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
