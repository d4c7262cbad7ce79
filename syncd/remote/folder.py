"""The site, read-only: every item, the albums syncd manages, items by identity marker.

Every request is a signed `photo/list` or `album/list` POST (signed answers are never
served from a cache, and `include_unpublished_p=1` needs `read`), sent by a few worker
threads at a time, each with its own Client, each through the injected retry engine.

The whole-site walk (`RemoteFolder.walk`) streams items; for its ordering and what it
promises while the site changes, see `SiteWalk` and `paging`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import count

from syncd.api import Client, Page
from syncd.config import SiteConfig
from syncd.errors import UntrustedAnswer
from syncd.model import RemoteItem
from syncd.remote.albums import RemoteAlbums, read_albums
from syncd.remote.identity import (
    check_tag_filter,
    check_upload_token_filter,
    find_by_upload_token,
    find_identities,
    markers_for,
)
from syncd.remote.paging import (
    LIST_BASE,
    NEWEST_FIRST,
    OLDEST_FIRST,
    SeenIds,
    id_key,
    page_count,
    walk_one_by_one,
)
from syncd.remote.pool import CallWithRetry, ClientPool, Filters, Tally, call_once

log = logging.getLogger(__name__)

# Pages in flight at once: enough to hide most of a round trip's latency, few enough not
# to provoke a site's (undocumented) rate limiting. Each costs one thread and one Client.
DEFAULT_CONCURRENCY = 4

NEWEST: dict[str, str | int] = {**LIST_BASE, **NEWEST_FIRST}
OLDEST: dict[str, str | int] = {**LIST_BASE, **OLDEST_FIRST}


@dataclass(frozen=True, slots=True)
class WalkReport:
    """How a whole-site walk went."""

    items: int  # distinct items passed on
    requests: int  # HTTP requests, retries included
    repeats: int  # entries dropped because their photo_id had been passed on already
    first_total: int  # total_count of the first answer
    last_total: int  # total_count of the last answer
    certified: bool  # the counts show that nothing was deleted and nothing was missed
    rewalked: bool  # they did not: the site was read again, one page after another
    recovered: int  # items that second read found and the first had missed


class SiteWalk:
    """Every item on the site, once each, streamed; `report` is set when it is exhausted.

    1. The newest page first (`orderby=uploaded&order=desc`, 100 items). On a site of up
       to 100 items that one answer is the whole walk. It also gives `mark`, the highest
       photo_id at the start.
    2. Every page in upload order (`orderby=uploaded&order=asc`), from the last page down
       to the first, `concurrency` requests at a time. Items are passed on as pages arrive,
       so the order of items is not the site's order.
    3. The newest pages again, down to the first item at or below `mark`: items above it
       were uploaded during the walk. If the site now holds exactly as many items up to
       `mark` as at the start, nothing that existed was deleted, so no item moved between
       pages (uploads land at the end of the upload order), and the walk must have seen
       every one of them: it checks that it did (certified).
    4. Otherwise an item that existed throughout may have moved onto a page that had
       already been answered (a deletion between two requests answered out of order). The
       site is then read once more with `paging.walk_one_by_one`, which no deletion can
       fool, and only items not passed on yet are passed on.

    Kept while walking: the photo_ids passed on (`SeenIds`) and at most `concurrency`
    pages of items. Items uploaded or deleted during the walk may or may not appear.
    Before acting on an item's absence, ask `RemoteFolder.fetch` (one request per item).
    A walk that fails (an error the retry engine gave up on) raises: the items passed on
    until then are not the whole site.
    """

    def __init__(self, pool: ClientPool) -> None:
        self._pool = pool
        self.report: WalkReport | None = None

    def __iter__(self) -> Iterator[RemoteItem]:
        return self._run()

    def _fetch(
        self, tally: Tally, filters: Filters, p: int
    ) -> Callable[[Client], Page[RemoteItem]]:
        return lambda client: self._pool.list_page(client, filters, p, tally=tally)

    def _run(self) -> Iterator[RemoteItem]:
        tally, seen = Tally(), SeenIds()
        newest = self._pool.run(self._fetch(tally, NEWEST, 1))
        yield from seen.new(newest.items)
        first_total = last_total = newest.total_count
        certified = page_count(newest) <= 1 and len(newest.items) == first_total
        rewalked, recovered = False, 0
        if not certified:
            pages = range(max(1, page_count(newest)), 0, -1)
            for page in self._pool.map_unordered(self._fetch(tally, OLDEST, p) for p in pages):
                yield from seen.new(page.items)
            mark = _highest_id(newest.items)
            certified, last_total = self._certify(tally, seen, mark, first_total)
        if not certified:
            rewalked, before = True, len(seen)
            for page in walk_one_by_one(lambda p: self._pool.run(self._fetch(tally, OLDEST, p))):
                last_total = page.total_count
                yield from seen.new(page.items)
            recovered = len(seen) - before
        self.report = WalkReport(
            items=len(seen),
            requests=tally.count,
            repeats=seen.repeats,
            first_total=first_total,
            last_total=last_total,
            certified=certified,
            rewalked=rewalked,
            recovered=recovered,
        )
        log.info(
            "listed %d remote items in %d requests (%s)",
            len(seen),
            tally.count,
            "certified" if certified else f"read twice, {recovered} found the second time",
        )

    def _certify(
        self, tally: Tally, seen: SeenIds, mark: int | None, first_total: int
    ) -> tuple[bool, int]:
        """(nothing deleted and nothing missed, total_count now) by step 3 above."""
        if mark is None:
            log.info("photo_ids are not numbers: the walk cannot be checked by counting")
            return False, first_total
        added: set[str] = set()  # a set: an upload during this check repeats an item
        end_total: int | None = None
        for p in count(1):
            page = self._pool.run(self._fetch(tally, NEWEST, p))
            end_total = page.total_count if end_total is None else end_total
            newer = [i.photo_id for i in page.items if _above(i.photo_id, mark)]
            added.update(newer)
            if len(newer) < len(page.items) or not page.items or p >= page_count(page):
                break
        assert end_total is not None
        existed, passed_on = end_total - len(added), seen.count_at_most(mark)
        if existed == first_total == passed_on:
            return True, end_total
        log.info(
            "the site changed during the listing (items up to photo_id %d: %d at the start, "
            "%d now, %d listed); reading it again one page at a time",
            mark,
            first_total,
            existed,
            passed_on,
        )
        return False, end_total


def _highest_id(items: Iterable[RemoteItem]) -> int | None:
    numeric = [key for item in items if isinstance(key := id_key(item.photo_id), int)]
    return max(numeric, default=None)


def _above(photo_id: str, mark: int) -> bool:
    key = id_key(photo_id)
    return not isinstance(key, int) or key > mark


class RemoteFolder:
    """The site, read-only, through `concurrency` worker threads. A context manager:
    `close()` ends the workers and closes their Clients.

    `connect` makes one Client (called once per worker thread). `call_with_retry` runs
    each request with the run's retry policy (default: once). `stop`, when set, makes
    the next request raise Interrupted.
    """

    def __init__(
        self,
        connect: Callable[[], Client],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        call_with_retry: CallWithRetry = call_once,
        stop: threading.Event | None = None,
    ) -> None:
        self._pool = ClientPool(connect, concurrency, call_with_retry=call_with_retry, stop=stop)
        self._tag_filter_checked = False

    @classmethod
    def for_site(
        cls,
        site: SiteConfig,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        call_with_retry: CallWithRetry = call_once,
        stop: threading.Event | None = None,
    ) -> RemoteFolder:
        """A folder whose workers each make a Client for `site`."""
        return cls(
            lambda: Client(site),
            concurrency=concurrency,
            call_with_retry=call_with_retry,
            stop=stop,
        )

    def __enter__(self) -> RemoteFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    @property
    def requests(self) -> int:
        """HTTP requests sent so far by every operation, retries included."""
        return self._pool.tally.count

    def walk(self) -> SiteWalk:
        """Every item on the site, unpublished too (see SiteWalk)."""
        return SiteWalk(self._pool)

    def albums(self, titles: Iterable[str]) -> RemoteAlbums:
        """The albums with these exact titles (hidden ones too) and their members."""
        return read_albums(self._pool, titles)

    def find_identities(self, sha256s: Iterable[str]) -> dict[str, tuple[RemoteItem, ...]]:
        """Per content hash (hex, as given), the items carrying its identity marker; () when
        none does. The first call checks that the site honours the tag filter."""
        markers = markers_for(sha256s)
        if not self._tag_filter_checked:
            check_tag_filter(self._pool)
            self._tag_filter_checked = True
        return find_identities(self._pool, markers)

    def check_tag_filter(self) -> None:
        """Check now (again) that the site honours the tags filter: UntrustedAnswer if a
        freshly invented marker finds items. A careless site that held no items at the
        first check passes it; a caller about to trust a lookup's items asks again."""
        check_tag_filter(self._pool)
        self._tag_filter_checked = True

    def find_upload_token(self, token: str) -> tuple[RemoteItem, ...]:
        """The items uploaded under an upload token (claims: see check_upload_token_filter)."""
        return find_by_upload_token(self._pool, token)

    def check_upload_token_filter(self) -> None:
        """UntrustedAnswer if a token nobody was given finds items."""
        check_upload_token_filter(self._pool)

    def fetch(self, photo_ids: Iterable[str]) -> dict[str, RemoteItem | None]:
        """Each item by photo_id (None: not on the site), `concurrency` requests at a time."""
        tally = Tally()

        def one(photo_id: str) -> Callable[[Client], tuple[str, RemoteItem | None]]:
            def task(client: Client) -> tuple[str, RemoteItem | None]:
                filters: dict[str, str | int] = {**LIST_BASE, "photo_id": photo_id}
                page = self._pool.list_page(
                    client, filters, 1, tally=tally, absent=frozenset({"no_such_photo"})
                )
                match = [item for item in page.items if item.photo_id == photo_id]
                if page.items and not match:
                    raise UntrustedAnswer(
                        f"photo/list photo_id={photo_id} answered {len(page.items)} other "
                        "item(s): the site ignores the photo_id filter"
                    )
                return photo_id, match[0] if match else None

            return task

        wanted = [str(p) for p in dict.fromkeys(photo_ids)]
        return dict(self._pool.map_unordered(one(p) for p in wanted))
