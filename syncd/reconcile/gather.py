"""Reading the three sides a reconcile compares, read-only: the journal's rows, the files
under the roots (hashed where the journal cannot vouch for their content), and the site
(every item, the albums the desired metadata names, items by identity marker).

Identity lookups cost one request each, so they are made only where a marker can change a
decision: files about to be uploaded (an item may already carry their content), files
whose item is gone (it may be elsewhere), files the size of an item the journal does not
know (a copy of theirs?), and with `--adopt` or `--dedupe` every file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncd.errors import SidecarError
from syncd.local.folder import LocalListing, hash_file, list_local
from syncd.local.scan import ScanProblem, ScanStopped
from syncd.model import FileRow, ItemState, LocalFile, Metadata, RemoteItem
from syncd.pipeline.context import RunContext
from syncd.plan.reconcile import NO_SUCH_PHOTO, NOT_COMPARED, QUEUED, ReconcileInput, SiteView
from syncd.reconcile.phases import Phases
from syncd.remote import RemoteAlbums, RemoteFolder, WalkReport
from syncd.text import printable

log = logging.getLogger(__name__)

# The listing's running count is told to the display every this many items.
COUNT_EVERY = 500


@dataclass(slots=True)
class Gathered:
    input: ReconcileInput
    listing: LocalListing
    walk: WalkReport | None = None
    lookups: int = 0
    problems: list[ScanProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GatherOptions:
    roots: Sequence[Path]
    hash_changed: bool  # a dry run hashes files the journal cannot vouch for
    look_up_all: bool  # --adopt / --dedupe: every file's marker is looked up


class Gatherer:
    def __init__(
        self, ctx: RunContext, folder: RemoteFolder, phases: Phases, options: GatherOptions
    ) -> None:
        self.ctx = ctx
        self.folder = folder
        self.phases = phases
        self.options = options

    def gather(self) -> Gathered:
        ctx = self.ctx
        roots = [str(r) for r in self.options.roots]
        rows = ctx.journal.rows_in(list(ItemState), roots=roots)
        by_path = {r.path: r for r in rows}
        listing = self._local(by_path)
        problems = list(listing.problems)
        tracked = ctx.journal.photo_ids()
        items, walk = self._walk()
        absent = self._confirm_missing(rows, items)
        desired = self._desired(rows, listing, items, problems)
        albums = self._albums(desired)
        local = listing.files
        hashes = self._worth_looking_up(rows, local, items, absent, tracked)
        identities = self._look_up(hashes)
        site = SiteView(
            items=items,
            absent=frozenset(absent),
            album_ids=albums.ids_by_title if albums else {},
            album_members=albums.members if albums else {},
            unsettled_albums=albums.unsettled if albums else frozenset(),
            identities=identities,
            tracked=tracked,
        )
        inp = ReconcileInput(
            rows=rows,
            local=local,
            site=site,
            desired=desired,
            unknown=tuple(listing.unknown),
            now=ctx.clock.time(),
        )
        return Gathered(inp, listing, walk, len(hashes), problems)

    # --- the archive --------------------------------------------------------------------

    def _local(self, by_path: dict[str, FileRow]) -> LocalListing:
        phases, ctx = self.phases, self.ctx
        phases.begin("reading the archive")
        listing = list_local(
            self.options.roots, ctx.config.scan, probe=ctx.probe(), on_file=phases.advance
        )
        phases.end(f"{len(listing.files)} file(s) under the roots")
        if not self.options.hash_changed:
            return listing
        # A dry run has no scan to vouch for content: what is new or changed is hashed here.
        todo = [f for p, f in listing.files.items() if not _same_version(by_path.get(p), f)]
        if not todo:
            return listing
        phases.begin("hashing new and changed files", len(todo))
        for n, local in enumerate(todo, 1):
            if ctx.stop:
                break
            try:
                sha = hash_file(local.path, lambda: ctx.stop)
            except (OSError, ScanStopped) as exc:
                if isinstance(exc, OSError):
                    listing.problems.append(
                        ScanProblem(printable(local.path), f"unreadable: {exc.strerror or exc}")
                    )
                listing.files.pop(local.path, None)
                continue
            listing.files[local.path] = LocalFile(
                local.path, local.size, local.mtime_ns, local.inode, sha
            )
            phases.advance(n)
        phases.end(f"{len(todo)} file(s) hashed")
        return listing

    # --- the site -----------------------------------------------------------------------

    def _walk(self) -> tuple[dict[str, RemoteItem], WalkReport | None]:
        phases = self.phases
        phases.begin("listing the site")
        items: dict[str, RemoteItem] = {}
        site_walk = self.folder.walk()
        for item in site_walk:
            items[item.photo_id] = item
            if len(items) % COUNT_EVERY == 0:
                phases.advance(len(items))
        report = site_walk.report
        phases.end(
            f"{len(items)} item(s) on the site"
            + (f" in {report.requests} request(s)" if report is not None else "")
        )
        return items, report

    def _confirm_missing(self, rows: list[FileRow], items: dict[str, RemoteItem]) -> set[str]:
        """Items the journal names that the listing did not pass on: asked one by one (an
        absence is a claim too; the item may have been uploaded during the listing)."""
        wanted = [
            r.photo_id
            for r in rows
            if r.photo_id is not None
            and r.photo_id not in items
            and r.state not in (ItemState.REMOTE_MISSING, ItemState.UPLOADING)
        ]
        if not wanted:
            return set()
        found = self.folder.fetch(wanted)
        for photo_id, item in found.items():
            if item is not None:
                items[photo_id] = item
        return {photo_id for photo_id, item in found.items() if item is None}

    def _desired(
        self,
        rows: list[FileRow],
        listing: LocalListing,
        items: dict[str, RemoteItem],
        problems: list[ScanProblem],
    ) -> dict[str, Metadata]:
        """The desired metadata of each synced file whose item is listed: what drift is
        measured against. A file whose sidecar cannot be read is not compared (the scan
        and push report the sidecar)."""
        desired: dict[str, Metadata] = {}
        for row in rows:
            in_step = row.state is ItemState.SYNCED and row.desired_digest == row.applied_digest
            if not in_step or row.photo_id not in items or row.path not in listing.files:
                continue
            try:
                desired[row.path] = self.ctx.read_metadata(row)
            except SidecarError as exc:
                log.info("%s: metadata not compared: %s", printable(row.path), exc)
        return desired

    def _albums(self, desired: dict[str, Metadata]) -> RemoteAlbums | None:
        titles = sorted({title for meta in desired.values() for title in meta.albums})
        if not titles:
            return None
        self.phases.begin(f"reading {len(titles)} album(s)")
        albums = self.folder.albums(titles)
        self.phases.end(f"{len(albums.members)} album(s) read")
        return albums

    def _worth_looking_up(
        self,
        rows: list[FileRow],
        local: dict[str, LocalFile],
        items: dict[str, RemoteItem],
        absent: set[str],
        tracked: frozenset[str],
    ) -> list[str]:
        hashes: dict[str, None] = {}
        untracked = [i for i in items.values() if i.photo_id not in tracked]
        sizes = {i.original_size for i in untracked}
        any_size = None in sizes  # an untracked item of unknown size could be anyone's copy
        for row in rows:
            if row.state in NOT_COMPARED:
                continue
            current = local.get(row.path)
            sha = current.sha256 if current is not None and current.sha256 else row.sha256
            if not sha:
                continue
            gone = (
                row.state is ItemState.REMOTE_MISSING
                or (row.state is ItemState.FAILED and row.error_code == NO_SUCH_PHOTO)
                or row.photo_id in absent
            )
            queued = row.photo_id is None and row.state in QUEUED
            listed = row.photo_id in items
            copy_size = listed and bool(untracked) and (any_size or row.size in sizes)
            if self.options.look_up_all or gone or queued or copy_size:
                hashes[sha] = None
        known = {r.path for r in rows}
        for path, file in local.items():
            if file.sha256 and path not in known:  # a dry run's new file: maybe on the site
                hashes[file.sha256] = None
        return list(hashes)

    def _look_up(self, hashes: list[str]) -> dict[str, tuple[RemoteItem, ...]]:
        if not hashes:
            return {}
        self.phases.begin(f"looking up {len(hashes)} identity marker(s)", len(hashes))
        found = self.folder.find_identities(hashes)
        self.phases.end(
            f"{sum(1 for v in found.values() if v)} of {len(hashes)} marker(s) found on the site"
        )
        return found


def _same_version(row: FileRow | None, local: LocalFile) -> bool:
    return row is not None and (row.size, row.mtime_ns, row.inode) == (
        local.size,
        local.mtime_ns,
        local.inode,
    )
