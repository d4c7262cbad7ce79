"""Configuration: TOML file -> validated, typed settings.

The dataclasses below are the contract every other module codes against.
Loading and validation (`load_config`) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from syncd.model import UploadMode

DEFAULT_OAUTH_BASE_URL = "https://api.visualplatform.net"


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


@dataclass(frozen=True, slots=True)
class ScanConfig:
    stable_seconds: float = 10.0  # size+mtime unchanged this long => stable
    min_age: float = 0.0  # seconds since mtime before a file is considered
    include: tuple[str, ...] = ()  # globs; empty = every media extension
    exclude: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()  # empty = the built-in media list
    follow_symlinks: bool = False
    duplicates: str = "skip"  # "skip": same content at a second path is recorded, not sent


@dataclass(frozen=True, slots=True)
class WatchRoot:
    path: Path
    album: str | None = None  # default album for files under this root
    mode: UploadMode | None = None  # overrides [upload] mode for this root
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig
    journal_path: Path
    upload: UploadConfig = UploadConfig()
    scan: ScanConfig = ScanConfig()
    watch: tuple[WatchRoot, ...] = ()
    source: Path | None = None  # the file this came from, for messages
