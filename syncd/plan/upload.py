"""Upload planning: mode, chunk layout, resume point, token lifetime, request fields."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from syncd.model import Metadata, UploadMode, identity_tag

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
    meta: Metadata, sha256: str, album_ids: Mapping[str, str], *, single_album: bool = False
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
    fields["tags"] = tags_field((*meta.tags, identity_tag(sha256)))
    ids = list(dict.fromkeys(album_ids[a] for a in meta.albums if a in album_ids))
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


def upload_carries_all(meta: Metadata, mode: UploadMode) -> bool:
    """Whether the upload request itself sets every piece of metadata."""
    return mode is not UploadMode.DIRECT or len(set(meta.albums)) <= 1


def tags_field(tags: Iterable[str]) -> str:
    """Space-separated tags; a multi-word tag is quoted (spec: tags filter)."""
    out = []
    for tag in dict.fromkeys(tags):
        out.append(f'"{tag}"' if " " in tag else tag)
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """What `push --dry-run` prints for one file, and what the executor follows."""

    path: str
    size: int
    mode: UploadMode
    chunk_size: int
    fields: Mapping[str, str]
    resume_from: int | None = None  # first chunk to send when resuming

    def __str__(self) -> str:
        what = f"upload {self.mode.value}"
        if self.mode is UploadMode.CHUNKED:
            n = chunk_count(self.size, self.chunk_size)
            what += f" ({n} chunks of {self.chunk_size} B"
            if self.resume_from and self.resume_from > 1:
                what += f", resume at chunk {self.resume_from}"
            what += ")"
        shown = {k: v for k, v in self.fields.items() if k != "description"}
        desc = " ".join(f"{k}={v!r}" for k, v in sorted(shown.items()))
        return f"{what} {self.path} [{self.size} B] {desc}"
