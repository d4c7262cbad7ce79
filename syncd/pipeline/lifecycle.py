"""Stop and reload flags for one run. Signal handlers only set flags; the run's loop reacts.

First SIGINT/SIGTERM: stop gently. A push stops at once (no new work; transfers are
abandoned at their next block); a daemon drains (no new work; transfers in flight get
`stop_timeout` to finish, then are abandoned). Either way the journal stays consistent.
Second: stop at once: the loop leaves the process without waiting for anything (still
safe: every state change is one transaction, and what was in flight is recovered by the
next run).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class Lifecycle:
    def __init__(self) -> None:
        self.stop = threading.Event()  # stop taking work; abandon transfers at the next block
        self.wake = threading.Event()  # something changed: the run's loop looks again
        self.reload = threading.Event()  # SIGHUP: re-read the config (watch)
        self.draining = threading.Event()  # no new work; in-flight transfers may finish
        self.by_signal = False
        self.force = threading.Event()  # second signal: leave at once
        self._signals = 0
        self._lock = threading.Lock()

    def request_stop(self, *, by_signal: bool = False) -> None:
        if by_signal:
            self.by_signal = True
        self.stop.set()
        self.wake.set()

    def request_drain(self) -> None:
        """Take no new work; what is in flight may finish (the run's loop bounds the wait)."""
        self.by_signal = True
        self.draining.set()
        self.wake.set()

    def on_signal(self, signum: int, *, drain: bool = False) -> None:
        """What a SIGINT/SIGTERM handler does: flags only."""
        with self._lock:
            self._signals += 1
            first = self._signals == 1
        if first and drain:
            self.request_drain()
        elif first:
            self.request_stop(by_signal=True)
        else:
            self.force.set()
            self.wake.set()

    def on_reload(self) -> None:
        self.reload.set()
        self.wake.set()

    def install(
        self,
        *,
        reload: bool = False,
        drain: bool = False,
        on_first: Callable[[], None] | None = None,
    ) -> None:
        """Route SIGINT and SIGTERM (and SIGHUP with `reload`) to the flags. Main thread only.

        With `drain`, the first stop signal drains instead of stopping at once. `on_first`
        runs in the handler on the first stop signal (a one-line notice)."""

        def stop_handler(signum: int, _frame: object) -> None:
            if on_first is not None and not (self.stop.is_set() or self.draining.is_set()):
                on_first()
            self.on_signal(signum, drain=drain)

        signal.signal(signal.SIGINT, stop_handler)
        signal.signal(signal.SIGTERM, stop_handler)
        if reload:
            signal.signal(signal.SIGHUP, lambda _s, _f: self.on_reload())
