"""`syncd.cli.run`, the process entry point: it skips the interpreter's teardown, but only
once nothing can be lost by that (output flushed, exit handlers run, no thread left)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run_with_command(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `run()` in a fresh interpreter with `main` replaced by a click command doing
    `body` (the real commands all flush as they go, so they could not show a lost buffer)."""
    script = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from pathlib import Path
        import click
        from syncd import cli

        MARK = Path(sys.argv.pop(1))  # click reads the rest of argv

        @click.command()
        def fake() -> None:
        {body}

        cli.main = fake
        cli.run()
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffer a pipe
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "mark")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_buffered_output_is_flushed_and_the_code_kept(tmp_path: Path) -> None:
    # Piped stdout is block-buffered: without a flush these lines would vanish.
    done = _run_with_command(
        """
        for i in range(1000):
            sys.stdout.write(f"line {i}\\n")
        sys.stderr.write("to stderr, unflushed")
        sys.exit(3)
        """,
        tmp_path,
    )
    assert done.returncode == 3
    assert done.stdout.splitlines() == [f"line {i}" for i in range(1000)]
    assert done.stderr == "to stderr, unflushed"


def test_exit_handlers_run(tmp_path: Path) -> None:
    done = _run_with_command(
        """
        atexit.register(MARK.write_text, "handler ran")
        """,
        tmp_path,
    )
    assert done.returncode == 0
    assert (tmp_path / "mark").read_text() == "handler ran"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    done = _run_with_command(
        """
        def late() -> None:
            time.sleep(0.5)
            MARK.write_text("thread finished")
        threading.Thread(target=late).start()
        sys.exit(4)
        """,
        tmp_path,
    )
    assert done.returncode == 4
    assert (tmp_path / "mark").read_text() == "thread finished"


@pytest.mark.parametrize("code", ["a message for the operator", None])
def test_exit_codes_that_are_not_numbers_keep_their_meaning(
    tmp_path: Path, code: str | None
) -> None:
    done = _run_with_command(f"sys.exit({code!r})", tmp_path)
    if code is None:
        assert (done.returncode, done.stderr) == (0, "")
    else:
        assert (done.returncode, done.stderr.strip()) == (1, code)


def test_an_uncaught_exception_still_shows_its_traceback(tmp_path: Path) -> None:
    done = _run_with_command("raise RuntimeError('boom')", tmp_path)
    assert done.returncode == 1
    assert "RuntimeError: boom" in done.stderr
