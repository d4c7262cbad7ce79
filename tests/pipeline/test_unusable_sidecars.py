"""Sidecars and folders that cannot be read: `syncd push` fails the files they apply to, with
a message naming the sidecar or folder and the problem, and never hangs or eats memory.

A FIFO named like a sidecar used to block push for ever (and the next push again); a sidecar
linked to /dev/zero was read until memory ran out; a folder made unreadable after the scan
failed its files with "`.syncd.json`: cannot read" (there was none) and "0 bytes".
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    assert_once_each,
    journal_states,
    make_tree,
    run_syncd,
    syncd_cmd,
    syncd_env,
)

from syncd.metadata.desired import MAX_SIDECAR_BYTES
from syncd.model import ItemState
from syncd.sandbox import Sandbox

# A push over a few small files ends in seconds; one that has not ended by then is hung
# (the defect: a FIFO sidecar blocked the run for ever).
HUNG_AFTER = 60.0
# Address space for a push that might read /dev/zero: far above what a push needs, far
# below what would hurt the machine if the read were unbounded again.
PUSH_ADDRESS_SPACE = 2 * 1024**3


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "tree"
    make_tree(root, 2)
    yield root
    for dirpath, dirnames, _ in os.walk(tmp_path):  # give back what a test took away
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)


def limited_memory() -> None:
    """preexec_fn: a runaway read ends in MemoryError in the child, not in the OOM killer."""
    resource.setrlimit(resource.RLIMIT_AS, (PUSH_ADDRESS_SPACE, PUSH_ADDRESS_SPACE))


def push(config: Path, *args: str | Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`syncd push --no-wait --json ARGS...` with bounded memory and time: (process, report)."""
    proc = subprocess.run(
        syncd_cmd(config, "push", "--no-wait", "--json", *args),
        capture_output=True,
        timeout=HUNG_AFTER,
        env=syncd_env(),
        preexec_fn=limited_memory,
    )
    result = subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result, json.loads(result.stdout)


def failures(report: Any) -> dict[str, str]:
    return {entry["path"]: entry["message"] for entry in report["failed"]}


def bad_sidecars(tree: Path) -> dict[Path, str]:
    """media file -> the message its unusable sidecar must give."""
    cases: dict[Path, str] = {}

    fifo = tree / "fifo.mp4"
    os.mkfifo(tree / "fifo.mp4.json")  # no writer: a blocking open waits for ever
    cases[fifo] = f"{tree / 'fifo.mp4.json'}: not a regular file (FIFO)"

    zero = tree / "zero.mp4"
    (tree / "zero.json").symlink_to("/dev/zero")  # endless: an uncapped read never ends
    cases[zero] = f"{tree / 'zero.json'}: not a regular file (character device)"

    huge = tree / "huge.mp4"
    with open(tree / "huge.mp4.json", "wb") as fh:  # sparse: a regular file over the cap
        fh.truncate(MAX_SIDECAR_BYTES + 1)
    cases[huge] = f"{tree / 'huge.mp4.json'}: larger than 1 MiB"

    folder = tree / "piped"
    folder.mkdir()
    os.mkfifo(folder / ".syncd.json")
    for name in ("one.mp4", "two.mp4"):
        cases[folder / name] = f"{folder / '.syncd.json'}: not a regular file (FIFO)"

    for i, media in enumerate(cases):
        media.write_bytes(f"media with an unusable sidecar {i}".encode() * 50)
    return cases


def test_unusable_sidecars_fail_their_files_and_push_ends(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    good = sorted(tree.glob("clip*.mp4"))
    cases = bad_sidecars(tree)
    result, report = push(sandbox_config, tree)
    assert result.returncode == 1, result.stdout + result.stderr
    got = failures(report)
    assert set(got) == {str(media) for media in cases}, got
    for media, message in cases.items():
        assert got[str(media)].startswith(message), (media, got[str(media)])
    assert_once_each(sandbox, good)

    # The next runs read the same sidecars again (a retry re-queues the files, a dry run
    # plans them): they end too, with the same messages.
    assert run_syncd(sandbox_config, "retry", "--all").returncode == 0
    _, plan = push(sandbox_config, "--dry-run", tree)
    for media, message in cases.items():
        assert any(line.startswith(f"fail {media}: {message}") for line in plan["plan"]), plan
    again, report = push(sandbox_config, tree)
    assert again.returncode == 1, again.stdout + again.stderr
    assert failures(report) == got
    assert_once_each(sandbox, good)


def test_sidecar_fixed_into_a_regular_file_lands(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    clip = tree / "fifo.mp4"
    clip.write_bytes(b"a clip whose sidecar was a FIFO" * 40)
    sidecar = tree / "fifo.mp4.json"
    os.mkfifo(sidecar)
    result, _ = push(sandbox_config, tree)
    assert result.returncode == 1, result.stdout + result.stderr
    sidecar.unlink()
    sidecar.write_text('{"title": "Not a pipe any more"}', encoding="utf-8")
    assert run_syncd(sandbox_config, "retry", clip).returncode == 0
    again, _ = push(sandbox_config, tree)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [i["title"] for i in sandbox.items() if i["title"] == "Not a pipe any more"]


def test_folder_unreadable_after_the_scan_names_the_folder(
    sandbox: Sandbox, sandbox_config: Path, tree: Path
) -> None:
    """A folder chmod 000 after its files were scanned (the dry run records them `ready`,
    as a scan in the same run would): the files fail naming the folder, not a
    `.syncd.json` that does not exist, and the progress line claims no "0 bytes"."""
    closed = tree / "closed"
    inside = make_tree(closed, 2, prefix="inner")
    planned = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", tree)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert journal_states(sandbox_config)[str(inside[0])] is ItemState.READY
    closed.chmod(0)
    try:
        result = run_syncd(sandbox_config, "push", "--no-wait", tree, unprivileged=True)
    finally:
        closed.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    why = f"{closed}: cannot read folder: Permission denied"
    for media in inside:
        assert f"FAILED {media}: {why}" in result.stdout.splitlines(), result.stdout
        # The progress line: no size or time for a file that never started sending.
        assert f"failed {media}: {why}" in result.stderr.splitlines(), result.stderr
    assert ".syncd.json" not in result.stdout + result.stderr
    assert " (0 bytes" not in result.stderr
    assert_once_each(sandbox, sorted(tree.glob("clip*.mp4")))
