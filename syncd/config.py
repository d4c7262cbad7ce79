"""Configuration: TOML file -> validated, typed settings.

The dataclasses below are the contract every other module codes against.
Loading and validation (`load_config`) live here too.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syncd.errors import ConfigError
from syncd.model import (
    DEFAULT_TAG_JOINER,
    FORBIDDEN_JOINERS,
    OnChange,
    OnDrift,
    OnLocalDelete,
    OnRemoteMissing,
    ReconcilePolicy,
    UploadMode,
)

DEFAULT_OAUTH_BASE_URL = "https://api.visualplatform.net"

# Files uploading at once, for `[upload] concurrency` and `--concurrency` alike. Each holds a
# thread, a connection and a journal lease; one client's uploads share one site and one
# uplink, so past a few dozen more workers add rate limiting (429), not throughput.
MAX_CONCURRENCY = 64
# The smallest chunk for chunked uploads (`[upload] chunk_size`, `--chunk-size`): any
# positive size works; a chunk of 0 bytes would never finish a file.
MIN_CHUNK_SIZE = 1


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string that never shows itself in str(), repr() or f-strings."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret(********)"

    def __format__(self, spec: str) -> str:
        return "********"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    domain: str  # "video.example.com" or "127.0.0.1:8023"
    consumer_key: str
    consumer_secret: Secret
    access_token: str
    access_token_secret: Secret
    scheme: str = "https"  # "http" only for loopback
    oauth_base_url: str = DEFAULT_OAUTH_BASE_URL

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"


@dataclass(frozen=True, slots=True)
class UploadConfig:
    mode: UploadMode = UploadMode.AUTO
    chunk_size: int = 8 * 1024 * 1024  # Resumable.js chunk size
    chunk_threshold: int = 64 * 1024 * 1024  # auto: chunked at or above this size
    chunk_concurrency: int = 1  # parallel chunks per file
    concurrency: int = 4  # files uploading at once
    bwlimit: int | None = None  # bytes per second over all workers; None = unlimited
    max_attempts: int = 5  # tenacity attempts per upload before parking in `retry`
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    publish: bool = True
    tag_word_joiner: str = DEFAULT_TAG_JOINER  # joins a multi-word tag's words when sent
    # Before a file's first upload, ask the site whether its content is there (another
    # host, a lost journal), and after it whether another host uploaded it at the same
    # moment: two photo/list requests per new file (bench/many.py prints what they cost).
    lookup_before_upload: bool = True


@dataclass(frozen=True, slots=True)
class ScanConfig:
    stable_seconds: float = 10.0  # size+mtime unchanged this long => stable
    min_age: float = 0.0  # seconds since mtime before a file is considered
    include: tuple[str, ...] = ()  # globs; empty = every media extension
    exclude: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()  # empty = the built-in media list
    follow_symlinks: bool = False
    duplicates: str = "skip"  # "skip": same content at a second path is recorded, not sent


class ObserverMode(StrEnum):
    """How `syncd watch` learns of changes under a root."""

    AUTO = "auto"  # inotify, falling back to polling where inotify is unavailable or full
    INOTIFY = "inotify"
    POLLING = "polling"  # for network filesystems, which send no inotify events


@dataclass(frozen=True, slots=True)
class WatchRoot:
    path: Path
    album: str | None = None  # default album for files under this root
    mode: UploadMode | None = None  # overrides [upload] mode for this root
    tags: tuple[str, ...] = ()
    observer: ObserverMode = ObserverMode.AUTO


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A host and TCP port to listen on; port 0 picks a free one."""

    host: str  # an IP address or a host name, IPv6 without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """The [daemon] table: how `syncd watch` runs as a service."""

    stop_timeout: float = 30.0  # seconds in-flight transfers get to finish after SIGTERM
    # Seconds between full rescans: inotify drops events on queue overflow without a word,
    # and network filesystems send none, so a periodic walk catches what was missed.
    rescan_interval: float = 3600.0
    metrics_listen: ListenAddress | None = None  # Prometheus endpoint; None = off
    # Seconds between walks of a root watched by polling (network filesystems, or inotify
    # unavailable): each walk stats the whole tree, so not every second as watchdog's default.
    poll_interval: float = 10.0
    # A file is looked at once its events have been quiet this long (a burst of writes is
    # one look, not hundreds); a close-after-write event is looked at at once.
    debounce: float = 0.2


