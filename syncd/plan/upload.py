"""Upload planning: mode, chunk layout, resume point, token lifetime, request fields, and the
plans `push --dry-run` prints and the executors follow (no I/O here). Metadata plans for
items already on the site are in syncd.plan.metadata."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from syncd.model import (
    DEFAULT_TAG_JOINER,
    ChunkSession,
    FileRow,
    Metadata,
    OnChange,
    UploadMode,
    identity_tag,
)

# The platform's bounds for get-upload-token's valid_minutes (spec section 6).
TOKEN_MIN_MINUTES = 15
TOKEN_MAX_MINUTES = 1440
# A token must outlive a slow upload plus resumes after a crash or a reboot:
# give it three times the expected transfer time, plus a fixed margin.
TOKEN_TIME_FACTOR = 3.0
TOKEN_MARGIN_MINUTES = 30
# Rate assumed before anything was measured: a slow office uplink (2 MiB/s).
DEFAULT_RATE_BYTES_PER_S = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """One Resumable.js chunk: 1-based number, byte offset and length."""

    number: int
    offset: int
    length: int

    def __str__(self) -> str:
        return f"chunk {self.number} @{self.offset}+{self.length}"


def choose_mode(size: int, mode: UploadMode, chunk_threshold: int) -> UploadMode:
    """Resolve `auto`: chunked at or above the threshold, direct below."""
    if mode is UploadMode.AUTO:
        return UploadMode.CHUNKED if size >= chunk_threshold else UploadMode.DIRECT
    return mode


def chunk_count(total_size: int, chunk_size: int) -> int:
    """Resumable.js's default arithmetic: the last chunk carries the remainder."""
    if chunk_size <= 0:
        raise ValueError(f"chunk size must be positive, got {chunk_size}")
    return max(1, total_size // chunk_size)


def chunk_layout(total_size: int, chunk_size: int) -> list[Chunk]:
    """Every chunk of a file, per spec section 6 (last one 1..2 chunk sizes long)."""
    n = chunk_count(total_size, chunk_size)
    chunks = [Chunk(i, (i - 1) * chunk_size, chunk_size) for i in range(1, n)]
    last_offset = (n - 1) * chunk_size
    chunks.append(Chunk(n, last_offset, total_size - last_offset))
    return chunks


def chunks_to_send(layout: Iterable[Chunk], acknowledged: Iterable[int]) -> list[Chunk]:
    """The chunks the site has not acknowledged, in order: where a resume starts."""
    done = set(acknowledged)
    return [c for c in layout if c.number not in done]


def resumable_params(
    chunk: Chunk,
    *,
    chunk_size: int,
    total_size: int,
    total_chunks: int,
    identifier: str,
    filename: str,
    relative_path: str,
    content_type: str,
) -> dict[str, str]:
    """The Resumable.js form fields for one chunk (spec section 6)."""
    return {
        "resumableChunkNumber": str(chunk.number),
        "resumableChunkSize": str(chunk_size),
        "resumableCurrentChunkSize": str(chunk.length),
        "resumableTotalSize": str(total_size),
        "resumableTotalChunks": str(total_chunks),
        "resumableIdentifier": identifier,
        "resumableFilename": filename,
        "resumableRelativePath": relative_path,
        "resumableType": content_type,
    }


def token_valid_minutes(size: int, rate_bytes_per_s: float | None) -> int:
    """valid_minutes for get-upload-token, sized from file size and measured rate."""
    rate = rate_bytes_per_s if rate_bytes_per_s and rate_bytes_per_s > 0 else None
    seconds = size / (rate or DEFAULT_RATE_BYTES_PER_S)
    minutes = math.ceil(seconds * TOKEN_TIME_FACTOR / 60) + TOKEN_MARGIN_MINUTES
    return max(TOKEN_MIN_MINUTES, min(TOKEN_MAX_MINUTES, minutes))


def upload_fields(
    meta: Metadata,
    sha256: str,
    album_ids: Mapping[str, str],
    *,
    single_album: bool = False,
    tag_joiner: str = DEFAULT_TAG_JOINER,
) -> dict[str, str]:
    """Form fields for photo/upload (`single_album`), get-upload-token or photo/update.

    The identity marker rides in `tags` in the same request that creates the
    item, so an upload that landed can always be found again.
    """
    fields: dict[str, str] = {}
    if meta.title:
        fields["title"] = meta.title
    if meta.description:
        fields["description"] = meta.description
    fields["tags"] = tags_field((*meta.tags, identity_tag(sha256)), tag_joiner)
    ids = album_id_list(meta, album_ids)
    if single_album:
        ids = ids[:1]  # photo/upload takes one album; the rest follow by photo/update
    if ids:
        fields["album_id"] = ",".join(ids)
    fields["publish"] = "1" if meta.publish else "0"
    if meta.publish_date:
        fields["publish_date"] = meta.publish_date
    for key, value in meta.custom:
        fields[key] = value
    return fields


def tag_for_site(tag: str, joiner: str = DEFAULT_TAG_JOINER) -> str:
    """The tag as it is sent: its words joined by `joiner` (see DEFAULT_TAG_JOINER)."""
    return joiner.join(tag.split())


def tags_field(tags: Iterable[str], joiner: str = DEFAULT_TAG_JOINER) -> str:
    """Space-separated tags, each multi-word tag's words joined by `joiner`, once each."""
    return " ".join(dict.fromkeys(sent for t in tags if (sent := tag_for_site(t, joiner))))


def joined_tags(tags: Iterable[str], joiner: str = DEFAULT_TAG_JOINER) -> list[tuple[str, str]]:
    """(tag, as sent) for every tag the joining rule changes (for a warning)."""
    return [(t, sent) for t in dict.fromkeys(tags) if (sent := tag_for_site(t, joiner)) != t]


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """The run's upload settings that decide a plan (validated by config and CLI)."""

    mode: UploadMode  # may be `auto`: resolved per file by size
    chunk_threshold: int
    chunk_size: int
    # What a file whose content changed since its upload gets ([reconcile] on_change).
    on_change: OnChange = OnChange.REPLACE
    tag_joiner: str = DEFAULT_TAG_JOINER  # joins a multi-word tag's words


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """How one file goes up: what `push --dry-run` prints and what the executor follows.

    `fields` ride with the upload request (photo/upload, or get-upload-token for the token
    modes); `follow_up`, when set, is one photo/update right after it (a direct upload
    takes one album; the rest follow). A session that was begun is continued with the
    mode, chunk size and token it began with (`resume_from`: the first chunk not yet
    acknowledged).

    Two plans for a file whose content changed since its item was uploaded (`on_change`):
    `replaces` names that item: its media is replaced through a replace token (mode token,
    no fields: the token takes none), and `follow_up` sets every piece of metadata with
    the identity marker of the new content. `hold` says why nothing is sent at all (the
    file fails with CONTENT_CHANGED).
    """

    path: str
    size: int
    mode: UploadMode  # direct, token or chunked: never auto
    chunk_size: int
    fields: Mapping[str, str]
    follow_up: Mapping[str, str] | None = None
    resume_from: int | None = None  # first chunk to send when resuming
    replaces: str | None = None  # photo_id whose media this content replaces
    hold: str | None = None  # nothing is sent: why

    @property
    def carries_all(self) -> bool:
        """Whether the upload request sets every piece of metadata by itself."""
        return self.follow_up is None

    def __str__(self) -> str:
        if self.hold is not None:
            return f"hold {self.path}: {self.hold}"
        if self.replaces is not None:
            text = f"replace photo {self.replaces} with {self.path} [{self.size} B]"
            if self.follow_up is not None:
                text += f"; then update {describe_fields(self.follow_up)}"
            return text
        what = f"upload {self.mode.value}"
        if self.mode is UploadMode.CHUNKED:
            n = chunk_count(self.size, self.chunk_size)
            what += f" ({n} chunks of {self.chunk_size} B"
            if self.resume_from and self.resume_from > 1:
                what += f", resume at chunk {self.resume_from}"
            what += ")"
        elif self.resume_from:
            what += " (resume)"
        text = f"{what} {self.path} [{self.size} B] {describe_fields(self.fields)}"
        if self.follow_up is not None:
            text += f"; then update {describe_fields(self.follow_up)}"
        return text


def describe_fields(fields: Mapping[str, str]) -> str:
    """`key='value'` pairs in key order; the description (long HTML) shown by length only."""
    parts = []
    for key, value in sorted(fields.items()):
        if key == "description":
            parts.append(f"description=<{len(value)} chars>")
        else:
            parts.append(f"{key}={value!r}")
    return " ".join(parts)


def resume_mode(session: ChunkSession | None, sha256: str | None) -> UploadMode | None:
    """The mode an unfinished session continues in (None: nothing to continue).

    A session holds one content: begun for other bytes, it is not continued."""
    if session is None or session.sha256 not in (None, sha256):
        return None
    whole = session.total_chunks == 1 and session.chunk_size >= session.total_size
    return UploadMode.TOKEN if whole else UploadMode.CHUNKED


def content_changed(row: FileRow) -> bool:
    """Whether the row's content differs from what its remote item holds (a file rewritten
    at the same path after its upload)."""
    return bool(
        row.photo_id and row.sha256 and row.uploaded_sha256 and row.sha256 != row.uploaded_sha256
    )


def plan_upload(
    row: FileRow,
    session: ChunkSession | None,
    meta: Metadata,
    album_ids: Mapping[str, str],
    settings: UploadSettings,
) -> UploadPlan:
    """The plan for a claimed (or, in a dry run, a queued) row."""
    sha256 = row.sha256 or ""
    mode = resume_mode(session, row.sha256)
    if mode is None and content_changed(row):
        changed = plan_changed(row, meta, album_ids, settings)
        if changed is not None:
            return changed
    resume_from: int | None = None
    chunk_size = settings.chunk_size
    if mode is not None and session is not None:
        chunk_size = session.chunk_size
        layout = chunk_layout(session.total_size, session.chunk_size)
        todo = chunks_to_send(layout, session.acked)
        resume_from = todo[0].number if todo else session.total_chunks
    else:
        mode = choose_mode(row.size, settings.mode, settings.chunk_threshold)
    direct = mode is UploadMode.DIRECT
    fields = upload_fields(
        meta, sha256, album_ids, single_album=direct, tag_joiner=settings.tag_joiner
    )
    follow_up = None
    ids = album_id_list(meta, album_ids)
    if direct and len(ids) > 1:
        follow_up = {"album_id": ",".join(ids)}
    return UploadPlan(
        path=row.path,
        size=row.size,
        mode=mode,
        chunk_size=chunk_size,
        fields=fields,
        follow_up=follow_up,
        resume_from=resume_from,
    )


def plan_changed(
    row: FileRow, meta: Metadata, album_ids: Mapping[str, str], settings: UploadSettings
) -> UploadPlan | None:
    """A changed file's plan as `on_change` says; None for "upload as a new item" (the
    ordinary plan). A session begun for the new content is continued instead (see
    plan_upload): it may have landed as a new item already."""
    assert row.photo_id
    if settings.on_change is OnChange.NEW:
        return None
    if settings.on_change is OnChange.REPORT:
        why = (
            f"content changed since photo {row.photo_id} was uploaded; "
            '[reconcile] on_change = "report" leaves the item as it is'
        )
        return UploadPlan(row.path, row.size, UploadMode.TOKEN, row.size, {}, hold=why)
    return UploadPlan(
        path=row.path,
        size=row.size,
        mode=UploadMode.TOKEN,
        chunk_size=max(1, row.size),
        fields={},
        follow_up=update_fields(meta, row.sha256 or "", album_ids, settings.tag_joiner),
        replaces=row.photo_id,
    )


def update_fields(
    meta: Metadata,
    sha256: str,
    album_ids: Mapping[str, str],
    tag_joiner: str = DEFAULT_TAG_JOINER,
) -> dict[str, str]:
    """photo/update's fields for all of `meta`, with the identity marker of `sha256`."""
    fields = upload_fields(meta, sha256, album_ids, tag_joiner=tag_joiner)
    fields["published_p"] = fields.pop("publish")
    return fields


def album_id_list(meta: Metadata, album_ids: Mapping[str, str]) -> list[str]:
    """The ids of the file's albums, in the order the metadata names them, once each."""
    return list(dict.fromkeys(album_ids[a] for a in meta.albums if a in album_ids))
