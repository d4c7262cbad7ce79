"""Paging a listing that may change while it is read.

The order every walk uses is `orderby=uploaded&order=asc` (documented values; the default,
`published desc`, moves an item whenever its publish state or date changes). In upload
order a new item lands at the end, after every item that existed before it, so an upload
during a walk never moves an existing item to another page. A deletion moves every later
item one place towards the front. Reading pages from the last to the first follows that
movement: an item that moves lands on a page not read yet. So a walk that reads page 1
(to learn the count), then the last page down to page 2, then page 1 again, sees every
item that existed from its first request to its last, each at least once (duplicates are
dropped by photo_id). That holds for requests answered one after another;
`folder.SiteWalk` says how the concurrent walk keeps the promise.

What the promise assumes of the site: a stable order (items uploaded in the same second
keep their relative order between requests; the sandbox breaks ties by photo_id) and
uploads that land at the end of the upload order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from syncd.api import Page
from syncd.api.pages import MAX_PAGE_SIZE, MAX_PAGES
from syncd.model import RemoteItem

T = TypeVar("T")

# Reads of a small listing before its answers are taken as they are: a listing that changes
# on every read is reported unsettled rather than read for ever.
SNAPSHOT_ATTEMPTS = 3

# Ascending upload order: new items land after every existing one (see module doc).
OLDEST_FIRST: dict[str, str | int] = {"orderby": "uploaded", "order": "asc"}
# The newest items: where uploads made during a walk show up.
NEWEST_FIRST: dict[str, str | int] = {"orderby": "uploaded", "order": "desc"}
# Every list call: unpublished items too (needs `read`, so the call must be signed), and
# the documented largest page, for the fewest round trips.
LIST_BASE: dict[str, str | int] = {"include_unpublished_p": "1", "size": MAX_PAGE_SIZE}


def page_count(page: Page[Any]) -> int:
    """Pages the listing had when `page` was answered, by its total_count and the page size
    the site says it used (a site may serve fewer than asked)."""
    size = page.size if page.size > 0 else MAX_PAGE_SIZE
    pages = -(-max(0, page.total_count) // size)
    if pages > MAX_PAGES:
        raise ValueError(f"total_count {page.total_count} is beyond any real site")
    return pages


def pages_in_walk_order(first: Page[Any]) -> list[int]:
    """After page 1: the last page down to page 2, then page 1 again (nothing when page 1
    was the whole listing)."""
    last = page_count(first)
    if last <= 1:
        return []
    return [*range(last, 1, -1), 1]


def walk_one_by_one(fetch: Callable[[int], Page[RemoteItem]]) -> Iterator[Page[RemoteItem]]:
    """Every page of one listing in walk order, each request after the previous answer."""
    first = fetch(1)
    yield first
    for p in pages_in_walk_order(first):
        yield fetch(p)


def id_key(photo_id: str) -> int | str:
    """A photo_id as an int when it is one (smaller in a set of 100,000, and ordered)."""
    return int(photo_id) if photo_id.isascii() and photo_id.isdigit() else photo_id


class SeenIds:
    """The photo_ids a walk has passed on, to drop the repeats that paging produces.

    This is what a walk keeps for its whole length: one int per item (about 60 bytes in
    a set; 6 MB for 100,000 items), never the items.
    """

    def __init__(self) -> None:
        self._ids: set[int | str] = set()
        self.repeats = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, photo_id: str) -> bool:
        return id_key(photo_id) in self._ids

    def new(self, items: Iterable[RemoteItem]) -> list[RemoteItem]:
        """The items not passed on before, now recorded as passed on."""
        fresh = []
        for item in items:
            key = id_key(item.photo_id)
            if key in self._ids:
                self.repeats += 1
            else:
                self._ids.add(key)
                fresh.append(item)
        return fresh

    def count_at_most(self, mark: int) -> int:
        """Numeric ids no greater than `mark`."""
        return sum(1 for key in self._ids if isinstance(key, int) and key <= mark)


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[T]):
    """A small listing's entries by key. `settled`: the last read's answers all gave one
    total_count and held exactly that many distinct entries, so nothing changed during it
    (short of one entry leaving while another joined)."""

    entries: dict[str, T]
    settled: bool
    reads: int


def read_snapshot(
    fetch: Callable[[int], Page[T]],
    key: Callable[[T], str],
    *,
    attempts: int = SNAPSHOT_ATTEMPTS,
) -> Snapshot[T]:
    """Every page of a small listing, read again (up to `attempts` times) until settled."""
    entries: dict[str, T] = {}
    settled = False
    reads = 0
    while reads < attempts and not settled:
        reads += 1
        first = fetch(1)
        totals = {first.total_count}
        entries = {key(entry): entry for entry in first.items}
        for p in range(2, page_count(first) + 1):
            page = fetch(p)
            totals.add(page.total_count)
            entries.update((key(entry), entry) for entry in page.items)
        settled = len(totals) == 1 and len(entries) == first.total_count
    return Snapshot(entries, settled, reads)
