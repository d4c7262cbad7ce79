"""A signal can land anywhere on the main thread, and its handler must not deadlock there.

A handler runs on the main thread between two bytecodes: inside a first handler (a second
Ctrl-C), or inside `wake.clear()` / `wake.wait()` of the run's loop, which hold that
Event's lock. A handler that takes a lock (its own, or an Event's by setting it) blocks
the main thread for ever there; only SIGKILL ends it.

Each case runs in a child process (its own signal handlers; a deadlock there is a
timeout here). A trace function raises the signal at every line the main thread runs in
turn, so each possible landing place is tried once, not left to timing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# The child: for k = 1, 2, ...: a fresh Lifecycle; run `scenario` under a tracer that
# raises `second` at the k-th line the main thread runs (in lifecycle.py or threading.py),
# once; then check the flags. Ends when k passes the last line (nothing was raised).
CHILD = textwrap.dedent(
    """
    import signal, sys, threading
    import syncd.pipeline.lifecycle as lifecycle_module
    from syncd.pipeline.lifecycle import Lifecycle

    WATCHED = {lifecycle_module.__file__, threading.__file__}
    notices = []

    def run(k, scenario, second):
        lc = Lifecycle()
        lc.install(reload=True, on_first=lambda: notices.append(k))
        seen = [0]
        raised = []

        def tracer(frame, event, arg):
            if frame.f_code.co_filename not in WATCHED:
                return tracer
            if event == "line" and not raised:
                seen[0] += 1
                if seen[0] == k:
                    raised.append(True)
                    signal.raise_signal(second)
            return tracer

        sys.settrace(tracer)
        try:
            scenario(lc)
        finally:
            sys.settrace(None)
        return lc, bool(raised)

    def check(name, scenario, second, expect):
        k = 0
        while True:
            k += 1
            print(name, k, flush=True)  # the last one printed is where a hang was
            lc, raised = run(k, scenario, second)
            if not raised:
                # The run's own first signal is still relayed: wait for it, so that every
                # notice is in before the caller counts them.
                if scenario is first_signal:
                    assert lc.stop.wait(30), (name, k, "stop")
                return k - 1
            for flag in expect:
                # Set by the relay thread: waits only until then, and only on failure long.
                assert getattr(lc, flag).wait(30), (name, k, flag)

    def first_signal(lc):
        signal.raise_signal(signal.SIGINT)

    def loop_pass(lc):
        lc.wake.clear()
        lc.wake.wait(0)

    lines = check("second-signal", first_signal, signal.SIGINT, ["stop", "force"])
    assert lines >= 1, lines
    # One notice per first signal: one per run, the last (nothing raised in it) included.
    assert notices == list(range(1, lines + 2)), notices
    assert check("in-wake-clear-or-wait", loop_pass, signal.SIGINT, ["stop"]) >= 4
    assert check("reload-in-wake-clear-or-wait", loop_pass, signal.SIGHUP, ["reload"]) >= 4
    print("done", flush=True)
    """
)


def test_no_signal_landing_place_deadlocks_the_main_thread() -> None:
    hung_at: list[str] | None = None
    try:
        child = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired as exc:  # killed: report where, not the whole script
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        hung_at = out.strip().splitlines()[-1:]
    if hung_at is not None:
        pytest.fail(f"the main thread deadlocked in a signal handler at: {hung_at}")
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-4000:]
    assert child.stdout.strip().endswith("done")
