"""A sidecar edited while its item's metadata is being applied is sent next, in the same
run: the worker that applied the old metadata notices the edit itself, whatever order the
watch feed's look and the apply's finish take (under load the feed's record was lost, and
the edit waited for the hourly rescan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import make_tree

from syncd.config import load_config
from syncd.journal import Journal
from syncd.metadata import apply as apply_module
from syncd.model import ItemState
from syncd.progress import NullProgress
from syncd.push import Push, PushOptions
from syncd.sandbox import Sandbox


def test_a_sidecar_edited_during_the_apply_is_sent_in_the_same_run(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    [clip] = make_tree(tree, 1, size=1500)
    sidecar = clip.with_name(clip.name + ".json")
    sidecar.write_text(json.dumps({"chapters": [{"start": 0, "title": "A"}]}))
    original = apply_module.MetadataApplier.apply
    edits: list[str] = []

    def apply_then_edit(self: apply_module.MetadataApplier, *args: object) -> bool:
        done = original(self, *args)  # type: ignore[arg-type]
        if not edits:  # the operator saves the sidecar as the first apply ends
            sidecar.write_text(json.dumps({"chapters": [{"start": 0, "title": "B"}]}))
            edits.append("B")
        return done

    monkeypatch.setattr(apply_module.MetadataApplier, "apply", apply_then_edit)
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path) as journal:
        report = Push(config, journal, progress=NullProgress()).run(
            PushOptions(roots=[tree], no_wait=True)
        )
        row = journal.get(str(clip))
    assert report.all_landed
    [item] = sandbox.items()
    assert [s["title"] for s in item["sections"]] == ["B"]
    assert row is not None and row.state is ItemState.SYNCED
    assert row.desired_digest == row.applied_digest
