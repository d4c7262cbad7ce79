"""Value types shared by every layer. No I/O here."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Hex characters of the sha256 kept in the identity marker. 32 hex = 128 bits:
# collisions are out of the question for any archive, and the tag stays short.
IDENTITY_HEX_CHARS = 32
IDENTITY_NAMESPACE = "syncd"

# Tags travel space-separated ("Space-separated list of tags" say the upload and update
# pages); quoting a multi-word tag is documented for the list filter only, and a site that
# does not understand quotes stores `"slow` and `tv"`. So a tag's words are joined by this
# character before it is sent (`slow tv` -> `slow_tv`): one tag, the same on every site.
DEFAULT_TAG_JOINER = "_"
# Characters a joiner may not be: whitespace separates tags, a quote or a comma may be read
# as syntax (the get-upload-token example answers tags as "product:1234, testemonial").
FORBIDDEN_JOINERS = frozenset(" \t\r\n\x0b\x0c\"',")


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


# The error code of a file whose sidecar or folder defaults cannot be used. Fixing the
# sidecar queues the file again (the scan sees its metadata sources change).
BAD_SIDECAR = "bad_sidecar"


class ObserverState(StrEnum):
    """What watches one root of `syncd watch` right now."""

    INOTIFY = "inotify"  # inotify events
    POLLING = "polling"  # periodic stat walks (configured, or inotify unavailable or full)
    RESTARTING = "restarting"  # the observer died; restarting with back-off
    MISSING = "missing"  # the root does not exist (yet, or any more); retried


# The error code of a file whose content changed at the same path while `[reconcile]
# on_change = "report": the remote item keeps the old content, and the file waits.
CONTENT_CHANGED = "content_changed"


class UploadMode(StrEnum):
    DIRECT = "direct"  # one multipart /api/photo/upload
    TOKEN = "token"  # get-upload-token + one whole-file redeem
    CHUNKED = "chunked"  # get-upload-token + Resumable.js chunks
    AUTO = "auto"  # chunked above a size threshold, direct below


def identity_tag(sha256_hex: str) -> str:
    """The machine tag that marks an upload as this content: `syncd:<hash prefix>`."""
    return f"{IDENTITY_NAMESPACE}:{sha256_hex[:IDENTITY_HEX_CHARS].lower()}"


# Which state changes the journal accepts (None: no row). Anything else is a bug, and the
# journal refuses it instead of writing it.
TRANSITIONS: dict[ItemState | None, frozenset[ItemState | None]] = {
    None: frozenset({ItemState.PENDING}),
    ItemState.PENDING: frozenset(
        {ItemState.READY, ItemState.SKIPPED, ItemState.SYNCED, ItemState.FAILED, None}
    ),
    ItemState.READY: frozenset(
        {ItemState.UPLOADING, ItemState.PENDING, ItemState.SKIPPED, ItemState.FAILED, None}
    ),
    ItemState.RETRY: frozenset(
        {ItemState.UPLOADING, ItemState.PENDING, ItemState.READY, ItemState.FAILED, None}
    ),
    ItemState.UPLOADING: frozenset(
        {
            ItemState.UPLOADED,
            ItemState.SYNCED,
            ItemState.RETRY,
            ItemState.FAILED,
            ItemState.READY,
            ItemState.PENDING,
        }
    ),
    # -> None: reconcile forgets a row whose file is gone and whose item it deleted (or
    # found gone too): nothing is left on either side to describe.
    ItemState.UPLOADED: frozenset(
        {ItemState.SYNCED, ItemState.PENDING, ItemState.REMOTE_MISSING, None}
    ),
    ItemState.SYNCED: frozenset(
        {ItemState.SYNCED, ItemState.PENDING, ItemState.REMOTE_MISSING, None}
    ),
    ItemState.FAILED: frozenset({ItemState.READY, ItemState.PENDING, None}),
    ItemState.SKIPPED: frozenset({ItemState.PENDING, None}),
    ItemState.REMOTE_MISSING: frozenset(
        {ItemState.READY, ItemState.PENDING, ItemState.SYNCED, None}
    ),
}


# States whose row is dropped when its file vanishes from disk: nothing was sent (or
# nothing can be sent any more). Uploading rows belong to a worker; uploaded, synced and
# remote_missing rows describe remote items: reconcile's business.
VANISHABLE = frozenset(
    {ItemState.PENDING, ItemState.READY, ItemState.RETRY, ItemState.FAILED, ItemState.SKIPPED}
)
# States whose content is not a "live" copy for duplicate detection.
NOT_A_COPY = frozenset({ItemState.FAILED, ItemState.SKIPPED, ItemState.PENDING})


def transition_allowed(from_state: ItemState | None, to_state: ItemState | None) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


@dataclass(frozen=True, slots=True)
class FileVersion:
    """What identifies one version of a local file without reading it.

    The one "same version" rule: size, mtime and inode all equal. A writer bumps the
    mtime; a copy over the file or a restore from backup brings a new inode. Scan,
    journal and the upload guard all compare versions through `same_as`.
    """

    size: int
    mtime_ns: int
    inode: int

    def same_as(self, other: FileVersion) -> bool:
        return self == other

    def describe_change(self, new: FileVersion) -> str:
        return (
            f"size {self.size}->{new.size}, mtime_ns {self.mtime_ns}->{new.mtime_ns}, "
            f"inode {self.inode}->{new.inode}"
        )

    @classmethod
    def of(cls, st: os.stat_result) -> FileVersion:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file as the scanner saw it."""

    path: str  # absolute path, as str (os.fsdecode for non-UTF-8 names)
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None = None

    @property
    def version(self) -> FileVersion:
        return FileVersion(self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True, slots=True)
