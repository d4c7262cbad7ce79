"""Reconcile beside the daemon: `syncd reconcile` started over and over while a `syncd watch`
subprocess (or `syncd push`, over and over) runs on the same journal, and a stream of new
files arrives, some changed after their upload and some deleted. They meet only in the
journal's claims and leases. At the end every file is on the site exactly once with its
latest bytes, every deleted file's item is gone, no item was ever made twice for one file,
and no deletion was made twice."""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reconcile_helpers import (
    Watch,
    append_config,
    assert_once_each,
    run_syncd,
    syncd_cmd,
    syncd_env,
)

from syncd.sandbox import Sandbox
from syncd.sandbox.call import METHODS, Call, MethodSpec

ROUNDS = 5
NEW_PER_ROUND = 4
# A run that takes longer than this is hung (a safety net; never reached when it works).
RUN_TIMEOUT = 180.0


class Loop:
    """`syncd ARGS...` run again and again in a thread until stopped; counts the runs that
    ended and keeps every exit status."""

    def __init__(self, config: Path, *args: str) -> None:
        self.cmd = syncd_cmd(config, *args)
        self.statuses: list[int] = []
        self.outputs: list[str] = []
        self.done = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            proc = subprocess.run(
                self.cmd, capture_output=True, timeout=RUN_TIMEOUT, env=syncd_env()
            )
            with self.done:
                self.statuses.append(proc.returncode)
                self.outputs.append(proc.stdout.decode() + proc.stderr.decode())
                self.done.notify_all()

    def runs(self) -> int:
        with self.done:
            return len(self.statuses)

    def wait_runs(self, count: int) -> None:
        with self.done:
            if not self.done.wait_for(lambda: len(self.statuses) >= count, RUN_TIMEOUT):
                raise AssertionError(f"{self.cmd[4:]} did not complete {count} runs")


@pytest.fixture
def deleted(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every photo/delete the site answered, with the item it deleted (None: no such)."""
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()
    original = METHODS["photo/delete"]

    def handler(call: Call) -> Any:
        photo_id = call.get("photo_id")
        with lock:
            record = sandbox.state.get("items", photo_id or "")
            seen.append({"photo_id": photo_id, "item": record})
        return original.handler(call)

    monkeypatch.setitem(METHODS, "photo/delete", MethodSpec("photo/delete", handler, "write"))
    yield seen


@pytest.mark.parametrize("daemon", ["watch", "push"])
@pytest.mark.slow(seconds=8)
def test_reconcile_over_and_over_beside_the_daemon(
    sandbox: Sandbox,
    sandbox_config: Path,
    tmp_path: Path,
    deleted: list[dict[str, Any]],
    daemon: str,
) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    append_config(
        sandbox_config,
        '[reconcile]\non_local_delete = "delete"\nmax_delete = 1000\n'
        "[scan]\nstable_seconds = 0.3\n[upload]\nconcurrency = 2\n"
        "[daemon]\ndebounce = 0.05\npoll_interval = 0.5\n"
        f'[[watch]]\npath = "{root}"\n',
    )
    present: dict[str, Path] = {}
    serial = 0

    def new_file() -> None:
        nonlocal serial
        serial += 1
        path = root / f"f{serial:03d}.mp4"
        path.write_bytes(os.urandom(800 + serial))
        present[path.name] = path

    for _ in range(NEW_PER_ROUND):
        new_file()
    watcher: Watch | None = None
    pusher: Loop | None = None
    if daemon == "watch":
        watcher = Watch(sandbox_config, tmp_path / "watch.log")
    else:
        pusher = Loop(sandbox_config, "push", root)
        pusher.thread.start()
    reconciler = Loop(sandbox_config, "reconcile", root)
    reconciler.thread.start()
    try:
        for round_no in range(ROUNDS):
            # Each round's changes land while both keep running: wait until each has
            # finished a run that started after them.
            marks = (pusher.runs() + 2 if pusher else 0, reconciler.runs() + 2)
            names = sorted(present)
            for _ in range(NEW_PER_ROUND):
                new_file()
            changed = present[names[round_no % len(names)]]
            changed.write_bytes(os.urandom(900 + round_no))  # new bytes, same path
            gone = present.pop(names[-1])
            gone.unlink()
            if pusher is not None:
                pusher.wait_runs(marks[0])
            reconciler.wait_runs(marks[1])
    finally:
        for loop in (pusher, reconciler):
            if loop is not None:
                loop.stop.set()
        for loop in (pusher, reconciler):
            if loop is not None:
                loop.thread.join(RUN_TIMEOUT)

    try:
        if pusher is not None:
            assert set(pusher.statuses) <= {0, 1}, pusher.outputs
        assert set(reconciler.statuses) <= {0, 1}, reconciler.outputs
        final = run_syncd(sandbox_config, "reconcile", root)
        assert final.returncode == 0, final.stdout + final.stderr
        again = run_syncd(sandbox_config, "reconcile", root)
        assert again.returncode == 0 and "in step: nothing differs" in again.stdout, again.stdout
    finally:
        if watcher is not None:
            assert watcher.stop() == 0, watcher.output()[-3000:]

    # Every file on the site exactly once, with its latest bytes; nothing else.
    assert_once_each(sandbox, list(present.values()))
    # No deletion twice, and only items of files that were deleted.
    deleted_items = [d["item"] for d in deleted if d["item"] is not None]
    assert Counter(d["photo_id"] for d in deleted).most_common(1)[0][1] == 1
    assert {i["filename"] for i in deleted_items}.isdisjoint(present)
    # No file ever had two items (names are never reused): every item made, here or
    # deleted, is a different file's; and none vanished otherwise.
    made = [i["filename"] for i in sandbox.items()] + [i["filename"] for i in deleted_items]
    assert Counter(made).most_common(1)[0][1] == 1
    next_id = int(sandbox.state.get("meta", "next_photo_id")["value"])  # type: ignore[index]
    assert next_id - 10001 == len(made)
    # The runs did interleave with real work: items were replaced and deleted on the way.
    assert deleted_items
    assert any(r.method == "photo/redeem-replace-token" for r in sandbox.requests)
