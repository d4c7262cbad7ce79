"""Helpers for the reconcile tests: in-process push and reconcile runs over one journal,
drift made behind syncd's back through the sandbox's own state, and fingerprints of the
journal file and the site for "nothing changed" checks.

The pipeline tests' helpers (subprocess runs, trees, once-each checks) are reused from
tests/pipeline/pipeline_helpers.py."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_helpers import (
    append_config,
    assert_once_each,
    journal_path,
    make_tree,
    run_syncd,
    sha256_of,
    start_syncd,
    syncd_cmd,
    syncd_env,
    upload_requests,
    wait_for,
)

from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import FileRow, ItemState
from syncd.pipeline.report import RunReport
from syncd.push import Push, PushOptions
from syncd.reconcile import Reconcile, ReconcileOptions, ReconcileReport
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

FAST = RetryPolicy(initial_wait=0.01, max_wait=0.05, park_first=0.2, park_max=0.5)

__all__ = [
    "FAST",
    "append_config",
    "assert_once_each",
    "journal_path",
    "make_tree",
    "run_syncd",
    "sha256_of",
    "start_syncd",
    "syncd_cmd",
    "syncd_env",
    "upload_requests",
    "wait_for",
]


def push(config_path: Path, *roots: Path, **options: Any) -> tuple[RunReport, dict[str, FileRow]]:
    """One in-process push of `roots` (no stability wait); the report and every row after."""
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, policy=FAST).run(
            PushOptions(roots=list(roots), no_wait=True, **options)
        )
        rows = {r.path: r for r in journal.rows_in(list(ItemState))}
    return report, rows


def reconcile(config_path: Path, *roots: Path, **options: Any) -> ReconcileReport:
    """One in-process reconcile of `roots` (no stability wait)."""
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        return Reconcile(config, journal, policy=FAST).run(
            ReconcileOptions(roots=list(roots), no_wait=True, **options)
        )


def rows(config_path: Path) -> dict[str, FileRow]:
    with Journal.open(load_config(config_path).journal_path) as journal:
        return {r.path: r for r in journal.rows_in(list(ItemState))}


def item(sandbox: Sandbox, photo_id: str | int) -> dict[str, Any]:
    [found] = [i for i in sandbox.items() if str(i["photo_id"]) == str(photo_id)]
    return found


def edit_item(sandbox: Sandbox, photo_id: str | int, **changes: Any) -> None:
    """Change an item behind syncd's back, in the sandbox's own state (no HTTP)."""
    state = sandbox.state
    with state.lock:
        record = state.get("items", photo_id)
        assert record is not None, f"no item {photo_id}"
        record.update(changes)
        state.put("items", photo_id, record)


def delete_item(sandbox: Sandbox, photo_id: str | int) -> None:
    with sandbox.state.lock:
        assert sandbox.state.get("items", photo_id) is not None
        sandbox.state.delete("items", photo_id)


def site_fingerprint(sandbox: Sandbox) -> str:
    """A hash of everything the site holds: every record of every table (items, albums,
    tokens, ...) and every stored file's bytes."""
    state = sandbox.state
    digest = hashlib.sha256()
    with state.lock:
        for table in ("items", "albums", "tokens", "sessions", "meta"):
            records = sorted(state.values(table), key=lambda r: json.dumps(r, sort_keys=True))
            digest.update(json.dumps([table, records], sort_keys=True).encode())
        for path in sorted(state.files_dir.iterdir()):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    """A hash of a journal file and its WAL and shared-memory companions, byte for byte."""
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        companion = Path(f"{path}{suffix}")
        digest.update(suffix.encode())
        if companion.exists():
            digest.update(companion.read_bytes())
    return digest.hexdigest()


# How long a test waits for a `syncd watch` subprocess to do something before it fails
# (generous: a busy machine is slow; the test fails only if the thing never happens).
WATCH_WAIT = 120.0


class Watch:
    """A `syncd watch` subprocess, its output in a log file (never a full pipe); returns
    once it is watching."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                syncd_cmd(config, "watch"), stdout=out, stderr=subprocess.STDOUT, env=syncd_env()
            )
        self.wait_for("the daemon watching", lambda: "watching" in self.output())

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, what: str, check: Callable[[], object]) -> object:
        return wait_for(what, check, WATCH_WAIT, self.proc)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WATCH_WAIT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
