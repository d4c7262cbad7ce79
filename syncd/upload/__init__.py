"""The upload executor: direct multipart uploads, upload tokens (whole or chunked) and media
replacements through a replace token, each following an `UploadPlan` (syncd.plan.upload)
step by step."""

from __future__ import annotations

from collections.abc import Callable

from syncd.api.client import Client
from syncd.model import FileRow, Metadata, UploadMode
from syncd.plan.upload import UploadPlan
from syncd.upload.core import Outcome, TransferGuard, Uploader
from syncd.upload.direct import upload_direct
from syncd.upload.replace import hold, replace_media
from syncd.upload.token import TokenUpload


def upload_file(
    up: Uploader,
    row: FileRow,
    plan: UploadPlan,
    meta: Metadata,
    meta_sig: str | None,
    *,
    chunk_concurrency: int,
    client_factory: Callable[[], Client],
) -> Outcome:
    """Upload one claimed row as `plan` says (its mode is never `auto`)."""
    if plan.hold is not None:
        return hold(up, row, plan)
    if plan.replaces is not None:
        return replace_media(up, row, plan, meta, meta_sig)
    if plan.mode is UploadMode.DIRECT:
        return upload_direct(up, row, plan, meta, meta_sig)
    return TokenUpload(
        up,
        row,
        plan,
        meta,
        meta_sig,
        chunk_concurrency=chunk_concurrency,
        client_factory=client_factory,
    ).execute()


__all__ = ["Outcome", "TransferGuard", "Uploader", "upload_file"]
