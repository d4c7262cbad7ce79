"""Which metadata an upload can be said to have set, and which it only sent.

The pages document `publish_date` for `photo/upload` alone, with no format, and not for
`photo/get-upload-token` or `photo/update` (spec section 10): whatever is sent may be
dropped without a word. So after an upload that sent a `publish_date` it is read back
where the site's list answer carries it (`publish_date_ansi`; the documented example does
not). It counts as applied only when the site shows the date that was sent; otherwise
the journal records it as unconfirmed (`syncd status` lists such files), the upload's
event says so, and the run warns once. The file is still `synced`: everything else was
applied, and sending the date again could not confirm it either.

docs/upload-modes.md is the table of what each mode guarantees and how.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from syncd.errors import SyncdError
from syncd.journal import Journal
from syncd.model import FileRow, RemoteItem, UploadMode
from syncd.plan.upload import UploadPlan
from syncd.text import printable

log = logging.getLogger(__name__)

PUBLISH_DATE = "publish_date"
# Upload requests whose page documents publish_date (spec section 6).
DOCUMENTS_PUBLISH_DATE = frozenset({UploadMode.DIRECT})
REQUEST_OF_MODE = {
    UploadMode.DIRECT: "photo/upload",
    UploadMode.TOKEN: "photo/get-upload-token",
    UploadMode.CHUNKED: "photo/get-upload-token",
}


def shows_date(sent: str, seen: dt.datetime) -> bool:
    """Whether the site's time `seen` is the date (YYYY-MM-DD) or time (YYYY-MM-DD
    HH:MM:SS) that was sent. Both are in the site's own zone."""
    try:
        wanted = dt.datetime.fromisoformat(sent.strip())
    except ValueError:
        return False
    if len(sent.strip()) <= len("YYYY-MM-DD"):
        return seen.date() == wanted.date()
    return seen.replace(microsecond=0) == wanted.replace(tzinfo=None, microsecond=0)


class FieldCheck:
    """Reads back what can be read back after an upload; shared by a run's workers."""

    def __init__(self, journal: Journal, *, warn_once: Callable[[str, str], None]) -> None:
        self._journal = journal
        self._warn_once = warn_once

    def after_upload(
        self,
        row: FileRow,
        plan: UploadPlan,
        item: RemoteItem,
        read: Callable[[str], RemoteItem | None],
    ) -> str | None:
        """What the upload of `row` as `item` sent but the site does not confirm (recorded
        in the journal), or None when everything it sent is confirmed or documented."""
        request = REQUEST_OF_MODE.get(plan.mode, "the upload")
        documented = plan.mode in DOCUMENTS_PUBLISH_DATE
        return self._check(row, plan.fields.get(PUBLISH_DATE), item, read, request, documented)

    def after_update(
        self,
        row: FileRow,
        fields: Mapping[str, str],
        read: Callable[[str], RemoteItem | None],
    ) -> str | None:
        """The same after the metadata stage's photo/update (which does not document
        publish_date): read back, or recorded as unconfirmed."""
        if PUBLISH_DATE not in fields or row.photo_id is None:
            return None  # an update without the date says nothing new about it
        item = RemoteItem(photo_id=row.photo_id)
        return self._check(row, fields[PUBLISH_DATE], item, read, "photo/update", False)

    def _check(
        self,
        row: FileRow,
        sent: str | None,
        item: RemoteItem,
        read: Callable[[str], RemoteItem | None],
        request: str,
        documented: bool,
    ) -> str | None:
        if not sent:
            self._journal.clear_unconfirmed(row.path)
            return None
        seen = item.publish_date
        if seen is None:
            try:
                listed = read(item.photo_id)
            except SyncdError as exc:
                # A stop or refused credentials included: the upload's record comes first.
                log.info("%s: could not read photo %s back: %s", row.path, item.photo_id, exc)
                listed = None
            seen = listed.publish_date if listed is not None else None
        if seen is not None and shows_date(sent, seen):
            self._journal.clear_unconfirmed(row.path)
            return None
        how = (
            f"{request} documents it without a format"
            if documented
            else f"{request} does not document it"
        )
        if seen is None:
            why = (
                f"publish_date {sent} sent, not confirmed: the site's list answer does not "
                f"show it ({how})"
            )
        else:
            why = (
                f"publish_date {sent} sent, but the site shows {seen:%Y-%m-%d %H:%M:%S}: "
                f"not applied ({how})"
            )
        self._journal.note_unconfirmed(row.path, [PUBLISH_DATE], why)
        self._warn_once(
            "unconfirmed-publish-date",
            "publish_date is sent but the site does not confirm it "
            f"(first: {printable(row.path)}: {why}); `syncd status` lists the files, "
            "docs/upload-modes.md says what each upload mode guarantees",
        )
        return why
