"""Judging what a lookup found: which item, if any, is a file's upload (no I/O here).

A lookup (`photo/list tags=<identity marker>` or `photo/list upload_token=`) answers
claims, not facts (spec section 10). The caller has already checked that the site honours
the filter (a marker or token nobody uses finds nothing) and left out the items its
journal gives to other paths. What is left is judged here against what the documented
list answer lets us check:

- one item, not several: two items carrying one marker are two uploads of the content,
  and nothing in the answer says which one is this file's;
- `original_size`, when the answer gives it, is the file's size;
- `creation_date_ansi`, when the caller knows when the earliest attempt that could have
  stored the item began, is not before it. The answer's times are in the site's own zone,
  which it does not name, so an item counts as too old only when it is older than that
  moment by more than any zone offset (see SITE_ZONE_SLACK);
- `title`, when the caller knows the title that attempt sent (`Expected.title`), is that
  title as the site stores it: HTML stripped (spec section 6), entities decoded, white
  space collapsed (`stored_title`).

The title is known only for an attempt made in the same claim of the file (the caller's
own request, seconds earlier): an attempt of an earlier claim may have sent another
title (the sidecar was edited since), another host's copy carries that host's metadata,
and an item found for a lost journal may have been retitled on the site since; those
are not compared (None), since a mismatch there says nothing about the content. Nor is a
title we did not send (the site then makes one up from the file name), nor one the answer
leaves out. The one legitimate match this can hold: another host's copy of the same
content, uploaded in the same moments with other metadata; held, it waits for `syncd
retry`, whose attempt compares no title. Duration is not compared: syncd does not read
media files.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from syncd.model import RemoteItem

# An item's creation time is written in the site's zone, which the answer does not name.
# Zones run from UTC-12 to UTC+14; an hour more covers clock skew between us and the site.
SITE_ZONE_SLACK = dt.timedelta(hours=15)


@dataclass(frozen=True, slots=True)
class Expected:
    """What an item holding this file's upload must be consistent with."""

    size: int  # the file's size in bytes
    # Epoch seconds before which the upload cannot have been stored (the earliest attempt
    # that could have stored it began then); None when unknown (another host, a lost
    # journal: the upload may be years old).
    not_before: float | None = None
    # The title that attempt sent; None when none was sent or it is not known for certain
    # (see the module doc): then titles say nothing.
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A lookup judged: `item` is the file's upload; `held` (a message naming the
    candidates) when the answer cannot be believed either way; both None: not there."""

    item: RemoteItem | None = None
    held: str | None = None


@dataclass(frozen=True, slots=True)
class CopiesVerdict:
    """After an upload, whether earlier copies of the same content exist.

    `adopt`: the one earlier copy to record instead of our own (which is then deleted, so
    that two hosts racing on one file leave one item: the oldest wins everywhere);
    `duplicates`: other copies left as they are (too many to choose from, or newer than
    ours: their own uploader removes a newer one). Nothing set: ours is the only one."""

    adopt: RemoteItem | None = None
    duplicates: tuple[RemoteItem, ...] = ()


_TAG = re.compile(r"<[^>]*>")


def stored_title(text: str) -> str:
    """A title as the site stores and answers it: HTML stripped, entities decoded, white
    space runs as one space, trimmed. Applied to both sides before they are compared, so
    a site that answers `&amp;` for `&` or collapses spaces still matches."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def contradiction(item: RemoteItem, expected: Expected) -> str | None:
    """What in the answer shows that `item` cannot hold this file's upload, or None."""
    if item.original_size is not None and item.original_size != expected.size:
        return f"its original_size is {item.original_size} bytes, the file's {expected.size}"
    if expected.title is not None:
        sent = stored_title(expected.title)
        found = stored_title(item.title)
        # An empty side says nothing: a title left out of the answer, or none sent (the
        # site then names the item after the file).
        if sent and found and sent != found:
            return f"its title is {found!r}, the upload sent {sent!r}"
    if expected.not_before is not None and item.created is not None:
        # The latest moment the site-local time can stand for, in UTC.
        latest = item.created.replace(tzinfo=dt.UTC) + SITE_ZONE_SLACK
        began = dt.datetime.fromtimestamp(expected.not_before, tz=dt.UTC)
        if latest < began:
            return (
                f"it was created {item.created:%Y-%m-%d %H:%M:%S} (site time), before "
                f"the upload began ({began:%Y-%m-%d %H:%M:%S} UTC)"
            )
    return None


def names(items: Sequence[RemoteItem]) -> str:
    return ", ".join(f"photo {i.photo_id}" + (f" {i.title!r}" if i.title else "") for i in items)


def judge(candidates: Sequence[RemoteItem], expected: Expected, what: str) -> Verdict:
    """The verdict on the items a lookup for `what` (a marker, a token) found."""
    if not candidates:
        return Verdict()
    if len(candidates) > 1:
        return Verdict(
            held=f"{len(candidates)} items answer to {what} ({names(candidates)}): cannot "
            "tell which one is this file's upload; delete the wrong ones on the site, then "
            "`syncd retry` the file"
        )
    (item,) = candidates
    problem = contradiction(item, expected)
    if problem is not None:
        return Verdict(
            held=f"photo {item.photo_id} answers to {what}, but {problem}: not taken as this "
            "file's upload, and the file is not sent again"
        )
    return Verdict(item=item)


def judge_copies(
    own: RemoteItem, others: Sequence[RemoteItem], expected: Expected
) -> CopiesVerdict:
    """After uploading `own`, judge the other items carrying the same marker (the caller has
    checked the filter and left out items its journal gives to other paths)."""
    consistent = [i for i in others if contradiction(i, expected) is None]
    own_key = _numeric(own.photo_id)
    if own_key is None:
        # Without an order nobody can tell which copy is the oldest: keep ours.
        return CopiesVerdict(duplicates=tuple(consistent))
    older = [i for i in consistent if (k := _numeric(i.photo_id)) is not None and k < own_key]
    if len(older) == 1:
        return CopiesVerdict(adopt=older[0])
    return CopiesVerdict(duplicates=tuple(consistent))


def _numeric(photo_id: str) -> int | None:
    return int(photo_id) if photo_id.isascii() and photo_id.isdigit() else None
