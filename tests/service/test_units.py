"""The unit files in systemd/: `systemd-analyze verify` finds nothing to say about any of
them, and they carry what syncd relies on (credential names, stop timeout, notify type).

verify checks that ExecStart= names an executable file. The units name the installed
/usr/local/bin/syncd, which a test machine does not have, so each unit is verified from a
copy whose ExecStart= names this checkout's real `syncd` instead; every other line is
verified as shipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.config import CREDENTIAL_ENV, SECRET_KEYS, DaemonConfig

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(p.name for p in UNIT_DIR.iterdir() if p.suffix in {".service", ".timer"})
INSTALLED_SYNCD = "/usr/local/bin/syncd"
VERIFY_TIMEOUT = 60.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd); "
    "the unit files were not verified",
)


def this_syncd() -> str:
    """The command line that runs this checkout's syncd: its console script, or
    `python -m syncd` where the script is not installed."""
    script = Path(sys.executable).parent / "syncd"
    return str(script) if script.is_file() else f"{sys.executable} -m syncd"


def verify(unit_dir: Path, *names: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(unit_dir / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT,
    )


def copy_units(target: Path) -> Path:
    """The units as shipped, but running this checkout's syncd (see the module docstring)."""
    target.mkdir()
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        (target / name).write_text(text.replace(INSTALLED_SYNCD, this_syncd()))
    return target


def directives(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order (keys may repeat)."""
    section, found = "", []
    for raw in (UNIT_DIR / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key, value))
    return found


def values(name: str, section: str, key: str) -> list[str]:
    return [v for s, k, v in directives(name) if s == section and k == key]


def seconds(text: str) -> float:
    """A systemd time span of the forms used here: 45s, 2min, 10min, 1h, 30."""
    match = re.fullmatch(r"(\d+)\s*(s|min|h)?", text)
    assert match, f"unexpected time span {text!r}"
    return int(match.group(1)) * {"s": 1, None: 1, "min": 60, "h": 3600}[match.group(2)]


def test_the_expected_units_are_shipped() -> None:
    assert UNITS == [
        "syncd-push.service",
        "syncd-push.timer",
        "syncd-reconcile.service",
        "syncd-reconcile.timer",
        "syncd.service",
    ]


@needs_systemd_analyze
@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_has_nothing_to_say(name: str, tmp_path: Path) -> None:
    units = copy_units(tmp_path / "units")
    done = verify(units, name)
    # verify exits 0 on many problems (unknown keys, bad values) and only prints them.
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", (
        done.stdout + done.stderr
    )


@needs_systemd_analyze
def test_verify_here_does_report_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: on this machine verify sees unknown keys, bad values and a
    missing ExecStart= binary."""
    units = tmp_path / "units"
    units.mkdir()
    text = (UNIT_DIR / "syncd.service").read_text()
    broken = text.replace("WatchdogSec=2min", "WatchdogSec=soon\nWatchDogSec=1")
    (units / "syncd.service").write_text(broken.replace(INSTALLED_SYNCD, "/nonexistent/syncd"))
    done = verify(units, "syncd.service")
    said = done.stdout + done.stderr
    assert "WatchDogSec" in said and "soon" in said and "/nonexistent/syncd" in said, said


def test_watch_unit_is_a_notify_service_with_watchdog_and_reload() -> None:
    unit = "syncd.service"
    assert values(unit, "Service", "Type") == ["notify"]
    assert values(unit, "Service", "NotifyAccess") == ["main"]
    assert values(unit, "Service", "Restart") == ["on-failure"]
    assert seconds(values(unit, "Service", "WatchdogSec")[0]) > 0
    assert values(unit, "Service", "ExecStart") == [f"{INSTALLED_SYNCD} watch"]
    assert values(unit, "Service", "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values(unit, "Service", "ReadOnlyPaths")


@pytest.mark.parametrize("unit", ["syncd.service", "syncd-reconcile.service", "syncd-push.service"])
def test_service_units_share_user_journal_and_credentials(unit: str) -> None:
    assert values(unit, "Service", "User") == ["syncd"]
    assert values(unit, "Service", "StateDirectory") == ["syncd"]
    assert values(unit, "Service", "Environment") == ["SYNCD_CONFIG=/etc/syncd/syncd.toml"]
    # The credential ids are the file names syncd looks for in $CREDENTIALS_DIRECTORY.
    ids = {v.split(":", 1)[0] for v in values(unit, "Service", "LoadCredential")}
    assert ids == set(SECRET_KEYS) and ids <= set(CREDENTIAL_ENV)


@pytest.mark.parametrize("unit", ["syncd.service", "syncd-reconcile.service"])
def test_systemd_waits_longer_than_the_gentle_stop(unit: str) -> None:
    stop = seconds(values(unit, "Service", "TimeoutStopSec")[0])
    assert stop > DaemonConfig().stop_timeout


def test_reconcile_timer_is_daily_persistent_and_spread() -> None:
    timer = "syncd-reconcile.timer"
    assert values(timer, "Timer", "OnCalendar") == ["daily"]
    assert values(timer, "Timer", "Persistent") == ["true"]
    assert seconds(values(timer, "Timer", "RandomizedDelaySec")[0]) > 0
    assert values("syncd-reconcile.service", "Service", "ExecStart") == [
        f"{INSTALLED_SYNCD} reconcile"
    ]
