"""Direct uploads: one streamed multipart `photo/upload` carrying file and metadata."""

from __future__ import annotations

import logging

from syncd.api.body import FileSlice
from syncd.errors import SyncdError
from syncd.model import FileRow, Metadata, RemoteItem
from syncd.plan.upload import UploadPlan
from syncd.text import printable
from syncd.upload.core import Outcome, Uploader, may_have_landed

log = logging.getLogger(__name__)


def upload_direct(
    up: Uploader, row: FileRow, plan: UploadPlan, meta: Metadata, meta_sig: str | None
) -> Outcome:
    """Upload one claimed row with photo/upload as `plan` says; returns where it left the row.

    Nothing de-duplicates a direct upload on the platform, so before any
    attempt that follows one whose outcome is unknown (a crash, a cut after
    the body was sent, a timeout waiting for the answer) the site is asked by
    identity marker whether the earlier attempt landed.
    """
    assert row.sha256, f"{row.path}: claimed without a hash"
    sha256 = row.sha256
    guard = up.guard(row)
    # attempts counts claims; >1 means an earlier claim's attempt may have landed.
    check_first = row.attempts > 1

    def attempt() -> tuple[RemoteItem, bool]:
        nonlocal check_first
        if check_first:
            landed = up.find_landed(sha256, path=row.path)
            if landed is not None:
                log.info(
                    "%s: earlier attempt landed as photo %s", printable(row.path), landed.photo_id
                )
                up.progress.note(
                    f"found earlier upload of {printable(row.path)}: photo {landed.photo_id}"
                )
                return landed, True
        guard.rollback()
        guard.check_unchanged()
        try:
            result = up.client.photo_upload(FileSlice(row.path, on_read=guard), plan.fields)
        except SyncdError as exc:
            check_first = check_first or may_have_landed(exc)
            raise
        item = RemoteItem(photo_id=result.photo_id, token=result.token, tree_id=result.tree_id)
        return item, False

    return up.run_attempts(row, plan, attempt, guard, meta, meta_sig)
