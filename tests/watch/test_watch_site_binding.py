"""Issue 12: `syncd watch` with a journal of another site refuses at start (exit status 2,
both sites named) instead of taking that journal's word about what is on this site."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import make_tree, run_syncd
from watch_helpers import WatchProcess, watch_config

from syncd.sandbox import Sandbox


def test_watch_refuses_a_journal_of_another_site(
    sandbox: Sandbox, sandbox_config: Path, archive: Path, tmp_path: Path
) -> None:
    make_tree(archive, 2)
    assert run_syncd(sandbox_config, "push", "--no-wait", archive).returncode == 0
    other = Sandbox(data_dir=tmp_path / "other-site", control=True)
    other.start()
    try:
        config = other.write_config(tmp_path / "other.toml", journal_path=tmp_path / "journal.db")
        watch = WatchProcess(watch_config(config, archive), tmp_path / "watch.log")
        code = watch.proc.wait(timeout=60)
        assert code == 2, watch.output()
        assert sandbox.domain in watch.output() and other.domain in watch.output()
        assert [r.method for r in other.requests] == ["site/get"]
    finally:
        other.stop()
