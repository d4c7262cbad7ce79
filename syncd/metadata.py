"""Executes metadata actions: resolve album titles to ids, bring an uploaded item in line.

A direct upload or upload token already carries title, description, tags,
albums and publish flag, so most items go from `uploaded` to `synced` with no
request at all. An item found by its identity marker (an earlier attempt that
landed) gets one `photo/update`, because its metadata may predate a sidecar edit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from syncd.api.client import Client
from syncd.journal import FileRow, Journal
from syncd.model import ItemState, Metadata
from syncd.plan.upload import upload_fields
from syncd.progress import ProgressSink

log = logging.getLogger(__name__)

# One process creates each missing album once, whatever the worker count.
_ALBUM_LOCK = threading.Lock()


def resolve_albums(journal: Journal, client: Client, titles: Iterable[str]) -> dict[str, str]:
    """Album title -> album_id, creating albums that do not exist yet."""
    wanted = list(dict.fromkeys(titles))
    ids: dict[str, str] = {}
    with _ALBUM_LOCK:
        for title in wanted:
            known = journal.album_id(title)
            if known is None:
                known = _find_album(client, title)
                if known is None:
                    known = str(client.album_create(title)["album_id"])
                    log.info("created album %r as %s", title, known)
                journal.remember_album(title, known)
            ids[title] = known
    return ids


def _find_album(client: Client, title: str) -> str | None:
    for album in client.iter_albums(search=title, include_hidden_p="1"):
        if str(album.get("title", "")) == title:
            return str(album["album_id"])
    return None


class MetadataApplier:
    def __init__(
        self, journal: Journal, client: Client, *, owner: str, progress: ProgressSink
    ) -> None:
        self.journal = journal
        self.client = client
        self.owner = owner
        self.progress = progress

    def finish(
        self,
        row: FileRow,
        meta: Metadata,
        album_ids: dict[str, str],
        *,
        sent_with_upload: bool,
    ) -> ItemState:
        """`uploaded` -> `synced`, applying metadata that the upload did not carry."""
        assert row.photo_id and row.sha256
        if not sent_with_upload:
            fields = upload_fields(meta, row.sha256, album_ids)
            fields["published_p"] = fields.pop("publish")
            self.client.photo_update(row.photo_id, **fields)
        digest = meta.digest()
        self.journal.transition(
            row.path,
            ItemState.UPLOADED,
            ItemState.SYNCED,
            detail="metadata applied" if not sent_with_upload else "metadata sent with upload",
            applied_digest=digest,
            desired_digest=digest,
        )
        self.progress.file_finished(row.path, "synced", row.photo_id)
        return ItemState.SYNCED
