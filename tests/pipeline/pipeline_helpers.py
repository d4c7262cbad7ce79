"""Helpers for the end-to-end pipeline tests: trees of files, `syncd push` as a real
subprocess, journal and sandbox inspection, and running syncd without root's file powers."""

from __future__ import annotations

import ast
import ctypes
import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncd.journal import Journal
from syncd.model import ItemState
from syncd.sandbox import Sandbox

# The repo root: subprocesses import syncd from here (the editable install can hide
# syncd/__init__.py from a process started elsewhere).
REPO_ROOT = Path(__file__).resolve().parents[2]
# A push subprocess taking longer than this is hung, not slow.
PUSH_TIMEOUT = 120.0
# Sandbox methods that carry file bytes.
UPLOAD_METHODS = ("photo/upload", "photo/redeem-upload-token")

# Linux capability numbers and the prctl that drops one from the bounding set.
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2
_PR_CAPBSET_DROP = 24


def sha256_of(path: Path | bytes) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def make_tree(root: Path, count: int, size: int = 1000, prefix: str = "clip") -> list[Path]:
    """`count` files of `size` bytes with distinct content, named `<prefix>NNN.mp4`."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = root / f"{prefix}{i:03d}.mp4"
        # Distinct, deterministic content: a header with the index, then a hash stream.
        seed = hashlib.sha256(f"{prefix}-{i}".encode()).digest()
        body = (seed * (size // len(seed) + 1))[: max(0, size - 16)]
        path.write_bytes(f"{i:016d}".encode()[:size] + body)
        paths.append(path)
    return paths


def append_config(config: Path, text: str) -> Path:
    """Add TOML sections to a config written by Sandbox.write_config."""
    with open(config, "a", encoding="utf-8") as fh:
        fh.write("\n" + text.strip() + "\n")
    return config


def journal_path(config: Path) -> Path:
    """The journal path written by Sandbox.write_config next to the config (tests' layout)."""
    import tomllib

    data = tomllib.loads(config.read_text(encoding="utf-8"))
    return Path(data["journal"]["path"])


def journal_states(config: Path) -> dict[str, ItemState]:
    """path -> state for every journal row."""
    with Journal.open(journal_path(config)) as journal:
        return {row.path: row.state for row in journal.rows_in(list(ItemState))}


def drop_file_powers() -> None:
    """preexec_fn: a root child loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so the
    kernel applies file modes to it like to anyone else (chmod 000 means unreadable).

    Dropping to uid 65534 is not possible here: the interpreter lives under /root (0700).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def unprivileged_preexec() -> Callable[[], None] | None:
    """What to pass as preexec_fn so permission bits really bind the child (None: they do)."""
    return drop_file_powers if os.geteuid() == 0 else None


def syncd_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("SYNCD_CONFIG", None)
    for key in list(env):  # credentials come from the test's config only
        if key.startswith("SYNCD_") and key.endswith(("_KEY", "_SECRET", "_TOKEN")):
            env.pop(key)
    env.update(extra or {})
    return env


def syncd_cmd(config: Path, *args: str | os.PathLike[str] | bytes) -> list[str | bytes]:
    return [sys.executable, "-m", "syncd", "-c", str(config), *[_arg(a) for a in args]]


def _arg(value: str | os.PathLike[str] | bytes) -> str | bytes:
    return value if isinstance(value, (str, bytes)) else os.fspath(value)


def run_syncd(
    config: Path,
    *args: str | os.PathLike[str] | bytes,
    unprivileged: bool = False,
    timeout: float = PUSH_TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `syncd -c CONFIG ARGS...` to completion; output decoded strictly as UTF-8."""
    proc = subprocess.run(
        syncd_cmd(config, *args),
        capture_output=True,
        timeout=timeout,
        env=syncd_env(env),
        preexec_fn=unprivileged_preexec() if unprivileged else None,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


def start_syncd(
    config: Path, *args: str | os.PathLike[str] | bytes, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `syncd -c CONFIG ARGS...` in the background (output piped)."""
    return subprocess.Popen(
        syncd_cmd(config, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=syncd_env(env),
    )


def upload_requests(sandbox: Sandbox) -> int:
    """Requests that carried file bytes (direct uploads, token redeems, chunks)."""
    return sum(1 for r in sandbox.requests if r.method in UPLOAD_METHODS)


def items_by_sha(sandbox: Sandbox) -> Counter[str]:
    """How many remote items hold each content hash."""
    return Counter(item["sha256"] for item in sandbox.items())


def assert_once_each(sandbox: Sandbox, paths: Sequence[Path]) -> None:
    """The sandbox holds exactly one item per distinct local content, and nothing else."""
    want = Counter({sha256_of(p): 1 for p in paths})
    got = items_by_sha(sandbox)
    assert got == want, (
        f"remote items by sha256 differ: extra/dup={got - want}, missing={want - got}"
    )


# --- crash tests: SIGKILL, chunk progress, a sandbox in its own process -------------------

# How often the crash tests look at the journal or the sandbox while a push runs (seconds).
POLL_SECONDS = 0.01
# A sandbox subprocess that has not printed its address by then did not start.
SANDBOX_START_TIMEOUT = 20.0


def wait_for(
    what: str,
    check: Callable[[], object],
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> object:
    """Poll `check()` until it returns something truthy; fail naming `what` on timeout, or
    as soon as `proc` (a Popen) exits, since then the awaited moment can never come."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process that must still be running, and check the signal is what ended it."""
    import signal

    assert proc.poll() is None, f"process already exited ({proc.returncode}) before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"ended with {proc.returncode}, not by SIGKILL"


def start_push_logged(
    config: Path, log: Path, *args: str | os.PathLike[str]
) -> subprocess.Popen[bytes]:
    """Start `syncd push ARGS...` with stdout+stderr appended to `log` (never a full pipe)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            syncd_cmd(config, "push", *args), stdout=out, stderr=subprocess.STDOUT, env=syncd_env()
        )


def write_random_file(path: Path, size: int, seed: int) -> str:
    """A file of `size` seeded random bytes (every chunk differs); returns its sha256."""
    import random

    rng = random.Random(seed)
    digest = hashlib.sha256()
    block = 1 << 20
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            data = rng.randbytes(min(block, left))
            digest.update(data)
            fh.write(data)
            left -= len(data)
    return digest.hexdigest()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    """`python -m syncd.sandbox --control` in its own process, so a test can kill it and
    start it again on the same port over the same data directory."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config: Path | None = None, faults: str | None = None) -> SandboxProcess:
        """Start and wait until it is ready (serving, and the config written); with
        `config`, have it write a syncd config there; with `faults`, start with these fault
        rules (the sandbox's --faults spec). Its output, which names the credentials, is
        kept by start_sandbox_process and never shown."""
        from syncd.sandbox.process import start_sandbox_process

        args = ["--port", str(self.port), "--data", str(self.data_dir), "--control"]
        if config is not None:
            args += ["--write-config", str(config)]
        if faults is not None:
            args += ["--faults", faults]
        started = start_sandbox_process(args, env=syncd_env(), timeout=SANDBOX_START_TIMEOUT)
        self.proc = started.proc
        return self

    def get(self, what: str) -> list[dict[str, object]]:
        """GET /_sandbox/<what> (items, requests) as JSON."""
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.base_url}/_sandbox/{what}", timeout=10) as resp:
            return json.loads(resp.read())

    def kill(self) -> None:
        assert self.proc is not None
        sigkill(self.proc)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


# --- bad-input tests: watching one row while a push runs ----------------------------------


# --- dry-run plans: the lines `push --dry-run` prints, parsed ------------------------------

_PLAN = re.compile(
    r"^upload (?P<mode>direct|token|chunked)"
    r"(?: \((?P<chunks>\d+) chunks of (?P<chunk_size>\d+) B\))?"
    r" (?P<path>\S+) \[(?P<size>\d+) B\] (?P<fields>.*?)(?:; then update (?P<follow_up>.*))?$"
)
_FIELD = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|<\d+ chars>)")


@dataclass
class Plan:
    """One `upload ...` line of a dry run (syncd.plan.upload.UploadPlan's str())."""

    mode: str
    path: str
    size: int
    fields: dict[str, str]
    follow_up: dict[str, str] | None
    chunks: int | None
    chunk_size: int | None


def parse_fields(text: str) -> dict[str, str]:
    """`key='value' ...` as a plan prints them (a description as `<N chars>`)."""
    fields = {k: v if v.startswith("<") else ast.literal_eval(v) for k, v in _FIELD.findall(text)}
    assert _FIELD.sub("", text).strip() == "", f"unparsed text in {text!r}"
    return fields


def parse_plan(line: str) -> Plan:
    m = _PLAN.match(line)
    assert m, f"not an upload plan: {line!r}"
    return Plan(
        mode=m["mode"],
        path=m["path"],
        size=int(m["size"]),
        fields=parse_fields(m["fields"]),
        follow_up=parse_fields(m["follow_up"]) if m["follow_up"] else None,
        chunks=int(m["chunks"]) if m["chunks"] else None,
        chunk_size=int(m["chunk_size"]) if m["chunk_size"] else None,
    )


# --- holding requests on the in-process sandbox --------------------------------------------


class HeldRequests:
    """Calls to `methods` on an in-process sandbox wait, before the sandbox handles them,
    until `release()` (or until `release_at` of them are waiting at once, or `timeout`);
    counts how many arrived and the most that were being handled at once.

    For tests that need an order of events across processes without sleeping: hold one
    process's request while another gets somewhere, then let it go.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *methods: str,
        release_at: int | None = None,
        hold: bool = True,
        timeout: float = 30.0,
    ) -> None:
        import threading

        self.sandbox = sandbox
        self.methods = set(methods)
        self.release_at = release_at
        self.hold = hold
        self.timeout = timeout
        self.arrived = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._original: Callable[..., object] | None = None

    def __enter__(self) -> HeldRequests:
        app = self.sandbox.app
        original = app.api
        self._original = original

        def api(h: object, name: str, *args: object) -> object:
            if name not in self.methods:
                return original(h, name, *args)
            with self._lock:
                self.arrived += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                if self.release_at is not None and self.in_flight >= self.release_at:
                    self._released.set()
            try:
                if self.hold:
                    self._released.wait(self.timeout)
                return original(h, name, *args)
            finally:
                with self._lock:
                    self.in_flight -= 1

        app.api = api  # type: ignore[method-assign]
        return self

    def release(self) -> None:
        self._released.set()

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.sandbox.app.api = self._original  # type: ignore[method-assign]


def dead_owner() -> str:
    """A lease owner string naming a process on this host that has exited."""
    from syncd.journal import make_owner

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = make_owner().rsplit(":", 2)[0]
    return f"{host}:{int(child.stdout)}:0"
