"""`syncd scan` indexes an archive without asking the site anything; `syncd status` then
shows the size of the job from the journal's counts, `--journal` the journal's own size,
and `--limit` how many failures are listed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline_helpers import (
    assert_once_each,
    journal_path,
    journal_states,
    make_tree,
    run_syncd,
)

from syncd.journal import Journal
from syncd.model import ItemState
from syncd.sandbox import Sandbox


def test_scan_indexes_without_a_request_and_push_then_uploads(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree / "a", 5, 2000) + make_tree(tree / "b", 3, 2000, prefix="other")
    (tree / "b" / "empty.mp4").write_bytes(b"")
    scanned = run_syncd(sandbox_config, "scan", "--no-wait", "--json", tree)
    assert scanned.returncode == 0, scanned.stderr
    data = json.loads(scanned.stdout)
    assert (data["files"], data["new"], data["ready"], data["empty"]) == (9, 9, 8, 1)
    assert data["hashed_bytes"] == 8 * 2000
    assert data["journal"]["ready"] == {"files": 8, "bytes": 16000}
    assert sandbox.count_requests() == 0  # the site was not asked anything
    states = journal_states(sandbox_config)
    assert {p: s for p, s in states.items() if s is ItemState.READY} == {
        str(p): ItemState.READY for p in files
    }

    status = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    assert (status["counts"]["ready"], status["bytes"]["ready"]) == (8, 16000)
    assert status["counts"]["skipped"] == 1
    folder = json.loads(run_syncd(sandbox_config, "status", "--json", tree / "a").stdout)
    assert folder["counts"]["ready"] == 5  # a folder below the root: counted row by row

    again = run_syncd(sandbox_config, "scan", "--no-wait", tree)  # plain text, unchanged
    assert again.returncode == 0, again.stderr
    assert "scanned 9 files" in again.stdout and "0 new, 0 changed, 9 unchanged" in again.stdout
    assert "to upload: 8 files" in again.stdout

    pushed = run_syncd(sandbox_config, "push", "--no-wait", tree)
    assert pushed.returncode == 0, pushed.stderr + pushed.stdout
    assert_once_each(sandbox, files)


def test_status_journal_shows_its_size_and_events(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    text = sandbox_config.read_text().replace(
        "[journal]\n", "[journal]\nevent_retention_days = 30\n", 1
    )
    sandbox_config.write_text(text)
    tree = tmp_path / "tree"
    make_tree(tree, 4, 100)
    assert run_syncd(sandbox_config, "scan", "--no-wait", tree).returncode == 0
    shown = run_syncd(sandbox_config, "status", "--journal", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    on_disk = os.path.getsize(journal_path(sandbox_config))
    assert (data["files"], data["events"], data["event_retention_days"]) == (4, 8, 30)
    assert data["file_bytes"] == on_disk and data["bytes_per_file"] > 0
    human = run_syncd(sandbox_config, "status", "--journal")
    assert "events    8" in human.stdout and "kept 30 days" in human.stdout


def test_status_lists_the_most_recent_failures_and_says_how_many_more(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = make_tree(tree, 7, 100)
    assert run_syncd(sandbox_config, "scan", "--no-wait", tree).returncode == 0
    with Journal.open(journal_path(sandbox_config)) as journal:
        for path in files:
            assert journal.transition(str(path), ItemState.READY, ItemState.FAILED, error_code="x")
    limited = json.loads(run_syncd(sandbox_config, "status", "--json", "--limit", "3").stdout)
    assert [r["path"] for r in limited["failed"]] == [str(p) for p in reversed(files[-3:])]
    assert limited["failed_total"] == 7
    text = run_syncd(sandbox_config, "status", "--limit", "3").stdout
    assert text.count("FAILED ") == 3 and "and 4 more failed" in text
    everything = json.loads(run_syncd(sandbox_config, "status", "--json", "--limit", "0").stdout)
    assert len(everything["failed"]) == 7


def test_scan_names_what_it_cannot_read_and_exits_1(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    make_tree(tree, 2, 100)
    closed = tree / "closed"
    make_tree(closed, 1, 100, prefix="inside")
    closed.chmod(0)
    try:
        result = run_syncd(sandbox_config, "scan", "--no-wait", tree, unprivileged=True)
    finally:
        closed.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"PROBLEM {closed}: cannot list directory" in result.stdout
    assert "to upload: 2 files" in result.stdout


def test_an_interrupted_scan_says_so_and_leaves_the_rest_for_the_next(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    from syncd.config import load_config
    from syncd.index import count_media, index_archive
    from syncd.pipeline.lifecycle import Lifecycle

    tree = tmp_path / "tree"
    files = make_tree(tree / "a", 3, 100) + make_tree(tree / "b", 2, 100, prefix="more")
    config = load_config(sandbox_config)
    lifecycle = Lifecycle()
    assert count_media([tree], config, lifecycle.stop.is_set) == 5
    with Journal.open(config.journal_path) as journal:
        lifecycle.request_stop(by_signal=True)  # Ctrl-C before it started
        stopped = index_archive(config, journal, [tree], no_wait=True, lifecycle=lifecycle)
        assert stopped.interrupted and stopped.report.seen == 0
        done = index_archive(config, journal, [tree], no_wait=True)
        assert not done.interrupted and done.report.became_ready == 5
        assert done.totals[ItemState.READY] == (5, 500)
    assert {journal_states(sandbox_config)[str(p)] for p in files} == {ItemState.READY}
