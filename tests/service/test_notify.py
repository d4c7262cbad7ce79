"""sd_notify over a real AF_UNIX datagram socket, bound by the test where systemd would be:
a file path and an abstract `@name`, in this process and from a `syncd` subprocess."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.service.notify import Notifier, WatchdogPinger, monotonic_usec, watchdog_interval

REPO_ROOT = Path(__file__).resolve().parents[2]
# A datagram that has not arrived by then was never sent.
RECV_TIMEOUT = 10.0


class Listener:
    """The systemd end: a bound datagram socket that records each message as fields."""

    def __init__(self, address: str) -> None:
        self.address = address  # as $NOTIFY_SOCKET spells it
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind_to)
        # systemd checks the sender's pid (NotifyAccess=main): ask the kernel for it.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(RECV_TIMEOUT)

    def receive(self) -> list[str]:
        return self.receive_with_pid()[0]

    def receive_with_pid(self) -> tuple[list[str], int]:
        data, ancillary, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iii", payload[:12])
        return data.decode("utf-8").split("\n"), pid

    def nothing_waiting(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(RECV_TIMEOUT)
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
    else:
        address = f"@syncd-test-{uuid.uuid4().hex}"
    sink = Listener(address)
    try:
        yield sink
    finally:
        sink.close()


def test_each_message_arrives_as_its_fields(listener: Listener) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": listener.address})
    assert notifier.enabled
    assert notifier.ready(status="watching 2 folders")
    assert listener.receive() == ["READY=1", "STATUS=watching 2 folders"]
    assert notifier.status("queue 12, 3.1 MiB/s, last error: none")
    assert listener.receive() == ["STATUS=queue 12, 3.1 MiB/s, last error: none"]
    assert notifier.watchdog()
    assert listener.receive() == ["WATCHDOG=1"]
    assert notifier.stopping("finishing 2 uploads")
    assert listener.receive() == ["STOPPING=1", "STATUS=finishing 2 uploads"]
    assert notifier.extend_timeout(2.5)
    assert listener.receive() == ["EXTEND_TIMEOUT_USEC=2500000"]
    notifier.close()


def test_reloading_carries_the_monotonic_clock(listener: Listener) -> None:
    notifier = Notifier(listener.address)
    before = monotonic_usec()
    notifier.reloading()
    after = monotonic_usec()
    fields = listener.receive()
    assert fields[0] == "RELOADING=1"
    key, value = fields[1].split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    # The kernel's CLOCK_MONOTONIC, which systemd reads: time.monotonic() is the same clock.
    assert abs(int(value) / 1e6 - time.monotonic()) < 60


def test_reload_block_ends_ready_even_when_the_new_config_is_refused(
    listener: Listener,
) -> None:
    notifier = Notifier(listener.address)
    with pytest.raises(ValueError), notifier.reload():
        assert listener.receive()[0] == "RELOADING=1"
        raise ValueError("bad config on SIGHUP")
    assert listener.receive() == ["READY=1"]


def test_a_status_with_newlines_stays_one_field(listener: Listener) -> None:
    notifier = Notifier(listener.address)
    notifier.status("last error:\ninvalid_signature\r\nsee the log")
    assert listener.receive() == ["STATUS=last error: invalid_signature see the log"]


def test_without_notify_socket_nothing_is_sent(listener: Listener) -> None:
    quiet = Notifier.from_env({})
    assert not quiet.enabled
    assert not quiet.ready()
    assert not quiet.status("x")
    assert not quiet.watchdog()
    assert not quiet.reloading()
    assert not quiet.stopping()
    with quiet.reload():
        pass
    assert listener.nothing_waiting()


def test_a_vanished_socket_is_reported_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Listener(str(tmp_path / "gone.sock"))
    notifier = Notifier(sink.address)
    assert notifier.ready()
    sink.close()
    os.unlink(sink.address)  # systemd went away
    assert not notifier.watchdog()
    assert not notifier.watchdog()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, "a failing socket is reported once, not on every ping"
    assert sink.address in warnings[0].getMessage()


def test_an_unusable_address_is_a_warning_and_silence(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert not notifier.ready()
    assert "vsock:2:1234" in caplog.text


def test_a_field_that_would_split_the_message_is_refused(listener: Listener) -> None:
    with pytest.raises(ValueError):
        Notifier(listener.address).send("STATUS=a\nREADY=1")
    with pytest.raises(ValueError):
        Notifier(listener.address).send("READY")


def test_the_main_process_of_a_subprocess_is_the_sender(listener: Listener) -> None:
    """What systemd sees with NotifyAccess=main: the datagram comes from the service's pid."""
    code = (
        "from syncd.service.notify import Notifier\n"
        "n = Notifier.from_env()\n"
        "assert n.ready('started')\n"
    )
    env = {**os.environ, "NOTIFY_SOCKET": listener.address, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    fields, pid = listener.receive_with_pid()
    assert proc.wait(timeout=60) == 0
    assert fields == ["READY=1", "STATUS=started"]
    assert pid == proc.pid


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),  # for another process
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": ""}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_sec(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env, pid=4242) == expected


def test_watchdog_interval_defaults_to_this_process() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 1.0


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pinger_pings_when_due_and_says_how_long_the_loop_may_wait(
    listener: Listener,
) -> None:
    clock = Ticks()
    pinger = WatchdogPinger(Notifier(listener.address), 15.0, clock=clock)
    assert pinger.time_left() == 0.0  # nothing sent yet: due now
    assert pinger.tick()
    assert listener.receive() == ["WATCHDOG=1"]
    clock.now += 10
    assert not pinger.tick()  # not due: the socket is not flooded by a busy loop
    assert pinger.time_left() == 5.0
    clock.now += 5
    assert pinger.tick()
    assert listener.receive() == ["WATCHDOG=1"]
    clock.now += 40  # the loop was late
    assert pinger.time_left() == 0.0
    assert pinger.tick()
    assert listener.receive() == ["WATCHDOG=1"]
    assert listener.nothing_waiting()


def test_the_pinger_follows_watchdog_usec_and_is_silent_without_it(listener: Listener) -> None:
    notifier = Notifier(listener.address)
    env = {"WATCHDOG_USEC": "8000000", "WATCHDOG_PID": str(os.getpid())}
    assert WatchdogPinger.from_env(notifier, env).interval == 4.0
    idle = WatchdogPinger.from_env(notifier, {})
    assert idle.interval is None and idle.time_left() is None and not idle.tick()
    # WATCHDOG_USEC without a notification socket: nobody to ping.
    assert WatchdogPinger.from_env(Notifier(None), env).interval is None
    assert listener.nothing_waiting()
