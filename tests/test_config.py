"""Config loading: every bad input gets its own clear message; secrets from every source."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from syncd.config import (
    MAX_CONCURRENCY,
    Secret,
    find_config_path,
    is_loopback_host,
    legacy_journal_hint,
    load_config,
    parse_size,
)
from syncd.errors import ConfigError
from syncd.journal import Journal
from syncd.model import UploadMode

SITE = """
[site]
domain = "video.example.com"
consumer_key = "ck"
consumer_secret = "cs-hush-1"
access_token = "at"
access_token_secret = "ats-hush-2"
"""


def write(tmp_path: Path, text: str, name: str = "syncd.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SITE), env={})
    assert config.site.domain == "video.example.com"
    assert config.site.base_url == "https://video.example.com"
    assert config.site.consumer_secret.reveal() == "cs-hush-1"
    assert config.upload.mode is UploadMode.AUTO
    assert config.upload.chunk_size == 8 * 1024 * 1024
    assert config.upload.bwlimit is None
    # One journal per site by default (issue 12).
    assert config.journal_path == (
        Path("~/.local/state/syncd/sites/video.example.com/journal.db").expanduser()
    )
    assert config.source == tmp_path / "syncd.toml"
    assert "hush" not in repr(config) and "hush" not in str(config)


def test_full_config_is_parsed(tmp_path: Path) -> None:
    text = (
        SITE
        + """
