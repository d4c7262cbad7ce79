"""Start-up cost: every command imports the CLI, so what only tools need is imported late."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_sqlite_utils_waits_until_a_tool_asks_for_it() -> None:
    # ~30 ms of every command's start-up and exit; the journal's own work is plain SQL.
    probe = "import sys, syncd.cli; print(sorted(m for m in sys.modules if 'sqlite_utils' in m))"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
