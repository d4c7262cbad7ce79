"""Album titles to album ids on the site: looked up, created once, remembered in the journal.

Creating an album is claimed in the journal first, so two processes sharing one journal (a
push beside `syncd watch`, or `syncd reconcile`) that both miss the cache create it once:
the claimant looks on the site, creates the album only if it is not there, and records the
id; the others wait for that id. A claim whose holder died lapses (see Albums.claim_album).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from syncd.api.client import Client
from syncd.errors import NotFound
from syncd.journal import Journal
from syncd.text import printable

log = logging.getLogger(__name__)

# How long one album-creation claim holds: a search and a create are two requests.
ALBUM_CLAIM_SECONDS = 60.0
# How often a process waiting for another's album creation looks at the journal again.
ALBUM_WAIT_POLL_SECONDS = 0.2

# A stoppable pause (the run's retrier): raises Interrupted when the run stops.
Pause = Callable[[float, str], None]


class AlbumResolver:
    """Album title -> album_id for one run, shared by its workers.

    Ids cached in the journal are checked against the site once per run, so an
    album deleted on the site since the last run is found or created again
    instead of failing every upload into it; a missing album is created once,
    whatever the worker or process count.
    """

    def __init__(self, journal: Journal, owner: str, pause: Pause) -> None:
        self.journal = journal
        self.owner = owner
        self._pause = pause
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

    def forget(self, title: str) -> None:
        """The site said the album is gone: look it up (or create it) again next time."""
        with self._lock:
            self._checked.pop(title, None)
        self.journal.forget_album(title)

    def _lookup(self, client: Client, title: str) -> str:
        known = self.journal.album_id(title)
        if known is not None and not _album_exists(client, known):
            log.warning(
                "album %s (%s) is gone from the site; looking it up again", printable(title), known
            )
            self.journal.forget_album(title)
            known = None
        while known is None:
            if self.journal.claim_album(title, self.owner, ALBUM_CLAIM_SECONDS):
                try:
                    known = self.journal.album_id(title) or self._find_or_create(client, title)
                finally:
                    self.journal.release_album(title, self.owner)
            else:  # another worker or process is creating it: wait for its id
                self._pause(ALBUM_WAIT_POLL_SECONDS, f"waiting for album {printable(title)}")
                known = self.journal.album_id(title)
        return known

    def _find_or_create(self, client: Client, title: str) -> str:
        found = _find_album(client, title)
        if found is None:
            found = str(client.album_create(title)["album_id"])
            log.info("created album %s as %s", printable(title), found)
        self.journal.remember_album(title, found)
        return found


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
