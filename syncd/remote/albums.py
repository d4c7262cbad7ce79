"""The albums syncd manages, found by exact title, and their members.

Albums are found by reading every album (`album/list`, hidden ones too), not with the
`search` filter: the platform does not say how `search` matches, and an album it failed
to match would look absent, and be created a second time. Each album's members are one
`photo/list album_id=` listing, read as a snapshot (see `paging.read_snapshot`); albums
are read `concurrency` at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.api import Client
from syncd.api.envelope import parse_str
from syncd.api.pages import MAX_PAGE_SIZE
from syncd.errors import NotFound
from syncd.model import RemoteItem
from syncd.remote.paging import LIST_BASE, OLDEST_FIRST, read_snapshot
from syncd.remote.pool import ClientPool, Tally

log = logging.getLogger(__name__)

# album/list: hidden albums too (needs `read`), oldest first (documented values), so an
# album created during the read lands at the end.
ALBUM_LIST: dict[str, str | int] = {
    "include_hidden_p": "1",
    "orderby": "creation_date",
    "order": "asc",
    "size": MAX_PAGE_SIZE,
}


@dataclass(frozen=True, slots=True)
class RemoteAlbums:
    """`ids_by_title`: every title asked for -> the ids of the albums with exactly that
    title (several when the site has namesakes; () when none). `members`: album_id ->
    photo_ids. `unsettled`: albums whose members changed during every read (their
    members are the last read's)."""

    ids_by_title: Mapping[str, tuple[str, ...]]
    members: Mapping[str, frozenset[str]]
    unsettled: frozenset[str]
    requests: int


def read_albums(pool: ClientPool, titles: Iterable[str]) -> RemoteAlbums:
    tally = Tally()
    found: dict[str, list[str]] = {title: [] for title in dict.fromkeys(titles)}
    if found:
        listing = pool.run(
            lambda client: read_snapshot(
                lambda p: pool.album_page(client, ALBUM_LIST, p, tally=tally), _album_id
            )
        )
        if not listing.settled:
            log.warning("albums were created or deleted on the site while they were listed")
        for album_id, album in listing.entries.items():
            title = parse_str(album.get("title"))
            if album_id and title in found:
                found[title].append(album_id)
    album_ids = [album_id for ids in found.values() for album_id in ids]
    members: dict[str, frozenset[str]] = {}
    unsettled: set[str] = set()
    for album_id, photo_ids, settled in pool.map_unordered(
        _members_task(pool, album_id, tally) for album_id in album_ids
    ):
        if photo_ids is None:
            continue  # deleted since album/list named it
        members[album_id] = photo_ids
        if not settled:
            unsettled.add(album_id)
            log.warning("album %s changed during every read of its members", album_id)
    return RemoteAlbums(
        ids_by_title={t: tuple(a for a in ids if a in members) for t, ids in found.items()},
        members=members,
        unsettled=frozenset(unsettled),
        requests=tally.count,
    )


def _album_id(album: dict[str, Any]) -> str:
    return parse_str(album.get("album_id"))


def _photo_id(item: RemoteItem) -> str:
    return item.photo_id


def _members_task(
    pool: ClientPool, album_id: str, tally: Tally
) -> Callable[[Client], tuple[str, frozenset[str] | None, bool]]:
    """A task: (album_id, its members or None when the album is gone, settled)."""

    def task(client: Client) -> tuple[str, frozenset[str] | None, bool]:
        filters: dict[str, str | int] = {**LIST_BASE, **OLDEST_FIRST, "album_id": album_id}
        try:
            snapshot = read_snapshot(
                lambda p: pool.list_page(client, filters, p, tally=tally), _photo_id
            )
        except NotFound as exc:
            if exc.code != "no_such_album":
                raise
            log.info("album %s was deleted while albums were read", album_id)
            return album_id, None, True
        return album_id, frozenset(snapshot.entries), snapshot.settled

    return task