[journal]
path = "state/journal.db"
[upload]
mode = "chunked"
chunk_size = "4MiB"
chunk_threshold = 1000
bwlimit = "20MiB"
concurrency = 2
read_timeout = 12.5
publish = false
[scan]
stable_seconds = 0.5
extensions = [".MP4", "mov"]
duplicates = "upload"
[[watch]]
path = "media"
album = "Archive"
mode = "direct"
tags = ["a", "b"]
"""
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.journal_path == tmp_path / "state/journal.db"
    assert config.upload.mode is UploadMode.CHUNKED
    assert config.upload.chunk_size == 4 * 1024 * 1024
    assert config.upload.chunk_threshold == 1000
    assert config.upload.bwlimit == 20 * 1024 * 1024
    assert config.upload.read_timeout == 12.5
    assert config.upload.publish is False
    assert config.scan.extensions == ("mp4", "mov")
    assert config.scan.duplicates == "upload"
    (root,) = config.watch
    assert root.path == tmp_path / "media"
    assert root.album == "Archive" and root.mode is UploadMode.DIRECT and root.tags == ("a", "b")


def test_event_retention_days(tmp_path: Path) -> None:
    """Default a year; 0 keeps events for ever (the journal then never prunes); a
    negative number or a string is an error naming the key."""
    assert load_config(write(tmp_path, SITE), env={}).event_retention_days == 365
    config = load_config(write(tmp_path, SITE + "[journal]\nevent_retention_days = 0\n"), env={})
    assert config.event_retention_days == 0
    with Journal.open(tmp_path / "j.db", event_retention_days=config.event_retention_days) as j:
        assert j.event_retention is None
    with Journal.open(tmp_path / "k.db", event_retention_days=1.5) as j:
        assert j.event_retention == 1.5 * 86400
    for bad in ("-1", '"a week"'):
        text = SITE + f"[journal]\nevent_retention_days = {bad}\n"
        with pytest.raises(ConfigError, match=r"journal\.event_retention_days"):
            load_config(write(tmp_path, text), env={})


def test_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    config = load_config(write(tmp_path, example.read_text()), env={})
    assert config.upload.chunk_threshold == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        (123, 123),
        ("0", 0),
        ("8MiB", 8 * 1024**2),
        ("8 MiB", 8 * 1024**2),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("10KB", 10_000),
        ("2mb", 2_000_000),
        ("64KiB", 65536),
        ("7B", 7),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "8 MiBs", "-1", "1e3", "eight", True, -5])
def test_parse_size_rejects(text: str | int) -> None:
    with pytest.raises(ValueError, match=r"size|negative"):
        parse_size(text)


# (config text appended to/replacing SITE, expected key in message, expected words)
BAD_CONFIGS = [
    pytest.param(SITE.replace('domain = "video.example.com"\n', ""), "site.domain", "is required",
                 id="missing-domain"),
    pytest.param(SITE.replace('consumer_key = "ck"\n', ""), "site.consumer_key", "is required",
                 id="missing-key"),
    pytest.param(SITE.replace('access_token_secret = "ats-hush-2"\n', ""),
                 "site.access_token_secret", "SYNCD_ACCESS_TOKEN_SECRET", id="missing-secret"),
    pytest.param(SITE + "[upload]\nchunk_sise = 5\n", "upload.chunk_sise",
                 "did you mean 'chunk_size'", id="unknown-key-hint"),
    pytest.param(SITE + "[uplaod]\n", "uplaod", "did you mean 'upload'", id="unknown-section"),
    pytest.param(SITE + "[upload]\nconcurrency = \"4\"\n", "upload.concurrency",
                 "expected an integer, got a string", id="wrong-type"),
    pytest.param(SITE + "[upload]\npublish = 1\n", "upload.publish", "expected true or false",
                 id="int-for-bool"),
    pytest.param(SITE + "[upload]\nconcurrency = true\n", "upload.concurrency",
                 "got a boolean", id="bool-for-int"),
    pytest.param(SITE + "[upload]\nchunk_size = \"8 MiBs\"\n", "upload.chunk_size",
                 "is not a size", id="bad-size"),
    pytest.param(SITE + "[upload]\nchunk_size = 0\n", "upload.chunk_size", "at least 1",
                 id="zero-chunk"),
    pytest.param(SITE + "[upload]\nmode = \"fast\"\n", "upload.mode",
                 "not one of direct, token, chunked, auto", id="bad-mode"),
    pytest.param(SITE + "[upload]\nconcurrency = 0\n", "upload.concurrency", "at least 1",
                 id="zero-concurrency"),
    pytest.param(SITE + "[upload]\nread_timeout = 0\n", "upload.read_timeout",
                 "more than 0", id="zero-timeout"),
    pytest.param(SITE + "[scan]\nduplicates = \"keep\"\n", "scan.duplicates", "skip, upload",
                 id="bad-duplicates"),
    pytest.param(SITE + "[scan]\ninclude = [1]\n", "scan.include", "list of strings",
                 id="bad-list"),
    pytest.param(SITE + "scheme = \"http\"\n", "site.scheme", "only for loopback",
                 id="http-non-loopback"),
    pytest.param(SITE + "scheme = \"ftp\"\n", "site.scheme", "not one of https, http",
                 id="bad-scheme"),
    pytest.param(SITE.replace('"video.example.com"', '"https://video.example.com/"'),
                 "site.domain", "without scheme", id="domain-with-scheme"),
    pytest.param(SITE + "oauth_base_url = \"api.example.com\"\n", "site.oauth_base_url",
                 "not an http(s) URL", id="bad-oauth-url"),
    pytest.param(SITE + "consumer_secret_file = \"x\"\n", "site.consumer_secret_file",
                 "not both", id="secret-and-file"),
    pytest.param(SITE.replace('access_token_secret = "ats-hush-2"',
                              'access_token_secret_file = "nope.txt"'),
                 "site.access_token_secret_file", "does not exist", id="secret-file-missing"),
    pytest.param(SITE + "[[watch]]\nalbum = \"x\"\n", "watch[0].path", "is required",
                 id="watch-without-path"),
    pytest.param(SITE + "[[watch]]\npath = \"x\"\nmode = \"zip\"\n", "watch[0].mode",
                 "not one of", id="watch-bad-mode"),
    pytest.param(SITE + "[[watch]]\npath = \"x\"\nalbun = \"x\"\n", "watch[0].albun",
                 "did you mean 'album'", id="watch-unknown-key"),
    pytest.param(SITE + "[upload]\nconcurrency = 1000\n", "upload.concurrency",
                 f"at most {MAX_CONCURRENCY}, got 1000", id="concurrency-over-the-cli-cap"),
    pytest.param(SITE.replace('"video.example.com"', '"127.0.0.1:99999"'), "site.domain",
                 "port '99999' is not a number from 1 to 65535", id="domain-port-too-big"),
    pytest.param(SITE.replace('"video.example.com"', '"127.0.0.1:0"'), "site.domain",
                 "port '0' is not a number from 1 to 65535", id="domain-port-zero"),
    pytest.param(SITE.replace('"video.example.com"', '"video.example.com:"'), "site.domain",
                 "port '' is not a number", id="domain-empty-port"),
    pytest.param(SITE.replace('"video.example.com"', '"video.example.com:http"'),
                 "site.domain", "port 'http' is not a number", id="domain-named-port"),
    pytest.param(SITE.replace('"video.example.com"', '"video example.com"'), "site.domain",
                 "is not a valid host name or IP address", id="domain-with-space"),
    pytest.param(SITE.replace('"video.example.com"', '"video_archive.example.com"'),
                 "site.domain", "is not a valid host name", id="domain-underscore"),
    pytest.param(SITE.replace('"video.example.com"', '"-video.example.com"'), "site.domain",
                 "is not a valid host name", id="domain-label-starts-with-hyphen"),
    pytest.param(SITE.replace('"video.example.com"', '"video..example.com"'), "site.domain",
                 "is not a valid host name", id="domain-empty-label"),
    pytest.param(SITE.replace('"video.example.com"', '"300.1.2.3"'), "site.domain",
                 "is not a valid host name or IP address", id="domain-bad-ipv4"),
    pytest.param(SITE.replace('"video.example.com"', '"2001:db8::1"'), "site.domain",
                 "an IPv6 address goes in brackets", id="domain-bare-ipv6"),
    pytest.param(SITE.replace('"video.example.com"', '"[2001:db8::1"'), "site.domain",
                 "missing ']'", id="domain-unclosed-bracket"),
    pytest.param(SITE.replace('"video.example.com"', '"[video.example.com]"'), "site.domain",
                 "is not an IPv6 address", id="domain-name-in-brackets"),
    pytest.param(SITE.replace('"video.example.com"', '":8023"'), "site.domain",
                 "the host name is missing", id="domain-port-only"),
    pytest.param(SITE + "oauth_base_url = \"https://api.example.com:99999\"\n",
                 "site.oauth_base_url", "port '99999' is not a number", id="oauth-url-bad-port"),
    pytest.param("[site\n", "", "not valid TOML", id="bad-toml"),
    pytest.param("[upload]\n", "site", "[site] section is required", id="no-site"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "words"), BAD_CONFIGS)
def test_bad_config_messages(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert f": {key}: " in message or not key, message
    assert words in message, message
    assert "hush" not in message


@pytest.mark.parametrize(
    "domain",
    [
        "video.example.com",
        "video.example.com.",  # fully qualified
        "video.example.com:8443",
        "localhost:8023",
        "127.0.0.1:1",
        "127.0.0.1:65535",
        "[::1]:8023",
        "[2001:db8::1]",
        "vidéo.example.com",  # an internationalised name (sent as xn--...)
        "1video.example.com",
    ],
)
def test_good_domains_are_accepted(tmp_path: Path, domain: str) -> None:
    text = SITE.replace('"video.example.com"', f'"{domain}"')
    assert load_config(write(tmp_path, text), env={}).site.domain == domain


@pytest.mark.parametrize("bwlimit", ['"0"', "0", '"0 MiB"'])
def test_bwlimit_zero_means_unlimited(tmp_path: Path, bwlimit: str) -> None:
    """The documented "0 = unlimited", however it is written."""
    config = load_config(write(tmp_path, SITE + f"[upload]\nbwlimit = {bwlimit}\n"), env={})
    assert config.upload.bwlimit is None


def test_concurrency_at_the_cap_is_accepted(tmp_path: Path) -> None:
    text = SITE + f"[upload]\nconcurrency = {MAX_CONCURRENCY}\n"
    assert load_config(write(tmp_path, text), env={}).upload.concurrency == MAX_CONCURRENCY


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_env_wins_over_file(tmp_path: Path) -> None:
    env = {
        "SYNCD_CONSUMER_KEY": "env-ck",
        "SYNCD_CONSUMER_SECRET": "env-cs",
        "SYNCD_ACCESS_TOKEN": "env-at",
        "SYNCD_ACCESS_TOKEN_SECRET": "env-ats",
    }
    site = load_config(write(tmp_path, SITE), env=env).site
    assert site.consumer_key == "env-ck"
    assert site.consumer_secret.reveal() == "env-cs"
    assert site.access_token == "env-at"
    assert site.access_token_secret.reveal() == "env-ats"


def test_secret_file_strips_one_newline(tmp_path: Path) -> None:
    (tmp_path / "ats.txt").write_text("from-file\n")
    text = SITE.replace(
        'access_token_secret = "ats-hush-2"', 'access_token_secret_file = "ats.txt"'
    )
    site = load_config(write(tmp_path, text), env={}).site
    assert site.access_token_secret.reveal() == "from-file"


def test_systemd_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "consumer_secret").write_text("cred-cs\n")
    (creds / "access_token_secret").write_text("cred-ats")
    text = SITE.replace('consumer_secret = "cs-hush-1"\n', "").replace(
        'access_token_secret = "ats-hush-2"\n', ""
    )
    site = load_config(write(tmp_path, text), env={"CREDENTIALS_DIRECTORY": str(creds)}).site
    assert site.consumer_secret.reveal() == "cred-cs"
    assert site.access_token_secret.reveal() == "cred-ats"


def test_readable_config_with_secrets_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, SITE)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="syncd.config"):
        load_config(path, env={})
    assert any(
        "chmod 600" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records
    )
    assert "hush" not in caplog.text


def test_private_config_or_env_secrets_do_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="syncd.config"):
        load_config(write(tmp_path, SITE), env={})
        secretless = SITE.replace('consumer_secret = "cs-hush-1"\n', "").replace(
            'access_token_secret = "ats-hush-2"\n', ""
        )
        public = write(tmp_path, secretless, "public.toml")
        public.chmod(0o644)
        env = {"SYNCD_CONSUMER_SECRET": "x", "SYNCD_ACCESS_TOKEN_SECRET": "y"}
        load_config(public, env=env)
    assert not caplog.records


def test_auth_mode_allows_missing_tokens_and_domain(tmp_path: Path) -> None:
    text = '[site]\nconsumer_key = "ck"\nconsumer_secret = "cs"\n'
    site = load_config(write(tmp_path, text), env={}, require_tokens=False).site
    assert site.domain == "" and site.access_token == ""


def test_find_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="no config file found"):
        find_config_path(env={})
    user = tmp_path / "home/.config/syncd/syncd.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config_path(env={}) == user
    (tmp_path / "syncd.toml").write_text("")
    assert find_config_path(env={}) == tmp_path / "syncd.toml"
    assert find_config_path(env={"SYNCD_CONFIG": "/x/y.toml"}) == Path("/x/y.toml")
    assert find_config_path("explicit.toml", env={"SYNCD_CONFIG": "/x"}) == Path("explicit.toml")


@pytest.mark.parametrize(
    ("domain", "loopback"),
    [
        ("localhost", True),
        ("localhost:8023", True),
        ("127.0.0.1", True),
        ("127.3.2.1:80", True),
        ("[::1]:8023", True),
        ("[::1]", True),
        ("video.example.com", False),
        ("10.0.0.1:80", False),
        ("localhost.evil.com", False),
    ],
)
def test_loopback_hosts(domain: str, loopback: bool) -> None:
    assert is_loopback_host(domain) is loopback


def test_loopback_http_allowed(tmp_path: Path) -> None:
    text = SITE.replace("video.example.com", "127.0.0.1:8023") + 'scheme = "http"\n'
    assert load_config(write(tmp_path, text), env={}).site.base_url == "http://127.0.0.1:8023"


def test_secret_never_shows() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {secret:>20}"


# --- issue 12: a journal per site, the tag word joiner, lookups before uploads ------------


@pytest.mark.parametrize(
    ("domain", "folder"),
    [
        ("video.example.com", "video.example.com"),
        ("Video.Example.COM", "video.example.com"),
        ("127.0.0.1:8023", "127.0.0.1_8023"),
        ("[::1]:8023", "___1__8023"),
    ],
)
def test_the_default_journal_is_one_per_site(tmp_path: Path, domain: str, folder: str) -> None:
    text = SITE.replace('"video.example.com"', f'"{domain}"') + '\nscheme = "http"\n'
    if not is_loopback_host(domain):
        text = text.replace('\nscheme = "http"\n', "\n")
    config = load_config(write(tmp_path, text), env={})
    expected = Path(f"~/.local/state/syncd/sites/{folder}/journal.db").expanduser()
    assert config.journal_path == expected


def test_the_old_shared_journal_is_named_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, SITE), env={})
    assert legacy_journal_hint(config) is None  # no old journal
    old = tmp_path / "home" / ".local/state/syncd/journal.db"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"")
    assert config.journal_path != old
    hint = legacy_journal_hint(config)
    assert hint is not None and str(old) in hint and "one per site" in hint
    config.journal_path.parent.mkdir(parents=True)
    config.journal_path.write_bytes(b"")  # the per-site journal exists: nothing to say
    assert legacy_journal_hint(config) is None
    chosen = load_config(write(tmp_path, SITE + f'[journal]\npath = "{old}"\n'), env={})
    assert legacy_journal_hint(chosen) is None


def test_upload_lookups_and_tag_joiner(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SITE), env={})
    assert config.upload.lookup_before_upload is True
    assert config.upload.tag_word_joiner == "_"
    text = SITE + '\n[upload]\nlookup_before_upload = false\ntag_word_joiner = "-"\n'
    config = load_config(write(tmp_path, text), env={})
    assert config.upload.lookup_before_upload is False
    assert config.upload.tag_word_joiner == "-"


@pytest.mark.parametrize("joiner", ["", " ", "__", '"', ",", "'", "\t"])
def test_a_tag_word_joiner_that_cannot_work_is_refused(tmp_path: Path, joiner: str) -> None:
    # JSON string escapes are TOML basic-string escapes.
    text = SITE + f"\n[upload]\ntag_word_joiner = {json.dumps(joiner)}\n"
    with pytest.raises(ConfigError, match=r"upload\.tag_word_joiner"):
        load_config(write(tmp_path, text), env={})
