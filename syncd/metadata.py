"""Executes metadata actions: resolve album titles to ids, bring an uploaded item in line.

A direct upload or upload token already carries title, description, tags,
albums and publish flag, so most items go straight from `uploading` to `synced`
(see upload/core.py). A row reaches `uploaded` only when something is left: a
second album (photo/upload takes one), or an item found by its identity marker
(an earlier attempt that landed, its metadata maybe older than a sidecar edit).
Those get one `photo/update` here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from syncd.api.client import Client
from syncd.errors import NotFound
from syncd.journal import FileRow, Journal
from syncd.model import ItemState, Metadata
from syncd.plan.upload import upload_fields
from syncd.progress import ProgressSink

log = logging.getLogger(__name__)


class AlbumResolver:
    """Album title -> album_id for one run, shared by its workers.

    Ids cached in the journal are checked against the site once per run, so an
    album deleted on the site since the last run is found or created again
    instead of failing every upload into it; a missing album is created once,
    whatever the worker count.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self._checked: dict[str, str] = {}

    def resolve(self, client: Client, titles: Iterable[str]) -> dict[str, str]:
        ids: dict[str, str] = {}
        with self._lock:
            for title in dict.fromkeys(titles):
                if title not in self._checked:
                    self._checked[title] = self._lookup(client, title)
                ids[title] = self._checked[title]
        return ids

    def _lookup(self, client: Client, title: str) -> str:
        known = self.journal.album_id(title)
        if known is not None and not _album_exists(client, known):
            log.warning("album %r (%s) is gone from the site; looking it up again", title, known)
            self.journal.forget_album(title)
            known = None
        if known is None:
            known = _find_album(client, title)
            if known is None:
                known = str(client.album_create(title)["album_id"])
                log.info("created album %r as %s", title, known)
            self.journal.remember_album(title, known)
        return known


def _album_exists(client: Client, album_id: str) -> bool:
    try:
        page = client.album_list(album_id=album_id, include_hidden_p="1")
    except NotFound:
        return False
    return any(str(a.get("album_id")) == album_id for a in page.items)


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
    ) -> ItemState:
        """`uploaded` -> `synced`: one photo/update with all the desired metadata."""
        assert row.photo_id and row.sha256
        fields = upload_fields(meta, row.sha256, album_ids)
        fields["published_p"] = fields.pop("publish")
        self.client.photo_update(row.photo_id, **fields)
        digest = meta.digest()
        self.journal.transition(
            row.path,
            ItemState.UPLOADED,
            ItemState.SYNCED,
            detail="metadata applied",
            applied_digest=digest,
            desired_digest=digest,
        )
        self.progress.file_finished(row.path, "synced", row.photo_id)
        return ItemState.SYNCED
