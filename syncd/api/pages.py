"""Pagination: one page as a value, and an iterator over all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# The API's maximum page size: fewest round trips for a full listing.
MAX_PAGE_SIZE = 100
# A listing longer than this many pages means the server ignores `p`; stop.
MAX_PAGES = 1_000_000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    p: int
    size: int
    total_count: int

    @property
    def has_more(self) -> bool:
        return self.p * self.size < self.total_count


def iter_pages(fetch: Callable[[int], Page[T]]) -> Iterator[T]:
    """Every item of every page: fetch(p) for p = 1, 2, ... until total_count is reached."""
    seen = 0
    for p in range(1, MAX_PAGES + 1):
        page = fetch(p)
        yield from page.items
        seen += len(page.items)
        if not page.items or seen >= page.total_count:
            return
