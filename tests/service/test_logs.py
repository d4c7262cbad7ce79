"""Log lines on a terminal, under journald and as JSON; secrets masked in all of them.

The journald case is detected the way systemd documents it: $JOURNAL_STREAM names the
device and inode of stderr. The tests give a real file's dev:ino, in this process and to
a real `syncd` subprocess whose stderr is that file."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pytest

from syncd.config import Secret
from syncd.sandbox import Sandbox
from syncd.service import logs
from syncd.service.logs import LogFormat, setup_logging, stream_is_journal

REPO_ROOT = Path(__file__).resolve().parents[2]
# The terminal format starts with the date and time of the line.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
PRIORITY = re.compile(r"^<([0-7])>")
# A `syncd push` subprocess taking longer than this is hung, not slow.
RUN_TIMEOUT = 120.0


def journal_stream_of(stream: TextIO) -> str:
    st = os.fstat(stream.fileno())
    return f"{st.st_dev}:{st.st_ino}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger and the masked secrets: put both back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    secrets = logs._secrets
    try:
        yield
    finally:
        if logs._installed is not None:
            root.removeHandler(logs._installed)
            logs._installed = None
        root.handlers[:] = handlers
        root.setLevel(level)
        logs._secrets = secrets


@pytest.fixture
def log_file(tmp_path: Path, restore_logging: None) -> Iterator[TextIO]:
    with open(tmp_path / "stderr.log", "w+", encoding="utf-8") as stream:
        yield stream


def emitted(stream: TextIO) -> list[str]:
    stream.flush()
    stream.seek(0)
    return stream.read().splitlines()


def log_each_level(name: str = "syncd.test") -> None:
    log = logging.getLogger(name)
    log.debug("a debug line")
    log.info("an info line")
    log.warning("a warning line")
    log.error("an error line")
    log.critical("a critical line")


# --- in this process: the formats ---------------------------------------------------------


def test_under_journald_lines_carry_priority_and_no_time(log_file: TextIO) -> None:
    env = {"JOURNAL_STREAM": journal_stream_of(log_file)}
    setup_logging(logging.DEBUG, stream=log_file, env=env)
    log_each_level()
    assert emitted(log_file) == [
        "<7>syncd.test: a debug line",
        "<6>syncd.test: an info line",
        "<4>syncd.test: a warning line",
        "<3>syncd.test: an error line",
        "<2>syncd.test: a critical line",
    ]


def test_a_traceback_keeps_its_priority_on_every_line(log_file: TextIO) -> None:
    setup_logging(
        logging.INFO, stream=log_file, env={"JOURNAL_STREAM": journal_stream_of(log_file)}
    )
    try:
        raise RuntimeError("worker died")
    except RuntimeError:
        logging.getLogger("syncd.pipeline").exception("a worker failed")
    lines = emitted(log_file)
    assert lines[0] == "<3>syncd.pipeline: a worker failed"
    assert lines[-1] == "<3>RuntimeError: worker died"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)


def test_an_inherited_journal_stream_for_another_file_keeps_the_terminal_format(
    log_file: TextIO, tmp_path: Path
) -> None:
    """A child of a service whose stderr was redirected still has $JOURNAL_STREAM set."""
    other = tmp_path / "journal-stand-in"
    other.write_text("")
    st = other.stat()
    setup_logging(logging.INFO, stream=log_file, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    logging.getLogger("syncd.test").warning("a warning line")
    [line] = emitted(log_file)
    assert TIMESTAMP.match(line) and line.endswith(" WARNING syncd.test: a warning line")


def test_on_a_terminal_or_file_the_format_is_the_human_one(log_file: TextIO) -> None:
    setup_logging(logging.INFO, stream=log_file, env={})
    log_each_level()
    lines = emitted(log_file)
    assert len(lines) == 4  # debug is below INFO
    assert all(TIMESTAMP.match(line) for line in lines)
    assert lines[1].endswith(" WARNING syncd.test: a warning line")


def test_journal_stream_needs_a_real_matching_descriptor(log_file: TextIO) -> None:
    value = journal_stream_of(log_file)
    assert stream_is_journal(log_file, {"JOURNAL_STREAM": value})
    assert not stream_is_journal(log_file, {})
    assert not stream_is_journal(log_file, {"JOURNAL_STREAM": "0:0"})
    assert not stream_is_journal(None, {"JOURNAL_STREAM": value})
    import io

    assert not stream_is_journal(io.StringIO(), {"JOURNAL_STREAM": value})


@dataclass
class Upload:
    path: Path
    photo_id: str


def test_json_lines_hold_time_level_logger_message_and_extras(log_file: TextIO) -> None:
    setup_logging(logging.INFO, LogFormat.JSON, stream=log_file, env={})
    log = logging.getLogger("syncd.upload")
    log.info("uploaded %s", "clip.mp4", extra={"path": Path("/srv/a/clip.mp4"), "photo_id": "123"})
    log.warning("retrying", extra={"attempt": 2, "upload": Upload(Path("/x"), "9")})
    first, second = (json.loads(line) for line in emitted(log_file))
    assert first["level"] == "INFO"
    assert first["logger"] == "syncd.upload"
    assert first["message"] == "uploaded clip.mp4"
    assert first["path"] == "/srv/a/clip.mp4" and first["photo_id"] == "123"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$", first["time"])
    assert second["attempt"] == 2 and "photo_id='9'" in second["upload"]


def test_json_under_journald_is_prefixed_json(log_file: TextIO) -> None:
    env = {"JOURNAL_STREAM": journal_stream_of(log_file)}
    setup_logging(logging.INFO, LogFormat.JSON, stream=log_file, env=env)
    try:
        raise OSError("mount vanished")
    except OSError:
        logging.getLogger("syncd.watch").exception("observer died")
    [line] = emitted(log_file)  # the traceback stays inside the one JSON line
    assert line.startswith("<3>{")
    record = json.loads(line[3:])
    assert record["message"] == "observer died"
    assert "OSError: mount vanished" in record["exc_info"]


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", list(LogFormat))
def test_hidden_secrets_are_masked_in_every_format(log_file: TextIO, log_format: LogFormat) -> None:
    setup_logging(logging.DEBUG, log_format, stream=log_file, env={})
    logs.hide_secrets("s3cr3t-consumer", 'tok"en\\secret', "")
    log = logging.getLogger("syncd.test")
    log.debug("signing with %s and %s", "s3cr3t-consumer", 'tok"en\\secret')
    log.info("a field", extra={"secret": "s3cr3t-consumer", "wrapped": Secret("plain-Secret-7")})
    text = "\n".join(emitted(log_file))
    assert "s3cr3t-consumer" not in text
    assert "tok" not in text  # nor its JSON-escaped form
    assert "plain-Secret-7" not in text  # a Secret object prints as its mask
    # The text format shows the message; JSON also the extra fields, masked too.
    assert text.count(logs.MASK) == (2 if log_format is LogFormat.TEXT else 4)
    assert "signing with" in text, "masking hides the secret, not the line"


# --- a real `syncd` subprocess under journald ---------------------------------------------


def bad_secret_config(sandbox: Sandbox, tmp_path: Path) -> tuple[Path, list[str]]:
    """A config for the sandbox with a wrong access_token_secret, readable by group (a
    warning), and the secrets that must never show: the right ones and the wrong one."""
    creds = sandbox.credentials("super")
    wrong = "wrong-token-secret-1234"
    config = sandbox.write_config(tmp_path / "syncd.toml", journal_path=tmp_path / "journal.db")
    config.write_text(config.read_text().replace(creds.access_token_secret, wrong))
    config.chmod(0o644)
    return config, [creds.consumer_secret, creds.access_token_secret, wrong]


def run_syncd_logged(
    config: Path,
    stderr_file: Path,
    *args: str,
    journal: str | None = "match",
    extra_env: dict[str, str] | None = None,
) -> tuple[int, str, list[str]]:
    """Run `syncd -vv ARGS...` with stderr in a file; $JOURNAL_STREAM names that file
    (journal="match"), another one ("other"), or is unset (None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "JOURNAL_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra_env or {})
    with open(stderr_file, "w", encoding="utf-8") as err:
        if journal == "match":
            env["JOURNAL_STREAM"] = journal_stream_of(err)
        elif journal == "other":
            env["JOURNAL_STREAM"] = "1:1"
        done = subprocess.run(
            [sys.executable, "-m", "syncd", "-vv", "-c", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            timeout=RUN_TIMEOUT,
        )
    return done.returncode, done.stdout.decode("utf-8"), stderr_file.read_text().splitlines()


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    """Fail naming where a secret showed, without printing it (or the text around it)."""
    for number, secret in enumerate(secrets):
        for where, text in enumerate(texts):
            if secret in text:
                pytest.fail(f"secret #{number} appears in output text #{where}", pytrace=False)


def push_args(tree: Path) -> list[str]:
    return ["push", "--no-wait", str(tree)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "clip.mp4").write_bytes(os.urandom(2000))
    return root


def test_syncd_under_journald_logs_with_priorities_and_no_secret(
    sandbox: Sandbox, tmp_path: Path, tree: Path
) -> None:
    """Debug logging through an auth failure, as a service: every log line prefixed, none
    stamped, and no secret anywhere in what was written."""
    config, secrets = bad_secret_config(sandbox, tmp_path)
    code, out, lines = run_syncd_logged(config, tmp_path / "stderr.log", *push_args(tree))
    assert code == 2, lines  # credentials: the run stops
    priorities = {m.group(1) for line in lines if (m := PRIORITY.match(line))}
    assert {"3", "4", "7"} <= priorities, lines  # the stop, the readable config, debug
    assert any(line.startswith("<3>syncd.") and "invalid_signature" in line for line in lines)
    assert not [line for line in lines if TIMESTAMP.match(line)], "journald stamps lines itself"
    assert_no_secret(secrets, out, *lines)


def test_syncd_json_under_journald_is_one_prefixed_object_per_line(
    sandbox: Sandbox, tmp_path: Path, tree: Path
) -> None:
    config, secrets = bad_secret_config(sandbox, tmp_path)
    code, out, lines = run_syncd_logged(
        config, tmp_path / "stderr.log", "--log-format", "json", *push_args(tree)
    )
    assert code == 2
    records = [(m.group(1), json.loads(line[3:])) for line in lines if (m := PRIORITY.match(line))]
    assert len(records) >= 3
    assert all({"time", "level", "logger", "message"} <= set(r) for _, r in records)
    assert ("3", "ERROR") in {(p, r["level"]) for p, r in records}
    assert ("7", "DEBUG") in {(p, r["level"]) for p, r in records}
    assert_no_secret(secrets, out, *lines)


def test_syncd_log_format_from_the_environment(
    sandbox: Sandbox, tmp_path: Path, tree: Path
) -> None:
    """SYNCD_LOG_FORMAT=json (e.g. Environment= in a unit) does what --log-format json does."""
    config, secrets = bad_secret_config(sandbox, tmp_path)
    code, _, lines = run_syncd_logged(
        config,
        tmp_path / "stderr.log",
        *push_args(tree),
        journal=None,
        extra_env={"SYNCD_LOG_FORMAT": "json"},
    )
    assert code == 2
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert {"ERROR", "DEBUG"} <= {record["level"] for record in logged}
    assert_no_secret(secrets, *lines)


@pytest.mark.parametrize("journal", ["other", None])
def test_syncd_outside_journald_keeps_the_human_format(
    sandbox: Sandbox, tmp_path: Path, tree: Path, journal: str | None
) -> None:
    config, secrets = bad_secret_config(sandbox, tmp_path)
    code, out, lines = run_syncd_logged(
        config, tmp_path / "stderr.log", *push_args(tree), journal=journal
    )
    assert code == 2
    logged = [line for line in lines if TIMESTAMP.match(line)]
    assert any(" ERROR syncd." in line for line in logged), lines
    assert not [line for line in lines if PRIORITY.match(line)]
    assert_no_secret(secrets, out, *lines)
