"""Items by identity marker: for many content hashes at once, the items that carry
`syncd:<32 hex>` (see `syncd.model.identity_tag`).

One `photo/list tags=<marker>` listing per hash, `concurrency` at a time, each read as a
snapshot. A site may answer the documented error `no_such_tag` ("This tag isn't being
used on the site.") for a marker nobody uses: that is "no items", never a failure.

What comes back are claims, not facts (spec section 10). Before the first lookup, a marker
made up for the purpose is looked up: if the site finds items for it, it ignores the
filter, and every lookup would answer with unrelated items, so none is made
(UntrustedAnswer). Checking each candidate (size, title, upload time) is the caller's job,
and so is checking again later: a careless site with no items yet passes the first check.

The same for `photo/list upload_token=`: `find_by_upload_token`, and
`check_upload_token_filter` with a token nobody was given.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable

from syncd.api import Client
from syncd.errors import UntrustedAnswer
from syncd.model import RemoteItem, identity_tag
from syncd.remote.paging import LIST_BASE, OLDEST_FIRST, read_snapshot
from syncd.remote.pool import ClientPool, Tally

log = logging.getLogger(__name__)

# The documented error for a tag filter that matches no tag in use.
NO_SUCH_TAG = frozenset({"no_such_tag"})
# An upload token the site does not know: the pages name no error for it, so any "no such"
# answer means no items.
NOT_FOUND = frozenset({"no_such_tag", "no_such_photo", "no_such_user", "no_such_album"})
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{32,64}")


def marker_filters(marker: str) -> dict[str, str | int]:
    return {**LIST_BASE, **OLDEST_FIRST, "tags": marker}


def check_tag_filter(pool: ClientPool) -> None:
    """Raise UntrustedAnswer unless a marker that no item carries finds nothing."""
    marker = identity_tag(secrets.token_hex(32))
    page = pool.run(
        lambda client: pool.list_page(
            client, marker_filters(marker), 1, tally=pool.tally, absent=NO_SUCH_TAG
        )
    )
    if page.items or page.total_count:
        raise UntrustedAnswer(
            f"photo/list ignores the tags filter: {marker}, a marker no item carries, "
            f"matched {max(page.total_count, len(page.items))} item(s); lookups by identity "
            "marker cannot be trusted on this site"
        )


def check_upload_token_filter(pool: ClientPool) -> None:
    """Raise UntrustedAnswer unless an upload token nobody was given finds nothing (the
    same check for `photo/list upload_token=`: a site that ignores it lists everything)."""
    invented = secrets.token_hex(20)
    page = pool.run(
        lambda client: pool.list_page(
            client, upload_token_filters(invented), 1, tally=pool.tally, absent=NOT_FOUND
        )
    )
    if page.items or page.total_count:
        raise UntrustedAnswer(
            f"photo/list ignores the upload_token filter: a token nobody was given matched "
            f"{max(page.total_count, len(page.items))} item(s); lookups by upload token "
            "cannot be trusted on this site"
        )


def upload_token_filters(token: str) -> dict[str, str | int]:
    return {**LIST_BASE, **OLDEST_FIRST, "upload_token": token}


def find_by_upload_token(pool: ClientPool, token: str) -> tuple[RemoteItem, ...]:
    """The items uploaded under `token`, oldest first; () for none."""
    snapshot = pool.run(
        lambda client: read_snapshot(
            lambda p: pool.list_page(
                client, upload_token_filters(token), p, tally=pool.tally, absent=NOT_FOUND
            ),
            lambda item: item.photo_id,
        )
    )
    return tuple(snapshot.entries.values())


def markers_for(sha256s: Iterable[str]) -> dict[str, str]:
    """Each hash as given -> its identity marker; ValueError for one that is not hex."""
    markers = {}
    for digest in sha256s:
        if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        markers[digest] = identity_tag(digest)
    return markers


def find_identities(pool: ClientPool, markers: dict[str, str]) -> dict[str, tuple[RemoteItem, ...]]:
    """Per hash (the keys of `markers_for`): the items carrying its marker, oldest first;
    () for none. Each distinct marker is looked up once."""
    tally = Tally()
    found = dict(
        pool.map_unordered(_lookup_task(pool, marker, tally) for marker in set(markers.values()))
    )
    log.debug("looked up %d identity markers in %d requests", len(found), tally.count)
    return {digest: found[marker] for digest, marker in markers.items()}


def _lookup_task(
    pool: ClientPool, marker: str, tally: Tally
) -> Callable[[Client], tuple[str, tuple[RemoteItem, ...]]]:
    def task(client: Client) -> tuple[str, tuple[RemoteItem, ...]]:
        filters = marker_filters(marker)
        snapshot = read_snapshot(
            lambda p: pool.list_page(client, filters, p, tally=tally, absent=NO_SUCH_TAG),
            lambda item: item.photo_id,
        )
        if not snapshot.settled:
            log.info("items carrying %s changed while they were looked up", marker)
        return marker, tuple(snapshot.entries.values())

    return task
