"""The upload executor: direct multipart uploads and upload tokens (whole or chunked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from syncd.api.client import Client
from syncd.model import FileRow, Metadata, UploadMode
from syncd.upload.core import Outcome, RetryPolicy, TransferGuard, Uploader
from syncd.upload.direct import upload_direct
from syncd.upload.token import TokenUpload


def upload_file(
    up: Uploader,
    row: FileRow,
    meta: Metadata,
    album_ids: Mapping[str, str],
    *,
    mode: UploadMode,
    chunk_size: int,
    chunk_concurrency: int,
    client_factory: Callable[[], Client],
) -> Outcome:
    """Upload one claimed row in the resolved `mode` (never `auto`)."""
    if mode is UploadMode.DIRECT:
        return upload_direct(up, row, meta, album_ids)
    return TokenUpload(
        up,
        row,
        meta,
        album_ids,
        chunked=mode is UploadMode.CHUNKED,
        chunk_size=chunk_size,
        chunk_concurrency=chunk_concurrency,
        client_factory=client_factory,
    ).execute()


__all__ = ["Outcome", "RetryPolicy", "TransferGuard", "Uploader", "upload_file"]