# The sidecar formats, by the names `[metadata] sidecar_order` uses (syncd.metadata.sidecar
# has one reader per name).
SIDECAR_FORMATS = ("json", "yaml", "xmp")


@dataclass(frozen=True, slots=True)
class MetadataConfig:
    """`[metadata]`: how sidecars are read (see docs/metadata.md)."""

    # Formats read when one file has sidecars in several, lowest layer first. None: two
    # formats for one file is an error; a format left out of the list is not read at all.
    sidecar_order: tuple[str, ...] | None = None
    xmp_rating_variable: str | None = None  # custom variable that gets xmp:Rating; None: ignored


# Days the journal keeps its event log (`[journal] event_retention_days`; 0 keeps it for
# ever). A year of history for `syncd status PATH`, while a daemon that runs for years
# keeps a bounded log.
DEFAULT_EVENT_RETENTION_DAYS = 365.0


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig
    journal_path: Path
    upload: UploadConfig = UploadConfig()
    scan: ScanConfig = ScanConfig()
    watch: tuple[WatchRoot, ...] = ()
    daemon: DaemonConfig = DaemonConfig()
    metadata: MetadataConfig = MetadataConfig()
    reconcile: ReconcilePolicy = field(default_factory=ReconcilePolicy)
    source: Path | None = None  # the file this came from, for messages
    event_retention_days: float = DEFAULT_EVENT_RETENTION_DAYS  # 0: events kept for ever

    def watch_root_for(self, path: str | os.PathLike[str]) -> WatchRoot | None:
        """The deepest [[watch]] root that holds `path`: nested roots give their own
        settings to what is under them, whichever root a push was started on."""
        if not self.watch:
            return None  # a push without [[watch]] roots asks this once per file
        target = Path(os.path.abspath(path))
        holding = [w for w in self.watch if target == w.path or w.path in target.parents]
        return max(holding, key=lambda w: len(w.path.parts), default=None)


# --- loading and validation -------------------------------------------------
# Everything below turns a TOML file into the dataclasses above. Errors are
# ConfigError naming the file, the dotted key and the problem.


log = logging.getLogger(__name__)

CONFIG_ENV = "SYNCD_CONFIG"
CONFIG_FILENAME = "syncd.toml"
USER_CONFIG_PATH = Path("~/.config/syncd/syncd.toml")
# The default journal is one per site (a journal describes one site; see
# syncd.pipeline.site), in a folder named by the configured domain.
DEFAULT_JOURNAL_DIR = "~/.local/state/syncd"
# Where the default journal was before it was per site (read by nothing; named in a hint).
LEGACY_JOURNAL_PATH = "~/.local/state/syncd/journal.db"
# systemd's LoadCredential= puts each credential as a file in this folder.
CREDENTIALS_DIR_ENV = "CREDENTIALS_DIRECTORY"
# The four credential keys and the environment variables that override them.
CREDENTIAL_ENV = {
    "consumer_key": "SYNCD_CONSUMER_KEY",
    "consumer_secret": "SYNCD_CONSUMER_SECRET",
    "access_token": "SYNCD_ACCESS_TOKEN",
    "access_token_secret": "SYNCD_ACCESS_TOKEN_SECRET",
}
SECRET_KEYS = frozenset({"consumer_secret", "access_token_secret"})

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "m": 1024**2,
    "g": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
# Custom photo variables travel as form fields: the same rule as in sidecars.
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")


