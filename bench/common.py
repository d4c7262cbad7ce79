"""Shared plumbing for the benchmarks: a sandbox in its own process, a syncd config,
generated data, signed curl uploads and measured child processes.

Benchmarks print figures; they never assert timings. Every helper cleans up after itself.
"""

from __future__ import annotations

import compileall
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER
from oauthlib.oauth1 import Client as OAuthClient

from syncd.sandbox.process import start_sandbox_process

REPO = Path(__file__).resolve().parent.parent
# The venv python runs syncd and the sandbox, whatever python started the benchmark.
PYTHON = str(REPO / ".venv" / "bin" / "python")
MiB = 1024 * 1024
GiB = 1024 * MiB
# Seconds to wait for the sandbox to say it is ready.
SANDBOX_START_TIMEOUT = 30.0
# Generated big files repeat one random block of this size (content is opaque to syncd and
# the sandbox; only its hash matters), so generating 2 GiB costs little CPU.
GEN_BLOCK = 8 * MiB
# Curl's own limit on one upload; generous so a slow machine still finishes.
CURL_MAX_SECONDS = 3600
# How often the peak-RSS poller reads a child's VmHWM (monotonic, so sparse polling suffices;
# only growth in the child's last few milliseconds could be missed).
RSS_POLL_SECONDS = 0.02

_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": MiB, "gib": GiB, "kb": 1000, "mb": 10**6, "gb": 10**9}


