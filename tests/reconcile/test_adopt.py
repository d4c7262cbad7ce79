"""A lost journal rebuilt from the site: `syncd reconcile --adopt` hashes the archive and
links each file to the item carrying its identity marker, with zero uploads; afterwards a
push has nothing to send."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reconcile_helpers import journal_path, make_tree, push, rows, run_syncd, upload_requests

from syncd.model import ItemState
from syncd.sandbox import Sandbox


def lose_journal(config: Path) -> None:
    journal = journal_path(config)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow(seconds=4)
def test_a_deleted_journal_of_300_files_is_rebuilt_without_uploads(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = make_tree(root, 300, size=600)
    (root / "clip007.mp4.json").write_text(json.dumps({"title": "Seven", "albums": ["Best"]}))
    report, before = push(sandbox_config, root)
    assert report.all_landed
    lose_journal(sandbox_config)
    uploads, requests = upload_requests(sandbox), len(sandbox.requests)

    proc = run_syncd(sandbox_config, "reconcile", "--adopt", "--json", root)
    # Just written: not stable yet, so not looked up, and the rebuild says so.
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["summary"] == {"new": {"reported": 300}}
    assert upload_requests(sandbox) == uploads

    proc = run_syncd(sandbox_config, "reconcile", "--adopt", "--no-wait", "--json", root)

    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    result = json.loads(proc.stdout)
    assert result["summary"] == {"adopt": {"done": 300}}
    assert upload_requests(sandbox) == uploads
    # Reads only: listing, lookups (one per file and one check), albums, and site/get (the
    # journal's site checked).
    reads = {"photo/list", "album/list", "site/get"}
    assert {r.method for r in sandbox.requests[requests:]} <= reads
    after = rows(sandbox_config)
    assert {p: (r.state, r.photo_id) for p, r in after.items()} == {
        str(f): (ItemState.SYNCED, before[str(f)].photo_id) for f in files
    }
    # The next push sends nothing: no upload, no metadata update (and the journal, bound
    # to this site by the reconcile, is not asked about again).
    requests = len(sandbox.requests)
    proc = run_syncd(sandbox_config, "push", "--no-wait", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r.method for r in sandbox.requests[requests:]] == []


def test_adopt_on_a_site_that_answers_no_such_tag_links_what_is_there(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = make_tree(root, 6)
    sandbox.set_profile(no_such_tag=True)
    push(sandbox_config, root)
    lose_journal(sandbox_config)
    late = [root / "late1.mp4", root / "late2.mp4"]
    for path in late:
        path.write_bytes(os.urandom(900))  # never uploaded: their markers are in no one's use
    uploads = upload_requests(sandbox)

    proc = run_syncd(sandbox_config, "reconcile", "--adopt", "--no-wait", "--json", root)

    assert proc.returncode == 1, proc.stderr  # two files are not on the site
    result = json.loads(proc.stdout)
    assert result["summary"] == {"adopt": {"done": 6}, "new": {"reported": 2}}
    assert upload_requests(sandbox) == uploads
    states = {p: r.state for p, r in rows(sandbox_config).items()}
    assert states == {
        **{str(f): ItemState.SYNCED for f in files},
        **{str(f): ItemState.READY for f in late},
    }
    proc = run_syncd(sandbox_config, "push", "--no-wait", root)
    assert proc.returncode == 0 and upload_requests(sandbox) == uploads + 2