def parse_size(text: str | int) -> int:
    """Bytes from `123`, `"8MiB"`, `"1.5 GB"`. Raises ValueError saying what is accepted."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text} is negative")
        return text
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(
            f"{text!r} is not a size (use bytes, or a number with B, KiB, MiB, GiB, KB, MB, GB)"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def find_config_path(
    explicit: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> Path:
    """The config file to use: explicit, $SYNCD_CONFIG, ./syncd.toml, ~/.config/syncd/syncd.toml."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    candidates = [Path.cwd() / CONFIG_FILENAME, USER_CONFIG_PATH.expanduser()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"no config file found (tried ${CONFIG_ENV}, {tried}); pass --config or create one "
        "from config.example.toml"
    )


def is_loopback_host(domain: str) -> bool:
    """True for localhost, 127.0.0.0/8 and [::1], with or without a :port."""
    host = domain
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# One label of a host name (RFC 1123): letters, digits and inner hyphens, 63 at most.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# A host name's length limit in DNS, dots included.
MAX_HOST_NAME = 253
_PORT = re.compile(r"[0-9]{1,5}")


def domain_problem(domain: str) -> str | None:
    """What is wrong with `host[:port]` as site.domain, or None if nothing.

    The host is a DNS name (internationalised names allowed), an IPv4 address, or an IPv6
    address in brackets; the port is 1-65535. Checked here because a URL built from a bad
    domain can never work: every request would fail the same way.
    """
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            return f"{domain!r}: missing ']' after the IPv6 address"
        host, rest = domain[1:end], domain[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{domain!r}: {host!r} in brackets is not an IPv6 address"
        if rest and not rest.startswith(":"):
            return f"{domain!r}: expected ':port' after ']', got {rest!r}"
        return _port_problem(domain, rest[1:]) if rest else None
    if domain.count(":") > 1:
        return f"{domain!r}: an IPv6 address goes in brackets, e.g. [::1]:8023"
    host, colon, port = domain.partition(":")
    if colon:
        problem = _port_problem(domain, port)
        if problem is not None:
            return problem
    return _host_problem(domain, host)


def _port_problem(domain: str, port: str) -> str | None:
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        return f"{domain!r}: port {port!r} is not a number from 1 to 65535"
    return None


def _host_problem(domain: str, host: str) -> str | None:
    bad = f"{domain!r}: {host!r} is not a valid host name or IP address"
    if not host:
        return f"{domain!r}: the host name is missing"
    name = host[:-1] if host.endswith(".") else host  # a fully qualified name's dot
    labels = name.split(".")
    if all(label.isdigit() for label in labels):  # numbers only: it can only be IPv4
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return bad
        return None
    try:
        ascii_name = name.encode("idna").decode("ascii")  # vidéo.example -> xn--vido-bpa...
    except UnicodeError:
        return bad
    if len(ascii_name) > MAX_HOST_NAME:
        return f"{domain!r}: the host name is longer than {MAX_HOST_NAME} characters"
    if not all(_HOST_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        return bad
    return None


class _Reader:
    """Validates one TOML table, tracking the dotted prefix for messages."""

    def __init__(self, source: str, table: Mapping[str, Any], prefix: str) -> None:
        self.source = source
        self.table = table
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key(name)}: {problem}")

    def check_keys(self, allowed: set[str] | frozenset[str]) -> None:
        for name in self.table:
            if name not in allowed:
                raise self.fail(name, "unknown key" + _hint(name, allowed))

    def get(self, name: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        # bool is an int in Python; a flag is never a number here and vice versa.
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(name, f"expected {what}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(name, f"expected {what}, got {_type_name(value)}")
        return value

    def string(self, name: str, default: str | None = None) -> str | None:
        return self.get(name, (str,), default, "a string")

    def boolean(self, name: str, default: bool) -> bool:
        return self.get(name, (bool,), default, "true or false")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(name, (int,), default, "an integer")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(name, f"must be at most {maximum}, got {value}")
        return value

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = float(self.get(name, (int, float), default, "a number"))
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum:g}, got {value:g}")
        return value

    def size(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.get(name, (int, str), default, "a size (bytes or a string like '8MiB')")
        try:
            value = parse_size(raw)
        except ValueError as exc:
            raise self.fail(name, str(exc)) from None
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum} bytes, got {value}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, (list,), [], "a list of strings")
        for item in value:
            if not isinstance(item, str):
                raise self.fail(name, f"expected a list of strings, found {_type_name(item)}")
        return tuple(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default)
        assert value is not None
        if value not in choices:
            raise self.fail(name, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def table_at(self, name: str) -> _Reader:
        value = self.get(name, (dict,), {}, f"a table [{self.key(name)}]")
        return _Reader(self.source, value, self.key(name))


def _hint(name: str, allowed: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(allowed))})"


