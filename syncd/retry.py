"""The one retry engine: uploads, metadata, album lookups and the remote lister all retry
through it.

- Transport faults (connection cut, timeout, 5xx, 429) are retried with exponential
  back-off and full jitter; API errors are not (the error class says which, see errors.py).
- A server's `Retry-After` holds every request of the run (the shared `RateGate`), capped
  at `max_retry_after`: a site that asks for an hour, or for ever, does not stall a run
  for longer than the cap, and the cap is logged when it applies.
- Every wait goes through the clock and ends at once when the run's stop flag is set
  (`Interrupted`), so Ctrl-C is never held up by a back-off, a Retry-After or the
  bandwidth limit; on `FakeClock` whole schedules run in milliseconds.
- After a round of `max_attempts` fails, the caller parks the work (state `retry`) for
  `park_delay(round)`: 30 s, 2 min, 8 min, 32 min, then an hour at most.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from syncd.clock import Clock
from syncd.errors import Interrupted, SyncdError

log = logging.getLogger(__name__)

T = TypeVar("T")

# The longest Retry-After honoured. A server may ask for a long pause (or, broken, for
# days); longer than a quarter of an hour and an operator is better served by the run
# parking the work and saying so than by a process that sits silent.
MAX_RETRY_AFTER_SECONDS = 15 * 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one run tries before parking work, and how long parked work waits."""

    max_attempts: int = 5  # requests per round
    initial_wait: float = 1.0  # seconds; doubles per attempt, full jitter
    max_wait: float = 60.0  # cap of one back-off sleep
    # After a round fails the work waits in `retry`: first 30 s, then x4 each round, at
    # most an hour, so a site outage does not spin the queue.
    park_first: float = 30.0
    park_factor: float = 4.0
    park_max: float = 3600.0
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def park_delay(self, round_number: int) -> float:
        """The wait after the `round_number`-th failed round (1 for the first)."""
        exponent = max(0, round_number - 1)
        if exponent > 64:  # park_factor ** exponent would overflow; the cap applies long before
            return self.park_max
        return min(self.park_max, self.park_first * self.park_factor**exponent)

    def backoff(self, attempt_number: int, retry_after: float | None) -> float:
        """Exponential back-off with full jitter; a server's Retry-After wins if longer."""
        ceiling = min(self.max_wait, self.initial_wait * 2 ** (attempt_number - 1))
        wait = random.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, self.capped_retry_after(retry_after, "back-off"))
        return wait

    def capped_retry_after(self, seconds: float, context: str) -> float:
        if seconds > self.max_retry_after:
            log.warning(
                "the site asked to wait %.0f s (Retry-After); waiting %.0f s instead (%s)",
                seconds,
                self.max_retry_after,
                context,
            )
            return self.max_retry_after
        return seconds


class RateGate:
    """After a 429 (or a 503 with Retry-After) no request of the run goes out until the
    server's time is up. Waiting at the gate ends at once when the run stops."""

    def __init__(self, clock: Clock, stop: threading.Event, policy: RetryPolicy) -> None:
        self._clock = clock
        self._stop = stop
        self._policy = policy
        self._lock = threading.Lock()
        self._not_before = 0.0

    def hold(self, seconds: float, reason: str) -> None:
        seconds = self._policy.capped_retry_after(seconds, reason)
        with self._lock:
            until = self._clock.time() + seconds
            if until > self._not_before:
                self._not_before = until
                log.info("holding all requests for %.1f s: %s", seconds, reason)

    def wait(self) -> None:
        with self._lock:
            delay = self._not_before - self._clock.time()
        if delay > 0 and self._clock.wait(self._stop, delay):
            raise Interrupted("stopping while the site asked to slow down")


class Retrier:
    """Runs a call under the policy: gate before each attempt, back-off between them,
    every wait cut short by the stop flag. One per run; shared by its threads."""

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        stop: threading.Event,
        gate: RateGate | None = None,
        *,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.stop = stop
        self.gate = gate or RateGate(clock, stop, policy)
        self._note = note

    def pause(self, seconds: float, why: str) -> None:
        """A stoppable wait: Interrupted if the run stops meanwhile."""
        if seconds > 0 and self.clock.wait(self.stop, seconds):
            raise Interrupted(f"stopping during {why}")

    def __call__(self, fn: Callable[[], T], *, what: str) -> T:
        """`fn()` with retries; re-raises the last error when the attempts are spent."""

        def attempt() -> T:
            if self.stop.is_set():
                raise Interrupted("stopping")
            self.gate.wait()
            return fn()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                self.gate.hold(retry_after, f"{exc}")
            return self.policy.backoff(state.attempt_number, retry_after)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0.0
            log.info(
                "%s: attempt %d failed (%s); retrying in %.1f s",
                what,
                state.attempt_number,
                exc,
                sleep,
            )
            if self._note is not None:
                self._note(f"retry {what}: {exc}")

        retrying: Retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, SyncdError) and e.retryable),
            before_sleep=before_sleep,
            sleep=lambda seconds: self.pause(seconds, "back-off"),
            reraise=True,
        )
        return retrying(attempt)
