"""Direct uploads: one streamed multipart `photo/upload` carrying file and metadata."""

from __future__ import annotations

import logging

from syncd.errors import SyncdError
from syncd.model import FileRow, Metadata, RemoteItem
from syncd.plan.upload import UploadPlan
from syncd.upload.core import Outcome, Uploader, may_have_landed

log = logging.getLogger(__name__)


def upload_direct(
    up: Uploader, row: FileRow, plan: UploadPlan, meta: Metadata, meta_sig: str | None
) -> Outcome:
    """Upload one claimed row with photo/upload as `plan` says; returns where it left the row.

    Nothing de-duplicates a direct upload on the platform, so the site is asked by
    identity marker before the first attempt (another host, a lost journal) and before
    any attempt that follows one whose outcome is unknown (a crash, a cut after the body
    was sent, a timeout waiting for the answer).
    """
    assert row.sha256, f"{row.path}: claimed without a hash"
    guard = up.guard(row)
    # attempts counts claims; >1 means an earlier claim's attempt may have landed.
    earlier = row.attempts > 1
    check_first = up.ask_first or earlier
    # The title the attempts that may have landed sent: known only when all of them were
    # made by this claim, with this plan (an earlier claim's may have sent another).
    sent_title: str | None = None

    def attempt() -> tuple[RemoteItem, bool]:
        nonlocal check_first, earlier, sent_title
        if check_first:
            landed = up.find_landed(row, earlier_attempt=earlier, sent_title=sent_title)
            if landed is not None:
                up.found_earlier(row, landed, earlier_attempt=earlier)
                return landed, True
            check_first = False  # asked: not again unless an attempt may have landed
        guard.rollback()
        guard.check_unchanged()
        try:
            result = up.client.photo_upload(guard.body(), plan.fields)
        except SyncdError as exc:
            if may_have_landed(exc):
                if not earlier:  # the first attempt that may have landed: all are ours
                    sent_title = plan.fields.get("title")
                check_first = earlier = True
            raise
        item = RemoteItem(photo_id=result.photo_id, token=result.token, tree_id=result.tree_id)
        return item, False

    return up.run_attempts(row, plan, attempt, guard, meta, meta_sig)
