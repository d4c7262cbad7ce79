"""Stop and reload flags for one run. Signal handlers only pass the signal on; the run's
loop reacts.

First SIGINT/SIGTERM: stop gently. A push stops at once (no new work; transfers are
abandoned at their next block); a daemon drains (no new work; transfers in flight get
`stop_timeout` to finish, then are abandoned). Either way the journal stays consistent.
Second: stop at once: the loop leaves the process without waiting for anything (still
safe: every state change is one transaction, and what was in flight is recovered by the
next run).

A handler runs on the main thread between two bytecodes, wherever the main thread is: it
may be inside `wake.clear()` or `wake.wait()`, holding that Event's lock, or inside a
first handler interrupted by a second signal. So a handler takes no lock, not even by
setting an Event: it writes the signal number into a pipe, and a relay thread sets the
flags (where waiting for a lock is harmless, since the main thread will let it go).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(self) -> None:
        self.stop = threading.Event()  # stop taking work; abandon transfers at the next block
        self.wake = threading.Event()  # something changed: the run's loop looks again
        self.reload = threading.Event()  # SIGHUP: re-read the config (watch)
        self.draining = threading.Event()  # no new work; in-flight transfers may finish
        self.by_signal = False
        self.force = threading.Event()  # second signal: leave at once
        self._signals = 0  # stop signals seen; only the relay thread (or a test) counts

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
        """What a SIGINT/SIGTERM means: flags only. Called by the relay thread, never in a
        signal handler (setting an Event takes its lock)."""
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
        runs (on the relay thread) on the first stop signal, before the flags are set: a
        one-line notice."""
        read_fd, write_fd = os.pipe()  # not inherited by child processes (PEP 446)
        os.set_blocking(write_fd, False)

        def relay() -> None:
            while data := os.read(read_fd, 64):
                for signum in data:
                    self._relay_one(signum, drain=drain, on_first=on_first)

        def handler(signum: int, _frame: object) -> None:
            # One write to a pipe: no lock, so it cannot deadlock whatever it interrupted.
            with contextlib.suppress(BlockingIOError):  # full: signals enough are queued
                os.write(write_fd, bytes([signum]))

        threading.Thread(target=relay, name="syncd-signals", daemon=True).start()
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        if reload:
            signal.signal(signal.SIGHUP, handler)

    def _relay_one(self, signum: int, *, drain: bool, on_first: Callable[[], None] | None) -> None:
        if signum == signal.SIGHUP:
            self.on_reload()
            return
        try:
            if (
                on_first is not None
                and self._signals == 0
                and not (self.stop.is_set() or self.draining.is_set())
            ):
                on_first()
        except Exception:  # a notice that cannot be written must not cost the stop
            log.exception("signal notice failed")
        finally:
            self.on_signal(signum, drain=drain)
