"""Issue 12, defects 4 and 8: syncd claims only the metadata it can confirm, and sends tags
the way the pages describe them.

- publish_date is documented for photo/upload only, without a format: it counts as applied
  when the site's list answer shows it; otherwise the journal records it as unconfirmed,
  `syncd status` lists the file and the run warns once (docs/upload-modes.md).
- Tags are space-separated; a multi-word tag is sent with its words joined, so a site that
  splits on spaces (the strict sandbox) stores it as one tag. The run warns once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_helpers import make_tree, run_syncd

from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import IDENTITY_NAMESPACE
from syncd.sandbox import Sandbox

DATE = "2019-06-21 21:30:00"


def with_sidecars(tree: Path, count: int, sidecar: dict[str, object]) -> list[Path]:
    files = make_tree(tree, count)
    for path in files:
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar), encoding="utf-8")
    return files


@pytest.mark.parametrize("mode", ["direct", "token", "chunked"])
def test_publish_date_the_site_shows_is_confirmed(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, mode: str
) -> None:
    sandbox.set_profile("default")  # its list answer shows publish_date_ansi (strict's not)
    tree = tmp_path / "tree"
    with_sidecars(tree, 2, {"publish_date": DATE})
    result = run_syncd(
        sandbox_config, "push", "--no-wait", "--mode", mode, "--chunk-size", "400", tree
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "does not confirm" not in result.stderr
    with Journal.open(load_config(sandbox_config).journal_path) as journal:
        assert journal.unconfirmed() == []
    status = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    assert status["unconfirmed"] == []


@pytest.mark.parametrize("mode", ["direct", "token"])
def test_publish_date_the_site_does_not_show_is_not_claimed(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, mode: str
) -> None:
    sandbox.set_profile("strict")  # the documented list answer: no publish_date_ansi
    tree = tmp_path / "tree"
    files = with_sidecars(tree, 3, {"publish_date": DATE})

    result = run_syncd(sandbox_config, "push", "--no-wait", "--mode", mode, tree)

    assert result.returncode == 0, result.stdout + result.stderr  # the files are on the site
    warnings = [line for line in result.stderr.splitlines() if "does not confirm" in line]
    assert len(warnings) == 1, result.stderr  # once per run, not once per file
    status = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    assert {u["path"] for u in status["unconfirmed"]} == {str(p) for p in files}
    request = "photo/upload" if mode == "direct" else "photo/get-upload-token"
    for entry in status["unconfirmed"]:
        assert entry["fields"] == ["publish_date"]
        assert f"publish_date {DATE} sent, not confirmed" in entry["detail"]
        assert request in entry["detail"]
    plain = run_syncd(sandbox_config, "status")
    assert f"UNCONFIRMED {files[0]}" in plain.stdout, plain.stdout
    assert "docs/upload-modes.md" in plain.stdout
    history = run_syncd(sandbox_config, "status", files[0])
    assert "not confirmed" in history.stdout


def test_multi_word_tags_are_stored_as_one_tag_on_a_site_that_splits_on_spaces(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile(split_tags=True)
    tree = tmp_path / "tree"
    with_sidecars(tree, 2, {"tags": ["slow tv", "ocean", "golden  hour"]})

    result = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert result.returncode == 0, result.stdout + result.stderr
    for item in sandbox.items():
        tags = [t for t in item["tags"] if not t.startswith(f"{IDENTITY_NAMESPACE}:")]
        assert tags == ["slow_tv", "ocean", "golden_hour"]
    warnings = [line for line in result.stderr.splitlines() if "words joined" in line]
    assert len(warnings) == 1, result.stderr
    assert "'slow tv' as 'slow_tv'" in warnings[0]


def test_the_tag_word_joiner_is_configurable(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    sandbox.set_profile("strict")
    with open(sandbox_config, "a", encoding="utf-8") as fh:
        fh.write('\n[upload]\ntag_word_joiner = "-"\n')
    tree = tmp_path / "tree"
    with_sidecars(tree, 1, {"tags": ["slow tv"]})
    assert run_syncd(sandbox_config, "push", "--no-wait", tree).returncode == 0
    [item] = sandbox.items()
    assert "slow-tv" in item["tags"]


def test_publish_date_changed_later_by_photo_update_is_read_back(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """photo/update does not document publish_date; the sandbox (like such a site) keeps
    the date the upload gave. The edit is sent, read back, and said not to have applied."""
    sandbox.set_profile("default")
    tree = tmp_path / "tree"
    [clip] = with_sidecars(tree, 1, {"publish_date": DATE})
    assert run_syncd(sandbox_config, "push", "--no-wait", tree).returncode == 0
    sidecar = clip.with_name(clip.name + ".json")
    sidecar.write_text(json.dumps({"publish_date": "2020-01-02"}), encoding="utf-8")

    result = run_syncd(sandbox_config, "push", "--no-wait", tree)

    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    [entry] = status["unconfirmed"]
    assert entry["path"] == str(clip)
    assert "publish_date 2020-01-02 sent, but the site shows 2019-06-21 21:30:00" in entry["detail"]
    assert "photo/update does not document it" in entry["detail"]
