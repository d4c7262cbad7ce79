"""sd_notify: tell systemd that the service is ready, alive, reloading or stopping.

The protocol, written here rather than taken from a library: one datagram of
`KEY=VALUE` lines sent to the AF_UNIX socket named by `$NOTIFY_SOCKET`; a name that starts
with `@` is in the abstract namespace (`@` becomes a NUL byte). systemd documents it as a
stable interface and invites reimplementation (sd_notify(3), "Notes"), and it is these
few lines. The libraries for it are either unmaintained (`sdnotify`, last release 2017,
no RELOADING/MONOTONIC_USEC helper) or need libsystemd and a C build (`systemd-python`,
`cysystemd`), which a `pipx install` on an archive server should not.

Without `$NOTIFY_SOCKET` (a terminal, cron, a test) every method does nothing and returns
False, so callers never ask whether they run under systemd. A send that fails (systemd
restarted, socket gone) is logged once and never raised: a lost notification must not take
down the uploads it describes. systemd's `vsock:` addresses (a VM notifying its host) are
not supported; a warning says so and the notifier stays silent.

How `syncd watch` uses it:

    notifier = Notifier.from_env()
    pinger = WatchdogPinger.from_env(notifier)
    ...                                    # start-up scan queued
    notifier.ready("watching 3 folders")
    while running:                         # the main loop, not a helper thread
        pinger.tick()
        notifier.status("12 queued, 3.1 MiB/s, last error: none")   # when it changes
        left = pinger.time_left()           # None without WatchdogSec=
        wait(LOOP_WAIT if left is None else min(left, LOOP_WAIT))
        if hup:
            with notifier.reload():        # RELOADING=1 ... READY=1
                apply(load_config())
    notifier.stopping("finishing 2 uploads")
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"

# systemd's sd_watchdog_enabled(3) advises pinging at half the interval: one late ping
# then still lands inside the window.
WATCHDOG_PING_FRACTION = 0.5


class Notifier:
    """Sends sd_notify messages to one socket; a no-op when there is none.

    Safe to call from any thread: each message is one datagram, and the socket is only
    created once (under a lock) on first use.
    """

    def __init__(self, address: str | None) -> None:
        """`address` as `$NOTIFY_SOCKET` gives it: `/path`, `@abstract-name`, or None."""
        self._address = _socket_address(address) if address else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed_once = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for through `$NOTIFY_SOCKET` (a no-op one if unset)."""
        env = os.environ if env is None else env
        return cls(env.get(NOTIFY_SOCKET_ENV) or None)

    @property
    def enabled(self) -> bool:
        """True when messages go somewhere (systemd is listening)."""
        return self._address is not None

    # --- the messages syncd sends -------------------------------------------------------

    def ready(self, status: str | None = None) -> bool:
        """READY=1: start-up is done (and, after `reloading()`, the reload is done)."""
        return self.send("READY=1", *_status_field(status))

    def status(self, text: str) -> bool:
        """STATUS=: one line for `systemctl status` (queue depth, rate, last error)."""
        return self.send(*_status_field(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: the main loop is alive. Send every `watchdog_interval()` seconds."""
        return self.send("WATCHDOG=1")

    def reloading(self, status: str | None = None) -> bool:
        """RELOADING=1 with MONOTONIC_USEC= (systemd >= 253 matches it to the reload job).
        Follow with `ready()` once the new config is in force or was refused."""
        return self.send(
            "RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *_status_field(status)
        )

    @contextlib.contextmanager
    def reload(self, status: str | None = None) -> Iterator[None]:
        """`with notifier.reload(): apply(new_config)`: RELOADING=1 before, READY=1 after,
        also when the body raises (a refused config leaves the old one running, ready)."""
        self.reloading(status)
        try:
            yield
        finally:
            self.ready()

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown has begun (in-flight transfers are finishing)."""
        return self.send("STOPPING=1", *_status_field(status))

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC=: ask for `seconds` more before systemd gives up on the
        current start or stop (a long start-up scan, transfers finishing at stop)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    # --- the protocol -------------------------------------------------------------------

    def send(self, *fields: str) -> bool:
        """Send `KEY=VALUE` fields as one datagram. True if it was sent."""
        if self._address is None or not fields:
            return False
        for field in fields:
            if "=" not in field or "\n" in field:
                raise ValueError(f"not a single KEY=VALUE line: {field!r}")
        message = "\n".join(fields).encode("utf-8")
        try:
            self._socket().sendto(message, self._address)
        except OSError as exc:
            self._report_failure(exc)
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _socket(self) -> socket.socket:
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            return self._sock

    def _report_failure(self, exc: OSError) -> None:
        # Once at warning, then quietly: the main loop pings every few seconds.
        level = logging.DEBUG if self._failed_once else logging.WARNING
        self._failed_once = True
        log.log(level, "cannot notify systemd at %s: %s", _printable(self._address), exc)


class WatchdogPinger:
    """WATCHDOG=1 at most every `interval` seconds, from whatever loop calls `tick()`.

    Call `tick()` on every pass of the daemon's main loop (never from a helper thread: a
    hung loop must stop the pings), and wait no longer than `time_left()` between passes.
    With `interval` None (no `WatchdogSec=`) both do nothing.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    @classmethod
    def from_env(cls, notifier: Notifier, env: Mapping[str, str] | None = None) -> WatchdogPinger:
        return cls(notifier, watchdog_interval(env) if notifier.enabled else None)

    def tick(self) -> bool:
        """Ping if one is due (the first call always is). True if a ping was sent."""
        if self.interval is None:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return self._notifier.watchdog()

    def time_left(self) -> float | None:
        """Seconds until the next ping is due (0 when overdue); None without a watchdog."""
        if self.interval is None:
            return None
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.interval - self._clock())


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of `WatchdogSec=`), or None when systemd
    expects none: no `$WATCHDOG_USEC`, an unusable value, or a `$WATCHDOG_PID` that names
    another process (the variables were inherited, not meant for us)."""
    env = os.environ if env is None else env
    raw = env.get(WATCHDOG_USEC_ENV)
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring $%s=%r: not a number of microseconds", WATCHDOG_USEC_ENV, raw)
        return None
    if usec <= 0:
        return None
    owner = env.get(WATCHDOG_PID_ENV)
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 1_000_000 * WATCHDOG_PING_FRACTION


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC with."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _status_field(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    # One message line per field: a newline in the text would start a bogus field.
    return ("STATUS=" + " ".join(text.splitlines()),)


def _socket_address(address: str) -> str | bytes | None:
    if address.startswith("@"):
        return b"\0" + address[1:].encode("utf-8")
    if address.startswith("/"):
        return address
    log.warning(
        "$%s=%r is not a unix socket path or @name; systemd will not hear from syncd",
        NOTIFY_SOCKET_ENV,
        address,
    )
    return None


def _printable(address: str | bytes | None) -> str:
    if isinstance(address, bytes):
        return "@" + address[1:].decode("utf-8", "replace")
    return str(address)
