"""Command-line and config values that used to be ignored or accepted wrongly, each run
through the real `syncd` command against the sandbox."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from pipeline_helpers import (
    append_config,
    assert_once_each,
    journal_states,
    make_tree,
    run_syncd,
    syncd_cmd,
    syncd_env,
)

from syncd.config import MAX_CONCURRENCY, load_config
from syncd.errors import InvalidRequest
from syncd.journal import Journal
from syncd.model import ItemState
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

# Fast back-off: the error decides the outcome, not the clock.
FAST = RetryPolicy(initial_wait=0.01, max_wait=0.1, park_first=0.5, park_max=1.0)
# A push of two small files ends in seconds. At the 1 byte/s a config caps it to below,
# the same push would take over half an hour: if it has not ended by this, the cap held.
CAPPED_PUSH_TIMEOUT = 60.0


@pytest.mark.parametrize(
    ("config_rate", "args"),
    [
        pytest.param("1", ["--bwlimit", "0"], id="--bwlimit-0-lifts-the-config-cap"),
        pytest.param("1", ["--bwlimit", "100MiB"], id="--bwlimit-replaces-the-config-cap"),
        pytest.param('"0"', [], id="config-bwlimit-string-0-is-unlimited"),
        pytest.param("0", [], id="config-bwlimit-0-is-unlimited"),
    ],
)
def test_bwlimit_zero_means_unlimited_and_the_option_wins(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, config_rate: str, args: list[str]
) -> None:
    append_config(sandbox_config, f"[upload]\nbwlimit = {config_rate}\n")
    files = make_tree(tmp_path / "tree", 2)
    result = run_syncd(
        sandbox_config, "push", "--no-wait", *args, tmp_path / "tree", timeout=CAPPED_PUSH_TIMEOUT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_once_each(sandbox, files)


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("0", "must be at least 1 byte, got 0"),
        ("0MiB", "must be at least 1 byte, got 0"),
        ("-1", "is not a size"),
        ("lots", "is not a size"),
    ],
)
def test_chunk_size_that_cannot_work_is_a_usage_error(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, size: str, words: str
) -> None:
    make_tree(tmp_path / "tree", 1)
    result = run_syncd(
        sandbox_config, "push", "--no-wait", "--mode", "chunked", "--chunk-size", size,
        tmp_path / "tree",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--chunk-size" in result.stderr and words in result.stderr, result.stderr
    assert sandbox.requests == [], "nothing is sent on a usage error"


def test_config_concurrency_has_the_cli_cap(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    make_tree(tmp_path / "tree", 1)
    too_many = run_syncd(sandbox_config, "push", "--concurrency", "1000", tmp_path / "tree")
    assert too_many.returncode == 2, too_many.stderr
    assert f"1<=x<={MAX_CONCURRENCY}" in too_many.stderr, too_many.stderr
    append_config(sandbox_config, "[upload]\nconcurrency = 1000\n")
    result = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"upload.concurrency: must be at most {MAX_CONCURRENCY}, got 1000" in result.stderr
    assert sandbox.requests == []


@pytest.mark.parametrize("command", [["push", "--no-wait"], ["check"], ["status"]])
def test_domain_with_an_impossible_port_is_a_config_error(
    sandbox: Sandbox, tmp_path: Path, command: list[str]
) -> None:
    """Before: accepted, then every request failed with InvalidURL, retried as if the
    network were down."""
    config = sandbox.write_config(tmp_path / "syncd.toml", journal_path=tmp_path / "j.db")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'"{sandbox.domain}"', '"127.0.0.1:99999"'), "utf-8")
    make_tree(tmp_path / "tree", 1)
    args = [*command, tmp_path / "tree"] if command[0] == "push" else command
    result = run_syncd(config, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "site.domain: '127.0.0.1:99999': port '99999' is not a number from 1 to 65535" in (
        result.stderr
    ), result.stderr


# --- PATH arguments name files the way push does ----------------------------------------


@pytest.fixture
def pushed(sandbox: Sandbox, sandbox_config: Path, tmp_path: Path) -> Path:
    """A tree pushed once: sub/clip000.mp4 synced, sub/broken.mp4 failed on its sidecar."""
    sub = tmp_path / "tree" / "sub"
    make_tree(sub, 1)
    (sub / "broken.mp4").write_bytes(b"a clip with a broken sidecar" * 40)
    (sub / "broken.mp4.json").write_text("{", encoding="utf-8")
    result = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert result.returncode == 1, result.stdout + result.stderr
    states = journal_states(sandbox_config)
    assert states[str(sub / "clip000.mp4")] is ItemState.SYNCED
    assert states[str(sub / "broken.mp4")] is ItemState.FAILED
    return tmp_path / "tree"


def run_in(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        syncd_cmd(config, *args), capture_output=True, text=True, cwd=cwd, env=syncd_env(),
        timeout=60,
    )  # fmt: skip


def test_status_finds_a_file_named_with_dot_dot(sandbox_config: Path, pushed: Path) -> None:
    spellings = [
        str(pushed / "sub" / ".." / "sub" / "clip000.mp4"),
        str(pushed / "." / "sub" / "clip000.mp4"),
    ]
    for spelling in spellings:
        result = run_syncd(sandbox_config, "status", spelling)
        assert result.returncode == 0, result.stderr
        assert "state: synced" in result.stdout, (spelling, result.stdout)
    relative = run_in(pushed, sandbox_config, "status", "./sub/../sub/clip000.mp4")
    assert "state: synced" in relative.stdout, relative.stdout + relative.stderr
    folder = run_syncd(sandbox_config, "status", "--json", str(pushed / "sub" / ".." / "sub"))
    counts = json.loads(folder.stdout)["counts"]
    assert (counts["synced"], counts["failed"]) == (1, 1), counts


def test_status_keeps_symlinks_as_push_does(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """Pushed through a symlinked root, a file is named through the link; so is PATH."""
    make_tree(tmp_path / "real" / "sub", 1)
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    result = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "alias")
    assert result.returncode == 0, result.stdout + result.stderr
    named = run_in(tmp_path, sandbox_config, "status", "alias/sub/../sub/clip000.mp4")
    assert "state: synced" in named.stdout, named.stdout + named.stderr
    assert f"path: {tmp_path / 'alias' / 'sub' / 'clip000.mp4'}" in named.stdout


def test_retry_finds_files_named_with_dot_dot_and_names_only_push(
    sandbox: Sandbox, sandbox_config: Path, pushed: Path
) -> None:
    (pushed / "sub" / "broken.mp4.json").write_text('{"title": "Fixed"}', encoding="utf-8")
    result = run_in(pushed, sandbox_config, "retry", "./sub/../sub")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 file(s) queued again; run `syncd push` to send them"
    again = run_syncd(sandbox_config, "push", "--no-wait", pushed)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [i for i in sandbox.items() if i["title"] == "Fixed"]


@pytest.mark.timeout(120)
def test_push_stops_on_a_url_that_can_never_work(sandbox_config: Path, tmp_path: Path) -> None:
    """Were the config check bypassed, the InvalidURL requests raises stops the run at once,
    naming site.domain, with the file back in `ready`: it is not parked and retried as if
    the network were down."""
    cfg = load_config(sandbox_config)
    site = replace(cfg.site, domain="127.0.0.1:99999")  # what domain_problem now refuses
    [clip] = make_tree(tmp_path / "tree", 1)
    with Journal.open(cfg.journal_path) as journal:
        report = Push(replace(cfg, site=site), journal, policy=FAST).run(
            PushOptions(roots=[tmp_path / "tree"], no_wait=True)
        )
    assert isinstance(report.stopped_by, InvalidRequest), report.stopped_by
    assert "site.domain" in str(report.stopped_by)
    assert journal_states(sandbox_config)[str(clip)] is ItemState.READY
