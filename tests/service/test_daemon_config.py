"""The [daemon] table and each [[watch]] root's `observer`: defaults, parsing, and a message
naming the file, the key and the problem for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import (
    Config,
    DaemonConfig,
    ListenAddress,
    ObserverMode,
    load_config,
    parse_listen,
)
from syncd.errors import ConfigError

SITE = """
[site]
domain = "video.example.com"
consumer_key = "ck"
consumer_secret = "cs-hush-1"
access_token = "at"
access_token_secret = "ats-hush-2"
"""


def load(tmp_path: Path, text: str, top: str = "") -> Config:
    """Load SITE plus `text`; `top` goes before [site] (top-level keys)."""
    path = tmp_path / "syncd.toml"
    path.write_text(top + SITE + text)
    path.chmod(0o600)
    return load_config(path, env={})


def config_error(tmp_path: Path, text: str, top: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, top)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'syncd.toml'}: "), message  # names the file
    assert "hush" not in message
    return message


def test_defaults_without_a_daemon_table(tmp_path: Path) -> None:
    config = load(tmp_path, '[[watch]]\npath = "/srv/a"\n')
    assert config.daemon == DaemonConfig()
    assert config.daemon.stop_timeout == 30.0
    assert config.daemon.rescan_interval == 3600.0
    assert config.daemon.metrics_listen is None  # metrics are off unless asked for
    assert config.watch[0].observer is ObserverMode.AUTO


def test_daemon_table_and_observers_are_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[daemon]
stop_timeout = 5
rescan_interval = 600.5
metrics_listen = "127.0.0.1:9123"

[[watch]]
path = "/srv/local"
observer = "inotify"

[[watch]]
path = "/mnt/nfs"
observer = "polling"
""",
    )
    assert config.daemon == DaemonConfig(
        stop_timeout=5.0,
        rescan_interval=600.5,
        metrics_listen=ListenAddress("127.0.0.1", 9123),
    )
    assert [w.observer for w in config.watch] == [ObserverMode.INOTIFY, ObserverMode.POLLING]


@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("127.0.0.1:9123", "127.0.0.1", 9123, "127.0.0.1:9123"),
        ("0.0.0.0:9123", "0.0.0.0", 9123, "0.0.0.0:9123"),
        ("[::1]:9123", "::1", 9123, "[::1]:9123"),
        ("[::]:80", "::", 80, "[::]:80"),
        ("localhost:0", "localhost", 0, "localhost:0"),
        ("metrics.example.com:65535", "metrics.example.com", 65535, "metrics.example.com:65535"),
    ],
)
def test_listen_addresses_that_parse(text: str, host: str, port: int, shown: str) -> None:
    address = parse_listen(text)
    assert address == ListenAddress(host, port)
    assert str(address) == shown


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"9123"', "expected host:port"),
        ('":9123"', "expected host:port"),
        ('"127.0.0.1"', "expected host:port"),
        ('"127.0.0.1:"', "port must be a number from 0 to 65535"),
        ('"127.0.0.1:65536"', "port must be a number from 0 to 65535"),
        ('"127.0.0.1:-1"', "port must be a number from 0 to 65535"),
        ('"127.0.0.1:\uff19\uff11"', "port must be a number from 0 to 65535"),
        ('"::1:9123"', "put an IPv6 address in brackets"),
        ('"[::1]9123"', "expected host:port"),
        ('"[nothost]:9123"', "is not an IPv6 address"),
        ('"999.1.1.1:9123"', "is not an IP address or host name"),
        ('"bad_host!:9123"', "is not an IP address or host name"),
        ('"http://127.0.0.1:9123"', "without a scheme or path"),
        ('"127.0.0.1:9123/metrics"', "without a scheme or path"),
        ('""', "leave the key out to turn metrics off"),
        ("9123", "expected a string, got an integer"),
        ("true", "expected a string, got a boolean"),
    ],
)
def test_bad_metrics_listen_is_named(tmp_path: Path, value: str, problem: str) -> None:
    message = config_error(tmp_path, f"[daemon]\nmetrics_listen = {value}\n")
    assert "daemon.metrics_listen: " in message
    assert problem in message


@pytest.mark.parametrize("key", ["stop_timeout", "rescan_interval"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be more than 0 seconds"),
        ("-1", "must be at least 0, got -1"),
        ('"30s"', "expected a number, got a string"),
        ("true", "expected a number, got a boolean"),
    ],
)
def test_bad_durations_are_named(tmp_path: Path, key: str, value: str, problem: str) -> None:
    message = config_error(tmp_path, f"[daemon]\n{key} = {value}\n")
    assert f"daemon.{key}: {problem}" in message


def test_unknown_daemon_key_suggests_the_near_one(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[daemon]\nstop_timout = 10\n")
    assert "daemon.stop_timout: unknown key (did you mean 'stop_timeout'?)" in message


def test_daemon_must_be_a_table(tmp_path: Path) -> None:
    message = config_error(tmp_path, "", top='daemon = "yes"\n')
    assert "daemon: expected a table [daemon], got a string" in message


def test_bad_observer_is_named_with_its_root(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, '[[watch]]\npath = "/a"\n\n[[watch]]\npath = "/b"\nobserver = "fanotify"\n'
    )
    assert "watch[1].observer: 'fanotify' is not one of auto, inotify, polling" in message


def test_the_example_config_shows_the_defaults_and_its_hints_parse(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    path = tmp_path / "syncd.toml"
    path.write_text(example)
    path.chmod(0o600)
    assert load_config(path, env={}).daemon == DaemonConfig()
    # The commented-out lines of [daemon] and [[watch]], switched on, are valid too.
    path.write_text(
        example.replace("# metrics_listen", "metrics_listen")
        .replace("# [[watch]]\n# ", "[[watch]]\n")
        .replace("# observer", "observer")
    )
    config = load_config(path, env={})
    assert config.daemon.metrics_listen == ListenAddress("127.0.0.1", 9123)
    assert [w.observer for w in config.watch] == [ObserverMode.AUTO]