def _type_name(value: object) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def default_journal_path(domain: str) -> str:
    """`~/.local/state/syncd/sites/<domain>/journal.db`: the domain lowercased, every
    character but letters, digits, `.` and `-` made `_` (`127.0.0.1:8023` ->
    `127.0.0.1_8023`). Without a domain (`syncd auth` before it knows one) the old path."""
    if not domain:
        return LEGACY_JOURNAL_PATH
    safe = re.sub(r"[^a-z0-9.-]", "_", domain.lower())
    return f"{DEFAULT_JOURNAL_DIR}/sites/{safe}/journal.db"


def _resolve_path(text: str, base: Path) -> Path:
    """Expand ~, make relative paths relative to the config file's folder, and
    normalise (`a/../b` -> `b`) the way the scanner names files, so journal rows
    are found under the root they were scanned from. Symlinks are kept as given."""
    path = Path(text).expanduser()
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def _read_credential(
    site: _Reader, name: str, env: Mapping[str, str], base: Path
) -> tuple[str | None, bool]:
    """(value, came_from_the_file_itself) for one credential; env wins over the file."""
    env_name = CREDENTIAL_ENV[name]
    file_key = f"{name}_file"
    if name in site.table and file_key in site.table:
        raise site.fail(file_key, f"give either {site.key(name)} or {site.key(file_key)}, not both")
    if env.get(env_name):
        return env[env_name], False
    inline = site.string(name)
    if inline is not None:
        return inline, True
    file_text = site.string(file_key)
    if file_text is not None:
        return _read_secret_file(_resolve_path(file_text, base), site, file_key), False
    cred_dir = env.get(CREDENTIALS_DIR_ENV)
    if cred_dir and (Path(cred_dir) / name).is_file():
        return _read_secret_file(Path(cred_dir) / name, site, name), False
    return None, False


