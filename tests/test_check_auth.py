"""`syncd check` and `syncd auth` end to end against the sandbox."""

from __future__ import annotations

import re
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner, Result

from syncd.cli import main
from syncd.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    # No ambient SYNCD_* from the developer's shell may leak into these runs.
    base = {"SYNCD_CONFIG": None, "SYNCD_CONSUMER_SECRET": None, "SYNCD_CONSUMER_KEY": None,
            "SYNCD_ACCESS_TOKEN": None, "SYNCD_ACCESS_TOKEN_SECRET": None}  # fmt: skip
    return CliRunner().invoke(main, list(args), input=input, env={**base, **(env or {})})


def set_site_key(path: Path, key: str, value: str) -> None:
    text = re.sub(rf"(?m)^{key} = .*$", f'{key} = "{value}"', path.read_text())
    path.write_text(text)


def test_check_succeeds(sandbox_config: Path, sandbox: Sandbox) -> None:
    result = run("--config", str(sandbox_config), "check")
    assert result.exit_code == 0, result.output
    assert "site:        Sandbox" in result.output
    assert f"domain:      {sandbox.domain}" in result.output
    assert "Sandbox Owner" in result.output
    assert "permission:  super" in result.output
    assert re.search(r"clock skew:  [+-]\d+\.\ds", result.output)
    assert "OK:" in result.output


def test_check_fails_below_write(sandbox: Sandbox, tmp_path: Path) -> None:
    path = sandbox.write_config(tmp_path / "read.toml", level="read")
    result = run("--config", str(path), "check")
    assert result.exit_code == 2
    assert "permission level 'read'" in result.output and "'write'" in result.output


def test_check_wrong_secret_lists_causes(sandbox_config: Path) -> None:
    set_site_key(sandbox_config, "access_token_secret", "not-the-secret-42")
    result = run("--config", str(sandbox_config), "check")
    assert result.exit_code == 2
    out = result.output
    assert "rejected the OAuth signature" in out
    for cause in ("wrong consumer_secret or access_token_secret", "revoked", "clock skew"):
        assert cause in out
    assert "not-the-secret-42" not in out


def test_check_reports_measured_skew_as_the_cause(sandbox_config: Path, sandbox: Sandbox) -> None:
    """The sandbox's clock 600 s ahead: it refuses the timestamps, and its Date header
    shows the skew, which `check` then names as the cause, alone."""
    sandbox.set_time_offset(600)
    result = run("--config", str(sandbox_config), "check")
    assert result.exit_code == 2
    out = result.output
    cause = re.search(r"^Cause: this machine's clock is (\d+) s behind the server's", out, re.M)
    assert cause and abs(int(cause.group(1)) - 600) <= 2, out
    assert "fix the clock" in out and "oauth_timestamp" in out  # the site's own words too
    assert "wrong consumer_secret" not in out and "Likely causes" not in out


def test_check_puts_a_smaller_skew_first_among_causes(
    sandbox_config: Path, sandbox: Sandbox
) -> None:
    """120 s is within the sandbox's window, so a refusal has another cause (here a wrong
    secret); the skew is still the first thing to look at."""
    sandbox.set_time_offset(-120)
    set_site_key(sandbox_config, "access_token_secret", "not-the-secret-42")
    out = run("--config", str(sandbox_config), "check").output
    first = re.search(
        r"Most likely cause: this machine's clock is (\d+) s ahead of the server", out
    )
    assert first and abs(int(first.group(1)) - 120) <= 2, out
    assert first.start() < out.index("Other causes:") < out.index("wrong consumer_secret")


def test_check_takes_permission_level_from_any_answer(
    sandbox_config: Path, sandbox: Sandbox
) -> None:
    """echo's documented answer is bare (no permission_level): the level comes from the
    other answers."""
    sandbox.set_profile(documented_shapes=True)
    result = run("--config", str(sandbox_config), "check")
    assert result.exit_code == 0, result.output
    assert "permission:  super" in result.output