class Chapter:
    """One chapter of a video: where it starts (seconds) and what it is called."""

    start: float  # seconds from the beginning, >= 0
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where the media was made (WGS 84 degrees; north and east positive)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """The item's thumbnail: a video frame (`time`, seconds) or an image (`file`, a name in
    the media file's folder). Exactly one is set. `image_sha256` is the image's content
    (set when the metadata is read), so an edited image is a changed thumbnail."""

    time: float | None = None
    file: str | None = None
    image_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the remote item should look like. Tags exclude the identity marker.

    `chapters`, `coordinates` and `thumbnail` are None when no layer gives them: they
    then leave `digest()` as it was before they existed, so items without them keep
    their applied digest.
    """

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    albums: tuple[str, ...] = ()  # album titles; resolved to album_id remotely
    publish: bool = True
    publish_date: str | None = None
    custom: tuple[tuple[str, str], ...] = ()  # custom photo variables, sorted
    chapters: tuple[Chapter, ...] | None = None  # sorted by start; () = "no chapters"
    coordinates: Coordinates | None = None
    thumbnail: Thumbnail | None = None

    def digest(self) -> str:
        """Stable hash of the desired state: changes iff the metadata changes."""
        return _metadata_digest(self)


# The same metadata is digested over and over (a folder's config layer once per file in
# every signature; a file's metadata in the scan, the worker and the metadata stage):
# equal values have equal digests, so they are worked out once.
@functools.lru_cache(maxsize=4096)
def _metadata_digest(meta: Metadata) -> str:
    fields: dict[str, object] = {
        "title": meta.title,
        "description": meta.description,
        "tags": sorted(set(meta.tags)),
        "albums": sorted(set(meta.albums)),
        "publish": meta.publish,
        "publish_date": meta.publish_date,
        "custom": sorted(meta.custom),
    }
    # Only when set, so that digests of metadata without them stay what they were.
    if meta.chapters is not None:
        fields["chapters"] = [[c.start, c.title, c.description] for c in meta.chapters]
    if meta.coordinates is not None:
        fields["coordinates"] = [meta.coordinates.latitude, meta.coordinates.longitude]
    if meta.thumbnail is not None:
        thumb = meta.thumbnail
        image = [] if thumb.image_sha256 is None else [thumb.image_sha256]
        fields["thumbnail"] = [thumb.time, thumb.file, *image]
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """An item on the site, as photo/list describes it (values parsed).

    None means "the answer did not say". The documented list answer carries the counts
    `number_of_tags` and `number_of_albums` but never the tags or albums themselves (spec
    section 10): `tags` is None unless a site happened to send them, and no decision may
    depend on it. Times are as the site writes them (`YYYY-MM-DD HH:MM:SS`, in the site's
    own zone, which the answer does not name), so they are naive datetimes.
    """

    photo_id: str
    title: str = ""
    token: str = ""
    tree_id: str = ""
    published: bool | None = None
    video_encoded: bool | None = None
    tags: tuple[str, ...] | None = None
    video: bool | None = None  # `video_p`: a video (transcoded after upload)
    original_size: int | None = None
    description: str | None = None  # `content`: safe HTML as the site stores it
    number_of_tags: int | None = None  # includes syncd's identity marker
    number_of_albums: int | None = None
    video_length: float | None = None  # seconds
    created: datetime | None = None  # `creation_date_ansi`: when the item was uploaded
    original_date: datetime | None = None  # `original_date_ansi`: when it was recorded
    publish_date: datetime | None = None  # `publish_date_ansi`, where a site sends it


@dataclass(frozen=True, slots=True)
class RemoteSection:
    """A section (chapter) of a video on the site, as photo/section/list describes it."""

    section_id: str
    start: float  # seconds
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What an upload call returns."""

    photo_id: str
    tree_id: str = ""
    token: str = ""


