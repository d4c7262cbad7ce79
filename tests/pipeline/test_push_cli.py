"""`syncd push`, `status` and `retry` as an operator runs them: real subprocesses against the
sandbox over loopback, with the journal on disk. Exit codes: 0 all synced, 1 some files did
not land, 2 configuration or credentials, 130 interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pipeline_helpers import (
    PUSH_TIMEOUT,
    HeldRequests,
    append_config,
    assert_once_each,
    journal_states,
    make_tree,
    parse_plan,
    run_syncd,
    sha256_of,
    start_syncd,
    syncd_cmd,
    syncd_env,
    upload_requests,
)

from syncd.clock import FakeClock
from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import ItemState, identity_tag
from syncd.push import Push, PushOptions
from syncd.sandbox import Sandbox
from syncd.throttle import BURST_SECONDS

# Keys every `push --json` answer has.
REPORT_KEYS = {
    "ok",
    "interrupted",
    "stopped_by",
    "counts",
    "synced_this_run",
    "failed",
    "not_landed",
    "problems",
}


def test_dry_run_prints_the_plan_and_sends_nothing(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", 3)
    result = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", tmp_path / "tree")
    assert result.returncode == 0, result.stderr
    # One plan line per file, each what a real run would send (test_dry_run_plan.py
    # compares such plans with the sandbox's request log).
    plans = sorted(
        (parse_plan(line.strip()) for line in result.stdout.splitlines() if "upload " in line),
        key=lambda p: p.path,
    )
    assert [(p.path, p.size, p.mode) for p in plans] == [
        (str(f), f.stat().st_size, "direct") for f in files
    ]
    for plan, path in zip(plans, files, strict=True):
        assert plan.fields == {
            "title": path.stem,
            "tags": identity_tag(sha256_of(path)),
            "publish": "1",
        }
    assert "nothing was sent" in result.stdout
    assert upload_requests(sandbox) == 0
    assert sandbox.count_requests() == 0  # not even a metadata call
    assert set(journal_states(sandbox_config).values()) == {ItemState.READY}
    assert "queued" not in result.stderr  # a plan queues nothing


def test_dry_run_json_lists_the_plan(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", 2)
    plain = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", tmp_path / "tree")
    result = run_syncd(
        sandbox_config, "push", "--no-wait", "--dry-run", "--json", tmp_path / "tree"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(parse_plan(line).path for line in report["plan"]) == sorted(map(str, files))
    # The same lines as the plain output prints.
    printed = [line.strip() for line in plain.stdout.splitlines()]
    assert all(line in printed for line in report["plan"]), plain.stdout
    assert upload_requests(sandbox) == 0


def test_push_json_shape_and_rerun_sends_nothing(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", 5)
    result = run_syncd(sandbox_config, "push", "--no-wait", "--json", tmp_path / "tree")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert set(report) >= REPORT_KEYS
    assert report["ok"] is True and report["interrupted"] is False
    assert report["stopped_by"] is None
    assert report["counts"] == {"synced": 5}
    assert report["synced_this_run"] == 5
    assert report["failed"] == [] and report["not_landed"] == [] and report["problems"] == []
    assert_once_each(sandbox, files)

    before = sandbox.count_requests()
    again = run_syncd(sandbox_config, "push", "--no-wait", "--json", tmp_path / "tree")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"synced": 5}
    assert json.loads(again.stdout)["synced_this_run"] == 0
    assert upload_requests(sandbox) == 5  # the first run's only
    plain = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert "0 file(s) synced by this run, 5 already synced before it" in plain.stdout
    # A synced tree costs no request at all (the journal's site is trusted at its own
    # domain; site/get is asked only at another).
    assert [r.method for r in sandbox.requests[before:]] == []


@pytest.mark.slow(seconds=1)
def test_failed_upload_exit_1_status_history_and_retry(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", 3)
    sandbox.faults.add("photo/upload", error_processing_upload=True, count=1)
    result = run_syncd(
        sandbox_config, "push", "--no-wait", "--concurrency", "1", "--json", tmp_path / "tree"
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["counts"] == {"synced": 2, "failed": 1}
    [failed] = report["failed"]
    assert failed["code"] == "error_processing_upload"
    bad = Path(failed["path"])
    assert bad in files

    status = run_syncd(sandbox_config, "status")
    assert status.returncode == 0, status.stderr
    assert f"FAILED {bad}" in status.stdout and "error_processing_upload" in status.stdout
    data = json.loads(run_syncd(sandbox_config, "status", "--json").stdout)
    assert data["counts"]["failed"] == 1 and data["counts"]["synced"] == 2
    assert [r["path"] for r in data["failed"]] == [str(bad)]

    history = run_syncd(sandbox_config, "status", bad)
    assert history.returncode == 0, history.stderr
    assert "history:" in history.stdout
    assert "uploading -> failed" in history.stdout, history.stdout
    assert "error_processing_upload" in history.stdout
    events = json.loads(run_syncd(sandbox_config, "status", "--json", bad).stdout)["events"]
    assert [e["to"] for e in events][-1] == "failed"

    retry = run_syncd(sandbox_config, "retry", "--all")
    assert retry.returncode == 0, retry.stderr
    assert "1 file(s) queued again" in retry.stdout
    final = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert final.returncode == 0, final.stdout + final.stderr
    assert set(journal_states(sandbox_config).values()) == {ItemState.SYNCED}
    assert_once_each(sandbox, files)
    history = json.loads(run_syncd(sandbox_config, "status", "--json", bad).stdout)
    assert [e["to"] for e in history["events"]][-1] == "synced"
    assert "reset by syncd retry" in [e["detail"] for e in history["events"]]
    assert history["file"]["state"] == "synced"


def test_bad_config_exits_2(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    result = run_syncd(tmp_path / "missing.toml", "push", tmp_path / "tree")
    assert result.returncode == 2
    assert "missing.toml" in result.stderr and "does not exist" in result.stderr


def _secrets(sandbox: Sandbox) -> list[str]:
    c = sandbox.credentials()
    return [c.consumer_secret, c.access_token_secret]


def test_wrong_consumer_secret_stops_at_once_with_causes(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    make_tree(tmp_path / "tree", 6)
    real_secret, token_secret = _secrets(sandbox)
    wrong = "not-the-consumer-secret-0123"
    sandbox_config.write_text(sandbox_config.read_text().replace(real_secret, wrong))
    result = run_syncd(sandbox_config, "push", "--no-wait", "--concurrency", "2", tmp_path / "tree")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert sandbox.items() == []
    # Stopped at once: at most one refused request per worker, no retries (the first is
    # the lookup before the first upload; site/get, which checks the journal's site, is
    # asked unsigned).
    refused = [r for r in sandbox.requests if r.method != "site/get"]
    assert 1 <= len(refused) <= 2, [r.method for r in refused]
    assert "invalid_signature" in output
    assert "likely causes" in output.lower(), output
    for secret in (real_secret, token_secret, wrong):
        assert secret not in output
    # Each file given back is reported once (the stop passes two layers).
    given_back = [line.split(" (")[0] for line in result.stderr.splitlines()]
    given_back = [line for line in given_back if line.startswith("ready ")]
    assert given_back and len(given_back) == len(set(given_back)), result.stderr
    # The journal keeps the files for the next run, none failed: ready, or still pending
    # when the stop came before the scan (which runs alongside the uploads) reached them.
    states = set(journal_states(sandbox_config).values())
    assert ItemState.READY in states and states <= {ItemState.READY, ItemState.PENDING}


def test_permission_denied_stops_every_worker(sandbox: Sandbox, tmp_path: Path) -> None:
    make_tree(tmp_path / "tree", 12)
    config = sandbox.write_config(
        tmp_path / "read.toml", level="read", journal_path=tmp_path / "journal.db"
    )
    result = run_syncd(config, "push", "--no-wait", "--concurrency", "3", tmp_path / "tree")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "permission_denied" in output
    assert sandbox.items() == []
    assert 1 <= upload_requests(sandbox) <= 3
    c = sandbox.credentials("read")
    assert c.consumer_secret not in output and c.access_token_secret not in output


def test_bwlimit_limits_the_rate(sandbox: Sandbox, sandbox_config: Path, tmp_path: Path) -> None:
    # On a FakeClock the throttle's waits are virtual: 4 MiB at 2 MiB/s must take 2 s of
    # the run's time (less one bucket's burst), however busy the machine is.
    files = make_tree(tmp_path / "tree", 1, size=4 * 1024 * 1024)
    clock = FakeClock(start=time.time())
    config = load_config(sandbox_config)
    with Journal.open(config.journal_path, clock=clock) as journal:
        started = clock.time()
        report = Push(config, journal, clock=clock).run(
            PushOptions(roots=[tmp_path / "tree"], no_wait=True, bwlimit=2 * 1024 * 1024)
        )
        took = clock.time() - started
    assert report.all_landed
    assert took >= 2.0 - BURST_SECONDS, f"4 MiB took {took:.2f} s of run time at 2 MiB/s"
    assert_once_each(sandbox, files)


def test_bwlimit_rejects_nonsense(sandbox_config: Path, tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    result = run_syncd(sandbox_config, "push", "--bwlimit", "fast", tmp_path / "tree")
    assert result.returncode == 2
    assert "--bwlimit" in result.stderr and "'fast'" in result.stderr


# With one upload at a time, each is held this long: long enough that a second one sent
# alongside it would be seen in flight with it.
HELD_ANSWER = 0.2


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_uploads_in_flight(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, concurrency: int
) -> None:
    files = make_tree(tmp_path / "tree", 3)
    if concurrency == 1:
        held = HeldRequests(sandbox, "photo/upload", timeout=HELD_ANSWER)
    else:  # held until all three are in flight together: they must be
        held = HeldRequests(sandbox, "photo/upload", release_at=concurrency)
    with held:
        result = run_syncd(
            sandbox_config,
            "push",
            "--no-wait",
            "--concurrency",
            str(concurrency),
            tmp_path / "tree",
        )
    assert result.returncode == 0, result.stderr
    assert_once_each(sandbox, files)
    assert held.arrived == 3
    assert held.max_in_flight == concurrency


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigint_mid_run_exits_130_and_rerun_completes_once(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "tree", 8, size=256 * 1024)
    # 2 MiB at 512 KiB/s: about 4 s, so the signal lands mid-run.
    proc = start_syncd(
        sandbox_config, "push", "--no-wait", "--bwlimit", "512KiB", "--json", tmp_path / "tree"
    )
    try:
        _wait_for(lambda: len(sandbox.items()) >= 1, 60, "the first upload to land")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    report = json.loads(out)
    assert report["interrupted"] is True and report["ok"] is False
    assert 1 <= len(sandbox.items()) < len(files)

    # Consistent: nothing claimed, and every remote item is recorded against its file.
    states = journal_states(sandbox_config)
    assert ItemState.UPLOADING not in states.values(), states
    landed = {p for p, s in states.items() if s in (ItemState.SYNCED, ItemState.UPLOADED)}
    assert len(landed) == len(sandbox.items())

    again = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(journal_states(sandbox_config).values()) == {ItemState.SYNCED}
    assert_once_each(sandbox, files)


def test_config_upload_section_is_honoured(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    """[upload] concurrency from the config applies when --concurrency is not given."""
    files = make_tree(tmp_path / "tree", 2)
    append_config(sandbox_config, "[upload]\nconcurrency = 1")
    with HeldRequests(sandbox, "photo/upload", timeout=HELD_ANSWER) as held:
        result = run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree")
    assert result.returncode == 0, result.stderr
    assert (held.arrived, held.max_in_flight) == (2, 1)  # one at a time
    assert_once_each(sandbox, files)


def test_status_of_unknown_file(sandbox_config: Path, tmp_path: Path) -> None:
    result = run_syncd(sandbox_config, "status", tmp_path / "nope.mp4")
    assert result.returncode == 0, result.stderr
    assert "not in the journal" in result.stdout


def test_retry_needs_a_path_or_all(sandbox_config: Path) -> None:
    result = run_syncd(sandbox_config, "retry")
    assert result.returncode == 2
    assert "--all" in result.stderr


def test_dry_run_of_a_synced_tree_says_there_is_nothing_to_upload(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    make_tree(tmp_path / "tree", 2)
    assert run_syncd(sandbox_config, "push", "--no-wait", tmp_path / "tree").returncode == 0
    result = run_syncd(sandbox_config, "push", "--no-wait", "--dry-run", tmp_path / "tree")
    assert result.returncode == 0
    assert "nothing was sent" in result.stdout and "nothing to upload" in result.stdout
    assert "synced by this run" not in result.stdout


def test_a_stderr_nobody_reads_does_not_stop_the_uploads(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path, unread_pipe: int
) -> None:
    # `syncd push tree 2>&1 >/dev/null | head -1`: after head exits every progress line
    # fails with EPIPE. Uploads must go on (it once killed the workers and hung the run).
    files = make_tree(tmp_path / "tree", 12)
    done = subprocess.run(
        syncd_cmd(sandbox_config, "push", "--no-wait", tmp_path / "tree"),
        stdout=subprocess.PIPE,
        stderr=unread_pipe,
        env=syncd_env(),
        timeout=PUSH_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout.decode()
    assert "12 file(s) synced by this run" in done.stdout.decode()
    assert_once_each(sandbox, files)
    assert set(journal_states(sandbox_config).values()) == {ItemState.SYNCED}
