"""Replacing a remote item's media: the plans `plan_changed` makes for a file whose content
changed at the same path since its upload.

`photo/replace` cannot do it for videos: its page says "you won't be able to replace an
actual video on 23 Video, only the thumbnail associated with the video". A replace token
can ("a replacement upload of either a video, a thumbnail for a video or a photo"), so
every replacement goes `photo/get-replace-token` (max_uploads=1) then one whole-file
`photo/redeem-replace-token`, and the plan's follow-up `photo/update` then sets the
metadata with the identity marker of the new content.

Order matters for the marker: it changes only after the site holds the new bytes, so an
item never carries a marker for content it does not have. A crash between the two leaves
the row `uploading` (recovered to `retry`): the next attempt replaces again, which gives
the same item the same bytes (a replacement creates nothing, so repeating one is safe, and
no "did it land?" question is needed).

The redeem's answer: the token carries a `return_url` (never visited: the site redirects
to it), so success and failure come back as the documented 301 whose `Location` holds
`photo_id` or `error_message`. A plain answer without a redirect is the documented "plain,
unstyled error message" for a token that is invalid, consumed or expired, whatever its
status: the next attempt asks for a new token.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from syncd.api.client import RedeemAnswer
from syncd.errors import ApiError, TransportError, UntrustedAnswer
from syncd.model import CONTENT_CHANGED, FileRow, Metadata, RemoteItem
from syncd.plan.metadata import AppliedParts, fields_digest, goal_parts, parts_after_replace
from syncd.plan.upload import UploadPlan, token_valid_minutes
from syncd.text import printable
from syncd.upload.core import Outcome, Uploader

log = logging.getLogger(__name__)

# Where the replace token's redirect points. The client never follows it: the redirect's
# Location is the answer. A path on the site itself, so nothing else is ever named.
RETURN_PATH = "/syncd/replaced"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ReplaceTokenRefused(TransportError):
    """No redirect: the site refused the replace token (invalid, used up or expired). A new
    token may work; the bytes were not taken under this one."""


class ReplaceRefused(ApiError):
    """The site took the replace token but not the file (`error_message` in the redirect)."""


def hold(up: Uploader, row: FileRow, plan: UploadPlan) -> Outcome:
    """A changed file that `on_change = "report"` keeps off the site: it fails, saying why."""
    assert plan.hold is not None
    return up.fail(row, CONTENT_CHANGED, plan.hold)


def replace_media(
    up: Uploader, row: FileRow, plan: UploadPlan, meta: Metadata, meta_sig: str | None
) -> Outcome:
    """Replace the media of `plan.replaces` with the claimed row's file, then set its
    metadata and identity marker; returns where it left the row (`synced` keeps the
    photo_id). An item gone from the site fails the row with no_such_photo (reconcile
    decides what then, by `on_remote_missing`)."""
    photo_id = plan.replaces
    assert photo_id is not None and row.sha256, f"{row.path}: not a replacement"
    guard = up.guard(row)
    return_url = f"{up.client.site.base_url}{RETURN_PATH}"

    def attempt() -> RemoteItem:
        minutes = token_valid_minutes(row.size, up.meter.rate)
        answer = up.client.get_replace_token(
            photo_id, valid_minutes=str(minutes), max_uploads="1", return_url=return_url
        )
        token = str(answer.get("replace_token") or "")
        if not token:
            raise UntrustedAnswer(f"photo/get-replace-token for photo {photo_id}: no token")
        guard.rollback()
        guard.check_unchanged()
        redeemed = up.client.redeem_replace_token(token, guard.body())
        return read_replace_answer(redeemed, photo_id)

    log.info("%s: replacing the media of photo %s", printable(row.path), photo_id)
    up.progress.file_started(row.path, row.size)
    started = time.monotonic()
    try:
        item = up.retry(row, attempt)
    except Exception as exc:
        guard.rollback()
        return up.settle(row, exc)
    up.meter.record(row.size, time.monotonic() - started)
    carried = up.follow_up(row, plan, item, after="media replaced")
    return _record(up, row, plan, meta, meta_sig, item, carried)


def _record(
    up: Uploader,
    row: FileRow,
    plan: UploadPlan,
    meta: Metadata,
    meta_sig: str | None,
    item: RemoteItem,
    carried: bool,
) -> Outcome:
    """The item now holds the row's content. It kept its sections and coordinates (a
    replacement swaps the media only) but brought a thumbnail of its own
    (`parts_after_replace`); its fields are applied when the follow-up went through. Parts
    still missing are the metadata stage's (the row waits in `uploaded`)."""
    # The fields' record goes too when the update failed: the item still carries the old
    # content's marker, which no metadata digest shows, so they must be sent again.
    parts = AppliedParts.parse(parts_after_replace(row.applied_parts))
    parts = replace(parts, fields=fields_digest(meta) if carried else None)
    to = up.record_landed(
        row,
        item,
        meta,
        meta_sig,
        done=parts == goal_parts(meta),
        applied_parts=parts.dumps(),
        detail=f"photo_id {item.photo_id}: media replaced with the new content",
    )
    return Outcome(to)


def read_replace_answer(answer: RedeemAnswer, photo_id: str) -> RemoteItem:
    """The item a replace redeem answered with; raises what the answer means otherwise."""
    method = "photo/redeem-replace-token"
    if answer.status not in REDIRECTS or not answer.location:
        text = " ".join(answer.text.split())[:200]
        raise ReplaceTokenRefused(
            f"{method}: HTTP {answer.status} without a redirect"
            + (f": {text!r}" if text else "")
            + "; asking for a new token"
        )
    query = parse_qs(urlsplit(answer.location).query)

    def one(name: str) -> str:
        values = query.get(name) or [""]
        return values[0]

    if one("error_message"):
        raise ReplaceRefused("error_processing_upload", one("error_message"), method=method)
    if one("photo_id") != photo_id:
        raise UntrustedAnswer(
            f"{method}: asked to replace photo {photo_id}, the site answered "
            f"photo_id {one('photo_id')!r}"
        )
    return RemoteItem(photo_id=photo_id, tree_id=one("tree_id"), token=one("token"))


__all__ = ["ReplaceRefused", "ReplaceTokenRefused", "hold", "read_replace_answer", "replace_media"]
