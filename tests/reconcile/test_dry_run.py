"""`syncd reconcile --dry-run` prints the plan and changes nothing: the journal file and the
site stay byte-identical, whatever the plan holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reconcile_helpers import (
    append_config,
    delete_item,
    edit_item,
    file_fingerprint,
    journal_path,
    make_tree,
    push,
    run_syncd,
    site_fingerprint,
)

from syncd.sandbox import Sandbox


def test_dry_run_changes_nothing_and_prints_every_class(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(
        sandbox_config, '[reconcile]\non_local_delete = "delete"\n[scan]\nstable_seconds = 0'
    )
    root = tmp_path / "tree"
    files = make_tree(root, 6)
    _, found = push(sandbox_config, root)
    ids = [found[str(f)].photo_id for f in files]
    edit_item(sandbox, ids[0], title="edited")
    delete_item(sandbox, ids[1])
    files[2].unlink()
    files[3].write_bytes(os.urandom(1500))
    os.rename(files[4], root / "renamed.mp4")
    (root / "new.mp4").write_bytes(os.urandom(700))
    journal = journal_path(sandbox_config)
    site, journal_bytes = site_fingerprint(sandbox), file_fingerprint(journal)
    requests = len(sandbox.requests)

    proc = run_syncd(sandbox_config, "reconcile", "--dry-run", "--json", root)

    assert proc.returncode == 1, proc.stderr  # out of step: a plan to carry out
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] is True
    assert [(a["text"], a["outcome"]) for a in plan["actions"]] == [
        (f"drift {files[0]} photo {ids[0]} (title 'edited', not 'clip000'): reapply", "planned"),
        (f"remote-missing {files[1]} photo {ids[1]} (gone from the site): reupload", "planned"),
        (f"local-deleted {files[2]} photo {ids[2]}: delete", "planned"),
        (f"changed {files[3]} photo {ids[3]}: replace", "planned"),
        (f"new {root / 'new.mp4'}: upload", "planned"),
        (f"moved {files[4]} -> {root / 'renamed.mp4'}: follow", "planned"),
    ]
    # Nothing written: not the journal, not the site (only read requests were made).
    assert file_fingerprint(journal) == journal_bytes
    assert site_fingerprint(sandbox) == site
    writes = {r.method for r in sandbox.requests[requests:]} - {"photo/list", "album/list"}
    assert writes == set()
    # The same run for real does change both (the fingerprints can tell).
    proc = run_syncd(sandbox_config, "reconcile", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert file_fingerprint(journal) != journal_bytes and site_fingerprint(sandbox) != site