def test_check_connection_refused(sandbox_config: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_site_key(sandbox_config, "domain", f"127.0.0.1:{port}")
    result = run("--config", str(sandbox_config), "check")
    assert result.exit_code == 1
    assert "connection refused" in result.output and f"127.0.0.1:{port}" in result.output


def test_check_config_error_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "syncd.toml"
    path.write_text('[site]\ndomain = "x.example.com"\nconsumer_key = 5\n')
    result = run("--config", str(path), "check")
    assert result.exit_code == 2
    assert f"{path}: site.consumer_key: expected a string" in result.output


def test_no_secret_in_verbose_output(sandbox_config: Path, sandbox: Sandbox) -> None:
    creds = sandbox.credentials("super")
    secrets = [creds.consumer_secret, creds.access_token_secret]

    def check_cli(config: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from syncd.cli import main; main()",
             "-vv", "--config", str(config), "check"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    ok = check_cli(sandbox_config)
    assert ok.returncode == 0, ok.stderr
    assert "DEBUG" in ok.stderr  # logging really was on
    bad_config = sandbox_config.with_name("bad.toml")
    bad_config.write_text(sandbox_config.read_text())
    bad_config.chmod(0o644)  # also triggers the "readable by others" warning
    set_site_key(bad_config, "consumer_secret", "wrong-consumer-secret-77")
    bad = check_cli(bad_config)
    assert bad.returncode == 2
    assert "chmod 600" in bad.stderr
    for output in (ok.stdout, ok.stderr, bad.stdout, bad.stderr):
        for secret in [*secrets, "wrong-consumer-secret-77"]:
            assert secret not in output


def authorize_token(output: str) -> str:
    match = re.search(r"/oauth/authorize\?oauth_token=(\S+)", output)
    assert match, output
    return match.group(1)


def test_auth_two_steps_then_check(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = sandbox.credentials("flow")
    path = tmp_path / "new" / "syncd.toml"
    common = ["--config", str(path), "auth", "--consumer-key", flow.consumer_key]
    started = run(*common, "--oauth-base-url", sandbox.base_url, "--start",
                  input=flow.consumer_secret + "\n")  # fmt: skip
    assert started.exit_code == 0, started.output
    pending = path.with_name("syncd.toml.auth-pending")
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    verifier = sandbox.approve(authorize_token(started.output))

    finished = run(*common, "--verifier", verifier, input=flow.consumer_secret + "\n")
    assert finished.exit_code == 0, finished.output
    assert not pending.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    site = tomllib.loads(path.read_text())["site"]
    assert site["domain"] == sandbox.domain and site["scheme"] == "http"
    assert site["access_token"] and site["consumer_key"] == flow.consumer_key

    checked = run("--config", str(path), "check")
    assert checked.exit_code == 0, checked.output
    assert "permission:  write" in checked.output and "Sandbox Member" in checked.output


def test_auth_updates_existing_config_and_keeps_the_rest(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = sandbox.credentials("flow")
    path = tmp_path / "syncd.toml"
    path.write_text(
        "# my archive\n[site]\n"
        f'consumer_key = "{flow.consumer_key}"\n'
        f'oauth_base_url = "{sandbox.base_url}"\n'
        'access_token_secret_file = "/nonexistent"\n'
        "\n[upload]\nconcurrency = 2  # keep me\n"
    )
    path.chmod(0o600)
    env = {"SYNCD_CONSUMER_SECRET": flow.consumer_secret}
    started = run("--config", str(path), "auth", "--start", env=env)
    assert started.exit_code == 0, started.output
    verifier = sandbox.approve(authorize_token(started.output))
    finished = run("--config", str(path), "auth", "--verifier", verifier, env=env)
    assert finished.exit_code == 0, finished.output
    text = path.read_text()
    assert "# my archive" in text and "concurrency = 2  # keep me" in text
    assert "access_token_secret_file" not in text
    assert flow.consumer_secret not in text  # it came from the environment: stays there
    assert run("--config", str(path), "check", env=env).exit_code == 0


def test_auth_print_and_bad_verifier(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = sandbox.credentials("flow")
    path = tmp_path / "syncd.toml"
    env = {"SYNCD_CONSUMER_SECRET": flow.consumer_secret}
    args = ["--config", str(path), "auth", "--consumer-key", flow.consumer_key,
            "--oauth-base-url", sandbox.base_url]  # fmt: skip
    token = authorize_token(run(*args, "--start", env=env).output)
    wrong = run(*args, "--verifier", "not-the-verifier", env=env)
    assert wrong.exit_code == 2 and "oauth/access_token" in wrong.output
    assert not path.exists()
    # The pending request token survives a wrong verifier: approve it, finish, print.
    printed = run(*args, "--verifier", sandbox.approve(token), "--print", env=env)
    assert printed.exit_code == 0, printed.output
    assert f'domain = "{sandbox.domain}"' in printed.output
    assert "access_token_secret = " in printed.output
    assert not path.exists()
    assert not path.with_name("syncd.toml.auth-pending").exists()


def test_auth_interactive_prompts_for_the_verifier(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = sandbox.credentials("flow")
    args = ["--config", str(tmp_path / "syncd.toml"), "auth", "--consumer-key",
            flow.consumer_key, "--oauth-base-url", sandbox.base_url, "--print"]  # fmt: skip
    # Secret and verifier typed at the prompts; the fresh token was never approved: refused.
    result = run(*args, input=f"{flow.consumer_secret}\nguessed-verifier\n")
    assert "Consumer secret" in result.output and "Verifier code" in result.output
    assert "/oauth/authorize?oauth_token=" in result.output
    assert result.exit_code == 2
    assert flow.consumer_secret not in result.output


def test_auth_without_consumer_key_is_a_config_error(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "none.toml"), "auth", "--start")
    assert result.exit_code == 2
    assert "--consumer-key" in result.output


def test_auth_with_an_oauth_url_that_can_never_work(sandbox_config: Path) -> None:
    """Not retried or reported as a network fault: a usage error naming what to check."""
    result = run(
        "--config", str(sandbox_config), "auth", "--start",
        "--oauth-base-url", "http://127.0.0.1:99999",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "the request cannot be sent (invalid URL:" in result.output
    assert "oauth_base_url" in result.output
