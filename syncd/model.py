"""Value types shared by every layer. No I/O here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

# Hex characters of the sha256 kept in the identity marker. 32 hex = 128 bits:
# collisions are out of the question for any archive, and the tag stays short.
IDENTITY_HEX_CHARS = 32
IDENTITY_NAMESPACE = "syncd"


class ItemState(StrEnum):
    """Journal states of a local file (see design.md, "The journal")."""

    PENDING = "pending"  # seen, not yet stable
    READY = "ready"  # stable and hashed, waiting for a worker
    UPLOADING = "uploading"  # claimed by a worker under a lease
    UPLOADED = "uploaded"  # photo_id known, metadata not yet applied
    SYNCED = "synced"  # metadata applied: done
    FAILED = "failed"  # permanent error, with code and message
    RETRY = "retry"  # transient error, with next attempt time
    SKIPPED = "skipped"  # filtered out, or a duplicate of another path
    REMOTE_MISSING = "remote_missing"  # reconcile found the remote item gone


class UploadMode(StrEnum):
    DIRECT = "direct"  # one multipart /api/photo/upload
    TOKEN = "token"  # get-upload-token + one whole-file redeem
    CHUNKED = "chunked"  # get-upload-token + Resumable.js chunks
    AUTO = "auto"  # chunked above a size threshold, direct below


def identity_tag(sha256_hex: str) -> str:
    """The machine tag that marks an upload as this content: `syncd:<hash prefix>`."""
    return f"{IDENTITY_NAMESPACE}:{sha256_hex[:IDENTITY_HEX_CHARS].lower()}"


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file as the scanner saw it."""

    path: str  # absolute path, as str (os.fsdecode for non-UTF-8 names)
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the remote item should look like. Tags exclude the identity marker."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    albums: tuple[str, ...] = ()  # album titles; resolved to album_id remotely
    publish: bool = True
    publish_date: str | None = None
    custom: tuple[tuple[str, str], ...] = ()  # custom photo variables, sorted

    def digest(self) -> str:
        """Stable hash of the desired state: changes iff the metadata changes."""
        payload = json.dumps(
            {
                "title": self.title,
                "description": self.description,
                "tags": sorted(set(self.tags)),
                "albums": sorted(set(self.albums)),
                "publish": self.publish,
                "publish_date": self.publish_date,
                "custom": sorted(self.custom),
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """An item on the site, as photo/list describes it (values parsed)."""

    photo_id: str
    title: str = ""
    token: str = ""
    tree_id: str = ""
    published: bool = True
    video_encoded: bool | None = None
    tags: tuple[str, ...] = ()
    original_size: int | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What an upload call returns."""

    photo_id: str
    tree_id: str = ""
    token: str = ""
