"""File names holding a newline, an escape sequence or a bidi override are shown escaped by
every command: progress lines, the summary, logs and `syncd status`. A raw newline could
forge a `FAILED ...` line; an escape sequence could clear or recolour the terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pipeline_helpers import assert_once_each, make_tree, run_syncd

from syncd.sandbox import Sandbox
from syncd.text import printable

FORGER = "a\nFAILED x.mp4"  # a newline that would start a line of its own
CLEARER = "\x1b[2Jclear.mp4"  # "erase the whole screen"
REORDERED = "\u202eevil4pm.mp4"  # right-to-left override: would show as "mp4.live..."


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    make_tree(root, 1)
    for i, name in enumerate((FORGER, CLEARER, REORDERED)):
        (root / name).write_bytes(os.urandom(1000 + i))
    # A broken sidecar, so that a FAILED line carries an odd name in its message too.
    (root / (CLEARER + ".json")).write_text('{"title": 5}', encoding="utf-8")
    return root


def assert_shown_escaped(text: str) -> None:
    assert "\x1b" not in text, "a raw escape sequence reached the terminal"
    assert "\u202e" not in text, "a raw bidi override reached the terminal"
    forged = [line for line in text.splitlines() if line.startswith("FAILED x.mp4")]
    assert not forged, f"a file name forged a line: {forged}"


def test_odd_names_are_escaped_in_progress_summary_and_logs(
    sandbox: Sandbox, sandbox_config: Path, odd_tree: Path
) -> None:
    # Token mode and -v: the uploader logs each file's token lifetime with its path.
    result = run_syncd(sandbox_config, "-v", "push", "--no-wait", "--mode", "token", odd_tree)
    assert result.returncode == 1, result.stdout + result.stderr
    for text in (result.stdout, result.stderr):
        assert_shown_escaped(text)
    clearer = printable(str(odd_tree / CLEARER))
    forger = printable(str(odd_tree / FORGER))
    # The summary: the failed file and the sidecar named in its message, both escaped.
    failed = f"FAILED {clearer}: {clearer}.json: title: expected a string, got number 5"
    assert failed in result.stdout.splitlines(), result.stdout
    # The plain progress lines and the log line carry the names escaped, one line each.
    assert f"failed {clearer}: {clearer}.json: title:" in result.stderr, result.stderr
    assert f"synced {forger} (" in result.stderr, result.stderr
    assert f"{forger}: upload token valid for" in result.stderr, result.stderr
    assert f"synced {printable(str(odd_tree / REORDERED))} (" in result.stderr
    # Only the file with the broken sidecar did not land.
    assert_once_each(sandbox, [odd_tree / "clip000.mp4", odd_tree / FORGER, odd_tree / REORDERED])


def test_odd_names_are_escaped_by_status_and_json(
    sandbox: Sandbox, sandbox_config: Path, odd_tree: Path
) -> None:
    pushed = run_syncd(sandbox_config, "push", "--no-wait", "--json", odd_tree)
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert_shown_escaped(pushed.stdout + pushed.stderr)
    report = json.loads(pushed.stdout)
    # JSON carries paths as shown (printable) and messages JSON-escaped.
    [failed] = report["failed"]
    assert failed["path"] == printable(str(odd_tree / CLEARER))
    assert failed["message"].startswith(f"{odd_tree / CLEARER}.json: title:")

    overview = run_syncd(sandbox_config, "status")
    assert overview.returncode == 0, overview.stderr
    assert_shown_escaped(overview.stdout + overview.stderr)
    assert f"FAILED {printable(str(odd_tree / CLEARER))}: " in overview.stdout

    for name in (FORGER, CLEARER, REORDERED):
        one = run_syncd(sandbox_config, "status", odd_tree / name)
        assert one.returncode == 0, one.stderr
        assert_shown_escaped(one.stdout + one.stderr)
        assert f"path: {printable(str(odd_tree / name))}" in one.stdout, one.stdout
        assert "history:" in one.stdout
    # A file the journal does not know is named escaped too.
    unknown = run_syncd(sandbox_config, "status", odd_tree / ("new\x1b[31m.mp4"))
    assert_shown_escaped(unknown.stdout + unknown.stderr)
    assert "new\\x1b[31m.mp4: not in the journal" in unknown.stdout, unknown.stdout
