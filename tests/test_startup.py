"""Start-up cost: every command imports the CLI, so what only tools need is imported late."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "module",
    [
        "sqlite_utils",  # ~30 ms of every command's start-up and exit; the journal is plain SQL
        "pythonjsonlogger",  # ~20 ms, for --log-format json only
        "prometheus_client",  # ~50 ms, for the daemon's metrics_listen only
        "requests",  # ~50 ms, for the commands that talk to the site (not status or scan)
    ],
)
def test_tool_libraries_wait_until_asked_for(module: str) -> None:
    assert _loaded_after("syncd.cli", module) == "[]"


@pytest.mark.parametrize(
    "module",
    [
        "yaml",  # ~8 ms, for YAML sidecars only
        "defusedxml",  # for XMP sidecars only
        "rich.progress",  # ~7 ms, for progress bars on a terminal only
    ],
)
def test_a_push_imports_sidecar_parsers_and_bars_only_when_used(module: str) -> None:
    assert _loaded_after("syncd.cli, syncd.push, syncd.metadata.desired", module) == "[]"


def _loaded_after(imports: str, module: str) -> str:
    """The modules named like `module` that a fresh interpreter holds after `imports`."""
    probe = f"import sys, {imports}; print(sorted(m for m in sys.modules if {module!r} in m))"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