def parse_size(text: str) -> int:
    """'1GiB', '64KiB', '256MiB', '1000' -> bytes; a clear error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"size {text!r}: expected a number with an optional unit (KiB, MiB, GiB)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def human_size(n: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n:.0f} B"


# --- the machine -------------------------------------------------------------


def machine() -> str:
    """One line: cores, CPU model, Python version (for the README's figures)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def start_benchmark(title: str) -> None:
    """Print the header (machine, curl) and byte-compile syncd, as installing it would."""
    compile_syncd()
    print(f"== {title}")
    print(f"   machine: {machine()}")
    curl = shutil.which("curl")
    if curl:
        version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
        print(f"   curl: {version.split(chr(10), 1)[0]}")
    sys.stdout.flush()


def compile_syncd() -> None:
    """Write syncd's bytecode before any measured run. pip compiles an installed package;
    this editable checkout runs from source, and where PYTHONDONTWRITEBYTECODE is set (as on
    the CI image) every measured process recompiled ~30 modules (~35 ms per start-up), a
    cost no installed syncd pays. __pycache__ is git-ignored."""
    if not compileall.compile_dir(REPO / "syncd", quiet=1):
        raise SystemExit("could not byte-compile syncd/ (see above)")


# --- measured child processes -------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One child process: exit code, wall seconds, CPU seconds (user+sys), peak RSS bytes."""

    returncode: int
    wall: float
    cpu: float
    user: float
    sys: float
    maxrss: int
    stdout: str
    stderr: str


def run_measured(argv: Sequence[str], *, cwd: Path | None = None) -> Measured:
    """Run argv to completion; its own rusage comes from wait4 (exact, this child only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, cwd=cwd)
        peak = _PeakRss(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        peak.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            returncode=proc.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            user=usage.ru_utime,
            sys=usage.ru_stime,
            # ru_maxrss also counts the forked copy of this process before exec; VmHWM is
            # the child's own high-water mark. Fall back to ru_maxrss where /proc is absent.
            maxrss=peak.value or usage.ru_maxrss * 1024,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


class _PeakRss:
    """Polls /proc/PID/status VmHWM (the high-water mark of the exec'd image) until stopped."""

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self.value = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            text = self._path.read_text()
        except OSError:
            return
        m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
        if m:
            self.value = max(self.value, int(m.group(1)) * 1024)

    def _poll(self) -> None:
        while not self._done.wait(RSS_POLL_SECONDS):
            self._read()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def require_ok(m: Measured, what: str) -> Measured:
    if m.returncode != 0:
        tail = (m.stderr or m.stdout)[-2000:]
        raise SystemExit(f"{what} failed with exit code {m.returncode}:\n{tail}")
    return m


# --- the sandbox in its own process -----------------------------------------------


@dataclass
class SandboxProcess:
    """A `python -m syncd.sandbox` child with control endpoints; `config` is a syncd config."""

    proc: subprocess.Popen[str]
    base_url: str
    config: Path
    data_dir: Path

    def control(self, action: str, payload: Any = None) -> Any:
        """GET (payload None) or POST JSON to /_sandbox/<action>; the decoded answer."""
        url = f"{self.base_url}/_sandbox/{action}"
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def items(self) -> list[dict[str, Any]]:
        return list(self.control("items"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("requests"))

    def reset(self) -> None:
        self.control("reset", {})

    def cpu_seconds(self) -> float:
        """CPU the sandbox process has used so far (it serves both syncd and curl)."""
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system


# The sandbox stores what it receives in RAM (tmpfs) when there is room for this much:
# on disk, writeback of the previous GiB lands on whichever contestant runs next, and the
# sandbox's CPU per GiB varied 1.2-2.7 s between identical requests. Both contestants
# upload to the same sandbox, so this is fair to both.
SHM = Path("/dev/shm")
SHM_NEEDED_BYTES = 6 * 1024**3


def sandbox_data_dir(workdir: Path) -> Path:
    """Where the sandbox keeps its data: tmpfs when it has room, else beside the workdir."""
    override = os.environ.get("SYNCD_BENCH_SANDBOX_DIR")
    if override:
        return Path(tempfile.mkdtemp(prefix="syncd-bench-sb-", dir=override))
    if SHM.is_dir() and shutil.disk_usage(SHM).free >= SHM_NEEDED_BYTES:
        return Path(tempfile.mkdtemp(prefix="syncd-bench-sb-", dir=SHM))
    return workdir / "sandbox-data"


@contextmanager
def sandbox_process(
    workdir: Path, extra_config: str = "", *, prepare: Callable[[Path], None] | None = None
) -> Iterator[SandboxProcess]:
    """Start a sandbox on a free loopback port; write `workdir/syncd.toml` for it (journal in
    workdir, plus `extra_config` sections); stop it on exit. `prepare(data_dir)` runs first:
    it may fill the sandbox's state through its Python API (`Sandbox(data_dir)`)."""
    data_dir = sandbox_data_dir(workdir)
    if prepare is not None:
        prepare(data_dir)
    config = workdir / "syncd.toml"
    args = ["--port", "0", "--data", str(data_dir), "--control", "--write-config", str(config)]
    # Its stdout carries credentials: read by start_sandbox_process, never echoed.
    started = start_sandbox_process(args, python=PYTHON, timeout=SANDBOX_START_TIMEOUT)
    try:
        # The sandbox wrote a [journal] of its own (in its data dir): the benchmarks keep the
        # journal in the workdir, where they look at it.
        text = config.read_text(encoding="utf-8")
        head, sep, _ = text.partition("\n[journal]\n")
        assert sep, "the sandbox wrote no [journal] table"
        journal = f"\n[journal]\npath = {json.dumps(str(workdir / 'journal.db'))}\n"
        config.write_text(head + journal + extra_config, encoding="utf-8")
        yield SandboxProcess(started.proc, started.base_url, config, data_dir)
    finally:
        started.stop()
        if data_dir.parent != workdir:  # a tmpfs dir outside the workdir
            shutil.rmtree(data_dir, ignore_errors=True)


# --- syncd -------------------------------------------------------------------------


def syncd_argv(config: Path, *args: str) -> list[str]:
    return [PYTHON, "-m", "syncd", "-c", str(config), *args]


# --- signed curl ---------------------------------------------------------------------


class CurlUploader:
    """Signed `curl -F` uploads to <base>/api/photo/upload, as a user would script them.

    A multipart POST is signed as if it had no parameters (spec section 3), so each
    upload gets a fresh Authorization header (new nonce and timestamp) for the bare URL.
    """

    def __init__(self, config: Path) -> None:
        curl = shutil.which("curl")
        if curl is None:
            raise SystemExit("curl is not installed: the comparison needs it")
        self.curl = curl
        site = tomllib.loads(config.read_text(encoding="utf-8"))["site"]
        self.url = f"{site['scheme']}://{site['domain']}/api/photo/upload"
        self._oauth = OAuthClient(
            site["consumer_key"],
            client_secret=site["consumer_secret"],
            resource_owner_key=site["access_token"],
            resource_owner_secret=site["access_token_secret"],
            signature_method=SIGNATURE_HMAC_SHA1,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        )

    def authorization(self) -> str:
        _, headers, _ = self._oauth.sign(self.url, http_method="POST")
        return str(headers["Authorization"])

    def argv(self, path: Path, title: str) -> list[str]:
        return [
            self.curl,
            "--silent",
            "--show-error",
            "--fail-with-body",
            "--max-time",
            str(CURL_MAX_SECONDS),
            "-H",
            f"Authorization: {self.authorization()}",
            "-F",
            "format=json",
            "-F",
            "raw=1",
            "-F",
            f"title={title}",
            "-F",
            f"file=@{path};type=application/octet-stream",
            self.url,
        ]

    def upload(self, path: Path, title: str) -> Measured:
        m = require_ok(run_measured(self.argv(path, title)), f"curl upload of {path.name}")
        answer = json.loads(m.stdout)
        if str(answer.get("status")) != "ok":
            raise SystemExit(f"curl upload of {path.name} was refused: {m.stdout[:500]}")
        return m


# --- generated data -------------------------------------------------------------------


def make_big_file(path: Path, size: int) -> str:
    """Write `size` bytes (a random block repeated, each block stamped with its index so no
    two blocks are equal); return its sha256."""
    block = bytearray(os.urandom(min(GEN_BLOCK, max(size, 1))))
    digest = hashlib.sha256()
    written = 0
    with path.open("wb") as fh:
        index = 0
        while written < size:
            block[:8] = index.to_bytes(8, "big")
            chunk = memoryview(block)[: min(len(block), size - written)]
            fh.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            index += 1
    return digest.hexdigest()


def make_many_files(root: Path, count: int, size: int, *, per_dir: int = 500) -> list[Path]:
    """`count` distinct files of `size` bytes (>= 8) in sub-folders of `per_dir` files each."""
    if size < 8:
        raise ValueError(f"file size must be at least 8 bytes, got {size}")
    base = bytearray(os.urandom(size))
    paths = []
    for i in range(count):
        folder = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        base[:8] = i.to_bytes(8, "big")  # distinct content: syncd skips duplicates
        path = folder / f"clip{i:06d}.mp4"
        path.write_bytes(base)
        paths.append(path)
    return paths


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temp dir under $TMPDIR (or /tmp), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def drop_page_cache_hint() -> str:
    """The page cache is warm for every run (files are just written); say so in the output."""
    return "files are in the page cache (just generated); disk speed is not measured"