# --- journal rows -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRow:
    """One `files` row. Paths are str (os.fsdecode form)."""

    path: str
    root: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None
    state: ItemState
    photo_id: str | None
    attempts: int
    error_code: str | None
    error_message: str | None
    next_attempt_at: float | None
    lease_owner: str | None
    lease_until: float | None
    stable_since: float | None
    duplicate_of: str | None
    desired_digest: str | None
    applied_digest: str | None
    upload_mode: str | None
    created_at: float
    updated_at: float
    uploaded_sha256: str | None = None  # the content photo_id holds
    parks: int = 0  # retry rounds that ended parked
    meta_sig: str | None = None  # fingerprint of what the desired metadata is made of
    applied_parts: str | None = None  # JSON: what the metadata stage applied, part by part

    @property
    def version(self) -> FileVersion:
        return FileVersion(self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only event log. A None state means "no row"."""

    id: int
    at: float
    path: str
    from_state: ItemState | None
    to_state: ItemState | None
    detail: str


@dataclass(frozen=True, slots=True)
class ChunkSession:
    """A resumable (token + Resumable.js) upload in progress."""

    path: str
    upload_token: str
    identifier: str
    chunk_size: int
    total_size: int
    total_chunks: int
    valid_until: float | None
    created_at: float
    acked: frozenset[int]
    sha256: str | None = None  # the content being uploaded (None: unknown, older journal)


# --- reconcile policy ---------------------------------------------------------


class OnRemoteMissing(StrEnum):
    """A synced file whose remote item is gone from the site."""

    REUPLOAD = "reupload"
    REPORT = "report"


class OnDrift(StrEnum):
    """A remote item whose metadata differs from the desired metadata."""

    REAPPLY = "reapply"
    REPORT = "report"


class OnLocalDelete(StrEnum):
    """A local file deleted after its upload."""

    KEEP = "keep"
    UNPUBLISH = "unpublish"
    DELETE = "delete"


class OnChange(StrEnum):
    """A synced file whose content changed at the same path (push, watch and reconcile)."""

    REPLACE = "replace"  # photo_id, page and embeds kept; the media and marker replaced
    NEW = "new"  # uploaded as a new item; the old one stays as it is
    REPORT = "report"  # nothing sent; the file fails with CONTENT_CHANGED until decided


# Deletions one reconcile may make before it makes none (as rclone's --max-delete): an
# archive that is half unmounted, or a folder renamed away, must not empty the site. A
# hundred covers routine pruning; a larger clean-up raises it for one run (--max-delete).
DEFAULT_MAX_DELETE = 100
# An upload still not transcoded this long after it was made is reported (seconds). Hours
# of 4K footage can take an hour or two on a busy site; six hours is well past normal.
DEFAULT_TRANSCODING_TIMEOUT = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """The `[reconcile]` table, validated once by the config: what to do with each kind of
    difference between the archive and the site (see docs/reconcile.md)."""

    on_remote_missing: OnRemoteMissing = OnRemoteMissing.REUPLOAD
    on_drift: OnDrift = OnDrift.REAPPLY
    on_local_delete: OnLocalDelete = OnLocalDelete.KEEP
    on_change: OnChange = OnChange.REPLACE
    max_delete: int = DEFAULT_MAX_DELETE
    transcoding_timeout: float = DEFAULT_TRANSCODING_TIMEOUT
