"""`syncd.cli.run`, the process entry point: it skips the interpreter's teardown, but only
once nothing can be lost by that (output flushed, exit handlers run, no thread left), and
keeps Python's own exit where that says something (a broken stdout, a profiler)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    """This checkout's syncd; stdout block-buffered when it is a pipe, as for most users."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run_with_command(
    body: str, tmp_path: Path, python_flags: Sequence[str] = (), **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run `run()` in a fresh interpreter with `main` replaced by a click command doing
    `body` (the real commands all flush as they go, so they could not show a lost buffer)."""
    script = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from pathlib import Path
        import click
        from syncd import cli

        MARK = Path(sys.argv.pop(1))  # click reads the rest of argv

        class Witness:
            def __del__(self) -> None:
                MARK.with_suffix(".teardown").write_text("torn down")

        witness = Witness()  # freed only by the interpreter's teardown

        @click.command()
        def fake() -> None:
        {body}

        cli.main = fake
        cli.run()
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    popen.setdefault("capture_output", True)
    return subprocess.run(
        [sys.executable, *python_flags, "-c", script, str(tmp_path / "mark")],
        env=_env(),
        text=True,
        timeout=60,
        **popen,
    )


def _torn_down(tmp_path: Path) -> bool:
    return (tmp_path / "mark.teardown").exists()


def test_the_teardown_is_skipped(tmp_path: Path) -> None:
    done = _run_with_command("sys.exit(5)", tmp_path)
    assert done.returncode == 5
    assert not _torn_down(tmp_path)
    # The witness does tell: where run() keeps the normal exit, the teardown frees it.
    kept = _run_with_command("sys.exit('normal exit')", tmp_path)
    assert kept.returncode == 1
    assert _torn_down(tmp_path)


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


def test_closed_standard_streams_at_start_keep_the_code(tmp_path: Path) -> None:
    # `syncd push >&- 2>&-` from cron: Python sets sys.stdout and sys.stderr to None.
    def close_stdio() -> None:
        os.close(1)
        os.close(2)

    done = _run_with_command(
        "sys.exit(6)",
        tmp_path,
        capture_output=False,
        stdin=subprocess.DEVNULL,
        preexec_fn=close_stdio,
    )
    assert done.returncode == 6
    assert not _torn_down(tmp_path)


def test_a_stdout_nobody_reads_exits_as_python_does(tmp_path: Path, unread_pipe: int) -> None:
    # The unflushed output cannot be written: Python says so and exits 120; so must run().
    done = _run_with_command(
        """
        sys.stdout.write("x" * 1000)
        sys.exit(0)
        """,
        tmp_path,
        capture_output=False,
        stdout=unread_pipe,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 120
    assert "BrokenPipeError" in done.stderr


def test_a_stderr_nobody_reads_keeps_the_code(tmp_path: Path, unread_pipe: int) -> None:
    done = _run_with_command(
        """
        sys.stderr.write("nobody reads this")
        sys.exit(7)
        """,
        tmp_path,
        capture_output=False,
        stdout=subprocess.PIPE,
        stderr=unread_pipe,
    )
    assert done.returncode == 7


def test_dev_mode_keeps_the_normal_exit(tmp_path: Path) -> None:
    # `python -X dev` reports unclosed resources during the teardown.
    done = _run_with_command("sys.exit(0)", tmp_path, python_flags=["-X", "dev"])
    assert done.returncode == 0
    assert _torn_down(tmp_path)


def test_a_profiler_still_gets_its_report() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-m", "syncd", "--version"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "syncd, version" in done.stdout
    assert "function calls" in done.stdout  # cProfile prints at normal exit
