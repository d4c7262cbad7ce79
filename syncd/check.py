"""`syncd check`: are config, credentials, permission level and clock good enough to upload?

Signed echo, site/get and user/get against the site; every failure becomes
a message a tired operator can act on, and an exit code (2 config or
credentials, 1 anything else).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from syncd.api.client import Client
from syncd.config import Config, load_config
from syncd.errors import (
    ConfigError,
    ConnectError,
    CredentialsError,
    InvalidRequest,
    SyncdError,
)
from syncd.text import printable

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

PERMISSION_LEVELS = ("none", "anonymous", "read", "write", "admin", "super")
REQUIRED_LEVEL = "write"
# OAuth servers commonly reject timestamps a few minutes off; warn well before that.
SKEW_WARN_SECONDS = 30.0
# The usual OAuth 1.0a timestamp window (the site's own is undocumented; the sandbox uses
# this one). A rejected signature with a skew beyond it has that skew as its cause.
SKEW_REJECT_SECONDS = 300.0


class CheckFailed(Exception):
    """The check failed; `message` is for the operator, `exit_code` for the shell."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class CheckReport:
    site_name: str
    domain: str
    user: str
    permission_level: str
    skew_seconds: float | None

    def lines(self) -> list[str]:
        skew = "unknown (no Date header)" if self.skew_seconds is None else _skew(self)
        # Names come from the site: shown escaped, never acted on by the terminal.
        return [
            f"site:        {printable(self.site_name)}",
            f"domain:      {printable(self.domain)}",
            f"user:        {printable(self.user)}",
            f"permission:  {self.permission_level} (uploading needs {REQUIRED_LEVEL})",
            f"clock skew:  {skew}",
        ]


def _skew(report: CheckReport) -> str:
    assert report.skew_seconds is not None
    text = f"{report.skew_seconds:+.1f}s (server minus local)"
    if abs(report.skew_seconds) > SKEW_WARN_SECONDS:
        text += " -- WARNING: fix the clock (enable NTP); large skew breaks OAuth signatures"
    return text


def measured_skew(client: Client) -> float | None:
    """Server clock minus ours, from the last answer's Date header (1 s resolution)."""
    if client.last_server_date is None or client.last_local_date is None:
        return None
    return client.last_server_date - client.last_local_date


def level_ok(level: str) -> bool:
    if level not in PERMISSION_LEVELS:
        return False
    return PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index(REQUIRED_LEVEL)


def _user_text(user: dict[str, object]) -> str:
    name = str(user.get("display_name") or user.get("full_name") or user.get("username") or "")
    details = []
    if user.get("username") and user.get("username") != name:
        details.append(str(user["username"]))
    if user.get("user_id"):
        details.append(f"user_id {user['user_id']}")
    return f"{name} ({', '.join(details)})" if details else (name or "(unknown)")


def run_check(config: Config, client_factory: Callable[..., Client] = Client) -> CheckReport:
    """Run the three calls; raise CheckFailed with an actionable message on any problem."""
    site = config.site
    client = client_factory(
        site,
        connect_timeout=config.upload.connect_timeout,
        read_timeout=config.upload.read_timeout,
    )
    try:
        try:
            client.echo(syncd_check=str(int(time.time())))
            site_info = client.site_get()
            user = client.user_get()
        except SyncdError as exc:
            raise _explain(exc, config, client) from None
        # Every answer may carry permission_level (echo's documented answer does not):
        # the client keeps the last one any of the three calls gave.
        level = client.last_permission_level or "none"
        report = CheckReport(
            site_name=str(site_info.get("site_name") or "(unnamed)"),
            domain=str(site_info.get("domain") or site.domain),
            user=_user_text(user),
            permission_level=level,
            skew_seconds=measured_skew(client),
        )
    finally:
        client.close()
    if not level_ok(report.permission_level):
        raise CheckFailed(
            "\n".join(report.lines())
            + f"\nFAILED: these credentials have permission level {report.permission_level!r};"
            f" uploading needs {REQUIRED_LEVEL!r} or higher. Ask the site owner for a token"
            " with write access, or run `syncd auth` as a user who can upload.",
            EXIT_CONFIG,
        )
    return report


