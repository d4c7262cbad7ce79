"""`syncd watch` as a real subprocess against the sandbox, and ways to wait for what it does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from pipeline_helpers import append_config, syncd_cmd, syncd_env, wait_for

from syncd.sandbox import Sandbox

# How long a test waits for the daemon to do something before it fails (generous: a busy
# machine is slow; the test fails only if the thing never happens).
WAIT = 60.0
# The daemon's settings in tests: files are complete after a second of quiet, events are
# coalesced briefly, polling roots are walked twice a second.
TEST_DAEMON = """
[scan]
stable_seconds = 1

[daemon]
debounce = 0.05
poll_interval = 0.5
stop_timeout = 30
"""


def watch_config(config: Path, *roots: Path, extra: str = "", observer: str | None = None) -> Path:
    """Add the test daemon settings and a [[watch]] table per root to a sandbox config."""
    text = TEST_DAEMON + extra
    for root in roots:
        text += f'\n[[watch]]\npath = "{root}"\n'
        if observer:
            text += f'observer = "{observer}"\n'
    return append_config(config, text)


class WatchProcess:
    """A running `syncd watch`, its output in a log file (never a full pipe)."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                syncd_cmd(config, "watch"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=syncd_env(env),
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = WAIT) -> None:
        wait_for(f"{text!r} in the daemon's log", lambda: text in self.output(), timeout, self.proc)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = WAIT) -> int:
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class NotifySocket:
    """A NOTIFY_SOCKET as systemd provides it: a datagram socket; every message kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append(data.decode())

    def seen(self, field: str) -> bool:
        return any(field in m.split("\n") or m.startswith(field) for m in list(self.messages))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def statuses(self) -> list[str]:
        """The STATUS= texts heard so far, oldest first."""
        return [
            line.removeprefix("STATUS=")
            for m in list(self.messages)
            for line in m.split("\n")
            if line.startswith("STATUS=")
        ]


def wait_for_items(sandbox: Sandbox, n: int, proc: WatchProcess, timeout: float = WAIT) -> None:
    wait_for(f"{n} item(s) on the site", lambda: len(sandbox.items()) >= n, timeout, proc.proc)


def wait_until(what: str, check: Callable[[], object], proc: WatchProcess) -> object:
    return wait_for(what, check, WAIT, proc.proc)


def write_slowly(path: Path, pieces: list[bytes], pause: float) -> None:
    """Write a file piece by piece, flushed, with pauses (a slow copy or a recording)."""
    import time

    with open(path, "wb") as fh:
        for piece in pieces:
            fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
            time.sleep(pause)
