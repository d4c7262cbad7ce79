"""Album titles to album ids on the site: looked up, created once, remembered in the journal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from syncd.api.client import Client
from syncd.errors import NotFound
from syncd.journal import Journal

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
