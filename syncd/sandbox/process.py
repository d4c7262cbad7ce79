"""Start the sandbox as a process of its own and wait until it serves.

For the demo, the benchmarks and tests that need the sandbox outside their own
process (to kill it, or to keep its CPU apart from the client's). Its stdout
names the credentials it generated: it is read here, never echoed.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# The last line the sandbox prints at start, after its address, credentials and config.
READY_LINE = "ready"
LISTENING_PREFIX = "sandbox listening on "
# A sandbox that has not said it is ready by then did not start.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class SandboxProcess:
    """A running `python -m syncd.sandbox`; `output` keeps what it printed (credentials too)."""

    proc: subprocess.Popen[str]
    base_url: str
    output: list[str] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """SIGTERM (the sandbox closes cleanly), SIGKILL if it does not go in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pump(stream: object, lines: queue.Queue[str | None], keep: list[str]) -> None:
    """Read every line (so the pipe never fills), hand them over, keep a copy."""
    for line in stream:  # type: ignore[attr-defined]
        keep.append(line)
        lines.put(line)
    lines.put(None)


def start_sandbox_process(
    args: Sequence[str],
    *,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> SandboxProcess:
    """Run `python -m syncd.sandbox ARGS` and return once it prints that it is ready."""
    proc = subprocess.Popen(
        [python, "-m", "syncd.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env) if env is not None else None,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines, output), daemon=True).start()
    base_url = ""
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the sandbox did not start within {timeout:.0f} s") from None
        if line is None:
            proc.wait()
            said = "".join(x for x in output if not x.split(":")[0].endswith("_secret"))
            raise RuntimeError(f"the sandbox exited ({proc.returncode}): {said[-2000:]}")
        if line.startswith(LISTENING_PREFIX):
            base_url = line[len(LISTENING_PREFIX) :].strip()
        if line.strip() == READY_LINE:
            return SandboxProcess(proc, base_url, output)