def _read_secret_file(path: Path, site: _Reader, key: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise site.fail(key, f"file {path} does not exist") from None
    except OSError as exc:
        raise site.fail(key, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise site.fail(key, f"{path} is not UTF-8 text") from None
    # `echo secret > file` adds a newline that is not part of the secret.
    text = text.removesuffix("\n")
    if not text:
        raise site.fail(key, f"file {path} is empty")
    return text


SITE_KEYS = frozenset(
    {
        "domain",
        "scheme",
        "oauth_base_url",
        *CREDENTIAL_ENV,
        *(f"{name}_file" for name in CREDENTIAL_ENV),
    }
)


def _load_site(
    site: _Reader, env: Mapping[str, str], base: Path, require_tokens: bool
) -> tuple[SiteConfig, bool]:
    """The [site] table, and whether the file itself holds a secret."""
    site.check_keys(SITE_KEYS)
    domain = site.string("domain", "")
    assert domain is not None
    if not domain and require_tokens:
        raise site.fail("domain", "is required (the site's host name, e.g. video.example.com)")
    if "://" in domain or "/" in domain:
        raise site.fail("domain", f"{domain!r} must be a bare host[:port], without scheme or path")
    problem = domain_problem(domain) if domain else None
    if problem is not None:
        raise site.fail("domain", problem)
    scheme = site.choice("scheme", "https", ("https", "http"))
    if scheme == "http" and domain and not is_loopback_host(domain):
        raise site.fail(
            "scheme",
            f"'http' is allowed only for loopback hosts, not {domain!r}: credentials and "
            "uploads must travel over https",
        )
    oauth_base_url = site.string("oauth_base_url", DEFAULT_OAUTH_BASE_URL)
    assert oauth_base_url is not None
    if not re.match(r"^https?://[^/]+", oauth_base_url):
        raise site.fail("oauth_base_url", f"{oauth_base_url!r} is not an http(s) URL")
    problem = domain_problem(urlsplit(oauth_base_url).netloc)
    if problem is not None:
        raise site.fail("oauth_base_url", problem)
    values: dict[str, str] = {}
    holds_secret = False
    for name in CREDENTIAL_ENV:
        needed = require_tokens or name.startswith("consumer")
        try:
            value, inline = _read_credential(site, name, env, base)
        except ConfigError:
            if needed:
                raise
            value, inline = None, False  # auth is about to replace an unreadable token
        holds_secret |= inline and name in SECRET_KEYS
        if value is None and needed:
            raise site.fail(
                name,
                f"is required (set it, or {name}_file, or ${CREDENTIAL_ENV[name]}; "
                "`syncd auth` can fetch access tokens)",
            )
        values[name] = value or ""
    config = SiteConfig(
        domain=domain,
        consumer_key=values["consumer_key"],
        consumer_secret=Secret(values["consumer_secret"]),
        access_token=values["access_token"],
        access_token_secret=Secret(values["access_token_secret"]),
        scheme=scheme,
        oauth_base_url=oauth_base_url.rstrip("/"),
    )
    return config, holds_secret


def _load_upload(up: _Reader) -> UploadConfig:
    up.check_keys(
        {
            "mode",
            "chunk_size",
            "chunk_threshold",
            "chunk_concurrency",
            "concurrency",
            "bwlimit",
            "max_attempts",
            "connect_timeout",
            "read_timeout",
            "publish",
            "tag_word_joiner",
            "lookup_before_upload",
        }
    )
    d = UploadConfig()
    joiner = up.string("tag_word_joiner", d.tag_word_joiner)
    assert joiner is not None
    if len(joiner) != 1 or joiner in FORBIDDEN_JOINERS or not joiner.isprintable():
        raise up.fail(
            "tag_word_joiner",
            f"{joiner!r} must be one printable character other than a space, a quote or a "
            'comma (e.g. "_" or "-")',
        )
    bwlimit = up.size("bwlimit", 0)
    return UploadConfig(
        mode=UploadMode(up.choice("mode", d.mode.value, tuple(m.value for m in UploadMode))),
        chunk_size=up.size("chunk_size", d.chunk_size, minimum=MIN_CHUNK_SIZE),
        chunk_threshold=up.size("chunk_threshold", d.chunk_threshold),
        chunk_concurrency=up.integer("chunk_concurrency", d.chunk_concurrency, minimum=1),
        concurrency=up.integer("concurrency", d.concurrency, minimum=1, maximum=MAX_CONCURRENCY),
        bwlimit=bwlimit or None,
        max_attempts=up.integer("max_attempts", d.max_attempts, minimum=1),
        connect_timeout=_positive(up, "connect_timeout", d.connect_timeout),
        read_timeout=_positive(up, "read_timeout", d.read_timeout),
        publish=up.boolean("publish", d.publish),
        tag_word_joiner=joiner,
        lookup_before_upload=up.boolean("lookup_before_upload", d.lookup_before_upload),
    )


def _positive(reader: _Reader, name: str, default: float) -> float:
    value = reader.number(name, default)
    if value <= 0:
        raise reader.fail(name, "must be more than 0 seconds")
    return value


def _load_scan(sc: _Reader) -> ScanConfig:
    sc.check_keys(
        {
            "stable_seconds",
            "min_age",
            "include",
            "exclude",
            "extensions",
            "follow_symlinks",
            "duplicates",
        }
    )
    d = ScanConfig()
    extensions = tuple(e.lower().lstrip(".") for e in sc.strings("extensions"))
    return ScanConfig(
        stable_seconds=sc.number("stable_seconds", d.stable_seconds),
        min_age=sc.number("min_age", d.min_age),
        include=sc.strings("include"),
        exclude=sc.strings("exclude"),
        extensions=extensions,
        follow_symlinks=sc.boolean("follow_symlinks", d.follow_symlinks),
        duplicates=sc.choice("duplicates", d.duplicates, ("skip", "upload")),
    )


def _load_metadata(md: _Reader) -> MetadataConfig:
    md.check_keys({"sidecar_order", "xmp_rating_variable"})
    order: tuple[str, ...] | None = None
    if "sidecar_order" in md.table:
        order = md.strings("sidecar_order")
        known = ", ".join(repr(f) for f in SIDECAR_FORMATS)
        if not order:
            raise md.fail("sidecar_order", f"list at least one format ({known}), lowest first")
        for name in order:
            if name not in SIDECAR_FORMATS:
                raise md.fail("sidecar_order", f"{name!r} is not a sidecar format ({known})")
        if len(set(order)) != len(order):
            raise md.fail("sidecar_order", "a format is listed twice")
    variable = md.string("xmp_rating_variable")
    if variable is not None and not _VARIABLE_NAME.fullmatch(variable):
        raise md.fail("xmp_rating_variable", "variable names use only letters, digits and _")
    return MetadataConfig(sidecar_order=order, xmp_rating_variable=variable)


def _load_reconcile(rc: _Reader) -> ReconcilePolicy:
    """The [reconcile] table: one policy, its choices checked here once."""
    rc.check_keys(
        {
            "on_remote_missing",
            "on_drift",
            "on_local_delete",
            "on_change",
            "max_delete",
            "transcoding_timeout",
        }
    )
    d = ReconcilePolicy()

    def choice(name: str, default: str, kind: type[StrEnum]) -> str:
        return rc.choice(name, default, tuple(m.value for m in kind))

    return ReconcilePolicy(
        on_remote_missing=OnRemoteMissing(
            choice("on_remote_missing", d.on_remote_missing, OnRemoteMissing)
        ),
        on_drift=OnDrift(choice("on_drift", d.on_drift, OnDrift)),
        on_local_delete=OnLocalDelete(choice("on_local_delete", d.on_local_delete, OnLocalDelete)),
        on_change=OnChange(choice("on_change", d.on_change, OnChange)),
        max_delete=rc.integer("max_delete", d.max_delete),
        transcoding_timeout=_positive(rc, "transcoding_timeout", d.transcoding_timeout),
    )


def _load_watch(source: str, raw: object, base: Path) -> tuple[WatchRoot, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: watch: expected [[watch]] tables, got {_type_name(raw)}")
    roots = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: watch[{index}]: expected a table")
        w = _Reader(source, entry, f"watch[{index}]")
        w.check_keys({"path", "album", "mode", "tags", "observer"})
        path = w.string("path")
        if not path:
            raise w.fail("path", "is required (the folder to upload from)")
        mode = w.string("mode")
        if mode is not None and mode not in {m.value for m in UploadMode}:
            choices = ", ".join(m.value for m in UploadMode)
            raise w.fail("mode", f"{mode!r} is not one of {choices}")
        roots.append(
            WatchRoot(
                path=_resolve_path(path, base),
                album=w.string("album"),
                mode=UploadMode(mode) if mode else None,
                tags=w.strings("tags"),
                observer=ObserverMode(
                    w.choice("observer", ObserverMode.AUTO, tuple(m.value for m in ObserverMode))
                ),
            )
        )
    return tuple(roots)


# A DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123).
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def parse_listen(text: str) -> ListenAddress:
    """`host:port` -> ListenAddress: `127.0.0.1:9123`, `[::1]:9123`, `localhost:9123`,
    `0.0.0.0:9123` (every interface). Raises ValueError saying what is accepted."""
    example = "expected host:port, e.g. 127.0.0.1:9123 or [::1]:9123"
    if "/" in text:
        raise ValueError(f"{text!r}: {example}, without a scheme or path")
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: {example}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} in brackets is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r}: {example}")
        if ":" in host:
            raise ValueError(f"{text!r}: put an IPv6 address in brackets, e.g. [::1]:9123")
        if not _HOSTNAME_RE.match(host) or not _plausible_ipv4(host):
            raise ValueError(f"{text!r}: {host!r} is not an IP address or host name")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return ListenAddress(host=host, port=int(port_text))


def _plausible_ipv4(host: str) -> bool:
    """False for digits and dots that are no IPv4 address (999.1.1.1); True otherwise."""
    if host.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def _load_daemon(dm: _Reader) -> DaemonConfig:
    dm.check_keys(
        {"stop_timeout", "rescan_interval", "metrics_listen", "poll_interval", "debounce"}
    )
    d = DaemonConfig()
    listen_text = dm.string("metrics_listen")
    listen = None
    if listen_text is not None:
        if not listen_text:
            raise dm.fail("metrics_listen", "is empty (leave the key out to turn metrics off)")
        try:
            listen = parse_listen(listen_text)
        except ValueError as exc:
            raise dm.fail("metrics_listen", str(exc)) from None
    return DaemonConfig(
        stop_timeout=_positive(dm, "stop_timeout", d.stop_timeout),
        rescan_interval=_positive(dm, "rescan_interval", d.rescan_interval),
        metrics_listen=listen,
        poll_interval=_positive(dm, "poll_interval", d.poll_interval),
        debounce=dm.number("debounce", d.debounce),
    )


def legacy_journal_hint(config: Config) -> str | None:
    """When the config takes the per-site default journal, which does not exist yet, and a
    journal lies at the old shared default: how to keep using it (nothing is moved: the
    old journal may belong to another site). None otherwise."""
    default = Path(default_journal_path(config.site.domain)).expanduser()
    legacy = Path(LEGACY_JOURNAL_PATH).expanduser()
    if config.journal_path != default or default.exists() or not legacy.exists():
        return None
    return (
        f"the default journal is now one per site ({default}); {legacy} is the old shared "
        "default. If it belongs to this site, move it there or set [journal] path to it"
    )


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s holds secrets but is readable by group/others (mode %o); run: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def parse_config(
    data: Mapping[str, Any],
    *,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    require_tokens: bool = True,
) -> tuple[Config, bool]:
    """Validate an already-parsed TOML document: (config, file holds a secret)."""
    env = os.environ if env is None else env
    name = str(source) if source else "<config>"
    base = source.parent if source else Path.cwd()
    top = _Reader(name, data, "")
    top.check_keys(
        {"site", "journal", "upload", "scan", "watch", "daemon", "metadata", "reconcile"}
    )
    if "site" not in data:
        raise ConfigError(f"{name}: site: the [site] section is required")
    site, holds_secret = _load_site(top.table_at("site"), env, base, require_tokens)
    journal = top.table_at("journal")
    journal.check_keys({"path", "event_retention_days"})
    journal_text = journal.string("path")
    if journal_text is None:
        journal_text = default_journal_path(site.domain)
    if not journal_text:
        raise journal.fail("path", "must not be empty")
    retention = journal.number("event_retention_days", DEFAULT_EVENT_RETENTION_DAYS)
    config = Config(
        site=site,
        journal_path=_resolve_path(journal_text, base),
        upload=_load_upload(top.table_at("upload")),
        scan=_load_scan(top.table_at("scan")),
        watch=_load_watch(name, data.get("watch", []), base),
        daemon=_load_daemon(top.table_at("daemon")),
        metadata=_load_metadata(top.table_at("metadata")),
        reconcile=_load_reconcile(top.table_at("reconcile")),
        source=source,
        event_retention_days=retention,
    )
    return config, holds_secret


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    require_tokens: bool = True,
) -> Config:
    """Find, read and validate the config.

    `require_tokens=False` is for `syncd auth`: the access token, its secret
    and site.domain may be missing (they are what auth fetches).

    Credentials come from, in order: $SYNCD_<NAME> env vars, the key itself,
    `<name>_file`, then $CREDENTIALS_DIRECTORY/<name> (systemd LoadCredential=).
    """
    source = find_config_path(path, env=env).absolute()
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    config, holds_secret = parse_config(data, source=source, env=env, require_tokens=require_tokens)
    if holds_secret:
        _warn_if_readable(source)
    return config
