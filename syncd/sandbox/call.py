"""One API call as the method handlers see it, with typed parameter helpers, and the registry
of API methods (name -> handler + required permission level)."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from syncd.sandbox.envelope import ApiError, Payload, Response
from syncd.sandbox.faults import FaultEffect
from syncd.sandbox.multipart import FileSink, UploadedFile
from syncd.sandbox.profile import PROFILES, Profile
from syncd.sandbox.state import State

# Users that exist on the sandbox site: the owner (privileged credentials) and the user
# who approves the 3-legged flow.
USERS = {
    1: {"user_id": 1, "username": "owner", "display_name": "Sandbox Owner", "site_admin": 1},
    2: {"user_id": 2, "username": "member", "display_name": "Sandbox Member", "site_admin": 0},
}
# Largest page the list methods serve; larger `size` is clamped to it (documented choice).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# Longest tag accepted.
MAX_TAG_CHARS = 200


@dataclass
class Call:
    method: str
    http_method: str
    params: dict[str, str]
    files: dict[str, UploadedFile]
    level: str
    user_id: int | None
    state: State
    domain: str
    clock: Callable[[], float]
    transcode_seconds: float
    effect: FaultEffect | None = None
    profile: Profile = PROFILES["default"]
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> float:
        return self.clock()

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return default if value is None else value

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise ApiError("invalid_input", f"parameter {name!r} is required")
        return value

    def int_param(
        self, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError("invalid_input", f"parameter {name!r} must be an integer") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ApiError("invalid_input", f"parameter {name!r} must be between {lo} and {hi}")
        return value

    def float_param(self, name: str, lo: float, hi: float) -> float | None:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ApiError("invalid_input", f"parameter {name!r} must be a number") from None
        if not lo <= value <= hi:
            raise ApiError("invalid_input", f"parameter {name!r} must be between {lo} and {hi}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("1", "t", "true", "yes"):
            return True
        if raw.lower() in ("0", "f", "false", "no"):
            return False
        raise ApiError("invalid_input", f"parameter {name!r} must be 0 or 1")

    def page(self) -> tuple[int, int]:
        p = self.int_param("p", 1, 1, 1_000_000)
        size = self.int_param("size", DEFAULT_PAGE_SIZE, 1, 1_000_000)
        assert p is not None and size is not None
        return p, min(size, MAX_PAGE_SIZE)

    def tags(self, name: str = "tags") -> list[str] | None:
        """Tags given to an item (upload, token, update): "space-separated" say the pages;
        quoting is understood unless the profile splits them literally."""
        raw = self.params.get(name)
        if raw is None:
            return None
        return parse_tags(raw, name, quoted=not self.profile.split_tags)

    def tag_filter(self, name: str = "tags") -> list[str] | None:
        """photo/list's tag filter: its page documents quoting of multi-word tags."""
        raw = self.params.get(name)
        if raw is None:
            return None
        return parse_tags(raw, name)

    def ids(self, name: str) -> list[int] | None:
        raw = self.params.get(name)
        if raw is None:
            return None
        out: list[int] = []
        for part in filter(None, (p.strip() for p in raw.split(","))):
            if not part.isdigit():
                raise ApiError("invalid_input", f"parameter {name!r} must be comma-separated ids")
            out.append(int(part))
        return out

    def file(self, name: str = "file") -> UploadedFile:
        f = self.files.get(name)
        if f is None:
            raise ApiError("no_file", f"the request carried no {name!r} part (multipart upload)")
        return f


def parse_tags(raw: str, name: str = "tags", *, quoted: bool = True) -> list[str]:
    """Space-separated tags; with `quoted`, a double-quoted multi-word tag is one tag,
    without it quotes are plain characters (`"slow tv"` -> `"slow`, `tv"`)."""
    if quoted:
        try:
            tags = shlex.split(raw)
        except ValueError:
            raise ApiError("invalid_input", f"parameter {name!r} has an unbalanced quote") from None
    else:
        tags = raw.split()
    out: list[str] = []
    for tag in tags:
        if not tag or len(tag) > MAX_TAG_CHARS:
            raise ApiError("invalid_input", f"parameter {name!r}: tags are 1..200 characters")
        if tag not in out:
            out.append(tag)
    return out


Handler = Callable[[Call], Payload | Response]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    handler: Handler
    level: str


METHODS: dict[str, MethodSpec] = {}


# Chooses where a file part of a call goes, from (state, now, fault effect, fields so far, part
# name, filename, content type), before the call is authenticated; None = a temporary file.
SinkProvider = Callable[
    [State, float, FaultEffect | None, dict[str, str], str, str, str], FileSink | None
]
FILE_SINKS: dict[str, SinkProvider] = {}


def file_sink(name: str) -> Callable[[SinkProvider], SinkProvider]:
    """Register where /api/<name> streams its file parts (e.g. chunks into their file)."""

    def register(fn: SinkProvider) -> SinkProvider:
        FILE_SINKS[name] = fn
        return fn

    return register


def api_method(name: str, level: str) -> Callable[[Handler], Handler]:
    """Register a handler for /api/<name>, callable at `level` or above."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = MethodSpec(name, fn, level)
        return fn

    return register


def ansi(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
