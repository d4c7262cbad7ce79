"""`syncd reconcile` as a real process: the max_delete cap, --json, the exit status cron acts
on, and the command line the systemd unit runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from reconcile_helpers import append_config, make_tree, push, rows, run_syncd, sha256_of

from syncd.model import identity_tag
from syncd.sandbox import Sandbox

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "syncd-reconcile.service"


def test_max_delete_exceeded_deletes_nothing_and_names_the_cap(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[reconcile]\non_local_delete = "delete"\nmax_delete = 2')
    root = tmp_path / "tree"
    files = make_tree(root, 4)
    push(sandbox_config, root)
    for path in files[:3]:
        path.unlink()

    proc = run_syncd(sandbox_config, "reconcile", root)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 deletions planned, more than max_delete = 2: nothing deleted" in proc.stdout
    assert len(sandbox.items()) == 4 and len(rows(sandbox_config)) == 4
    assert not [r for r in sandbox.requests if r.method == "photo/delete"]
    # Raised for one run, the same plan goes through.
    proc = run_syncd(sandbox_config, "reconcile", "--max-delete", "3", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(sandbox.items()) == 1 and list(rows(sandbox_config)) == [str(files[3])]


def test_dedupe_over_max_delete_deletes_nothing_and_names_the_cap(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """--dedupe deletions share max_delete's budget with local deletions (issue 14): two
    copies plus one deleted local file make three deletions, over a cap of 2."""
    append_config(sandbox_config, '[reconcile]\non_local_delete = "delete"\nmax_delete = 2')
    root = tmp_path / "tree"
    files = make_tree(root, 3)
    _, found = push(sandbox_config, root)
    for path in files[:2]:  # a second item for each, as a landed retry would leave
        marker = identity_tag(sha256_of(path))
        sandbox.add_item(path.read_bytes(), title=path.stem, tags=[marker])
    files[2].unlink()
    assert len(sandbox.items()) == 5

    proc = run_syncd(sandbox_config, "reconcile", "--dedupe", root)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 deletions planned, more than max_delete = 2: nothing deleted" in proc.stdout
    assert len(sandbox.items()) == 5 and len(rows(sandbox_config)) == 3
    assert not [r for r in sandbox.requests if r.method == "photo/delete"]
    # Raised for one run, the same plan goes through: the copies go, the oldest stay.
    proc = run_syncd(sandbox_config, "reconcile", "--dedupe", "--max-delete", "3", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = sorted(str(i["photo_id"]) for i in sandbox.items())
    assert kept == sorted(found[str(p)].photo_id or "" for p in files[:2])
    assert len([r for r in sandbox.requests if r.method == "photo/delete"]) == 3


def test_json_lists_every_action_with_its_outcome(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = make_tree(root, 2)
    _, found = push(sandbox_config, root)
    files[0].unlink()
    (root / "late.mp4").write_bytes(b"late" * 300)
    append_config(sandbox_config, "[scan]\nstable_seconds = 0")

    proc = run_syncd(sandbox_config, "reconcile", "--json", root)

    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["exit_status"] == 0
    assert report["summary"] == {"local-deleted": {"nothing to do": 1}, "new": {"done": 1}}
    actions = {a["text"]: (a["class"], a["decision"], a["outcome"]) for a in report["actions"]}
    assert actions == {
        f"local-deleted {files[0]} photo {found[str(files[0])].photo_id}: keep": (
            "local-deleted",
            "keep",
            "nothing to do",
        ),
        f"new {root / 'late.mp4'}: upload": ("new", "upload", "done"),
    }
    assert report["compared"]["remote_items"] == 2 and report["pipeline"]["synced_by_run"] == 1


def test_a_site_that_ignores_the_marker_filter_is_an_error(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    make_tree(root, 2)
    sandbox.add_item(b"somebody else's")
    sandbox.set_profile(careless=["tags"])

    proc = run_syncd(sandbox_config, "reconcile", "--no-wait", root)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ignores the tags filter" in proc.stdout
    assert len(sandbox.items()) == 1  # nothing adopted, nothing uploaded


def test_the_units_command_line_reconciles_the_watch_folders(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    [exec_start] = [
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    _binary, *args = shlex.split(exec_start)
    root = tmp_path / "archive"
    make_tree(root, 2)
    append_config(sandbox_config, f'[scan]\nstable_seconds = 0\n[[watch]]\npath = "{root}"')

    proc = run_syncd(sandbox_config, *args)

    assert args == ["reconcile"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(sandbox.items()) == 2
    assert run_syncd(sandbox_config, *args).returncode == 0