def _explain(exc: SyncdError, config: Config, client: Client) -> CheckFailed:
    site = config.site
    source = printable(str(config.source)) if config.source else None
    where = f"{site.base_url} (config {source})" if source else site.base_url
    if isinstance(exc, InvalidRequest):
        return CheckFailed(f"FAILED: {printable(exc.message)}", EXIT_CONFIG)
    if isinstance(exc, CredentialsError) and exc.code == "invalid_signature":
        causes = _signature_causes(measured_skew(client), site.base_url)
        return CheckFailed(
            f"FAILED: {where} rejected the OAuth signature ({printable(exc.api_message)})."
            f"\n{causes}",
            EXIT_CONFIG,
        )
    if isinstance(exc, CredentialsError):
        return CheckFailed(
            f"FAILED: {where} refused the credentials: {printable(exc.message)}\n"
            f"Uploading needs permission level {REQUIRED_LEVEL!r}; ask the site owner for a"
            " token with write access.",
            EXIT_CONFIG,
        )
    if isinstance(exc, ConnectError):
        return CheckFailed(
            f"FAILED: cannot reach {site.base_url}: {printable(exc.message)}\n"
            "Check site.domain and site.scheme, DNS, firewalls and proxies.",
            EXIT_FAILED,
        )
    return CheckFailed(f"FAILED: talking to {site.base_url}: {printable(exc.message)}", EXIT_FAILED)


def _skew_words(skew: float) -> str:
    way = "behind" if skew > 0 else "ahead of"
    return (
        f"this machine's clock is {abs(skew):.0f} s {way} the server's "
        f"({skew:+.1f}s, server minus local)"
    )


def _signature_causes(skew: float | None, base_url: str) -> str:
    """Why a signature was refused: a measured skew too large for OAuth is THE cause;
    a smaller noticeable one comes first; otherwise the usual suspects."""
    fix_clock = "fix the clock (enable NTP, e.g. `timedatectl set-ntp true`)"
    if skew is not None and abs(skew) >= SKEW_REJECT_SECONDS:
        return (
            f"Cause: {_skew_words(skew)}. OAuth refuses timestamps that far off, whatever\n"
            f"the credentials. To fix: {fix_clock}, then run `syncd check` again."
        )
    others = (
        "  - wrong consumer_secret or access_token_secret (check [site] in the config, its\n"
        "    *_file settings and $SYNCD_CONSUMER_SECRET / $SYNCD_ACCESS_TOKEN_SECRET)\n"
        "  - consumer_key and access_token that do not belong together\n"
        "  - the access token was revoked on the site: run `syncd auth` for a new one\n"
        f"  - wrong site.domain or scheme ({base_url}): the signature covers the URL"
    )
    if skew is not None and abs(skew) > SKEW_WARN_SECONDS:
        return f"Most likely cause: {_skew_words(skew)}; {fix_clock}.\nOther causes:\n" + others
    skew_text = "unknown" if skew is None else f"{skew:+.1f}s (server minus local), small"
    return f"Likely causes:\n{others}\n  - clock skew: measured {skew_text}"


def explain_stop(exc: SyncdError, config: Config) -> str:
    """What an operator should know when a run stopped on credentials (push, watch).

    One unsigned site/get measures the clock skew, which is the cause an
    operator can least see from the error itself.
    """
    with Client(config.site) as client:
        # On failure the skew stays unknown; the rest of the advice stands.
        with contextlib.suppress(SyncdError):
            client.call("site/get", signed=False)
        return _explain(exc, config, client).message


def main(
    config_path: str | Path | None, echo: Callable[[str], None], err: Callable[[str], None]
) -> int:
    """The whole command: load, check, print. Returns the exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        err(f"config error: {printable(exc.message)}")
        return EXIT_CONFIG
    try:
        report = run_check(config)
    except CheckFailed as failed:
        err(failed.message)
        return failed.exit_code
    for line in report.lines():
        echo(line)
    echo("OK: credentials, permission and clock are good for uploading")
    return EXIT_OK
