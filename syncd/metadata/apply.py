"""Executes metadata plans: brings an item on the site in line with its desired metadata,
part by part (syncd.plan.metadata).

A direct upload or upload token already carries title, description, tags, albums and
publish flag, so most items go straight from `uploading` to `synced` (upload/core.py).
Metadata work is what is left: rows in `uploaded` (chapters, coordinates or a thumbnail
to add; an earlier attempt found on the site, whose metadata may predate a sidecar edit;
a follow-up update that failed), and `synced` rows whose desired metadata changed since
it was applied (a sidecar, a thumbnail image or folder default edited, a file renamed, the
config changed).

Each part is recorded in the journal as soon as the site has it, so an update that fails
halfway sends only what is missing next time. Every call goes through the run's retry
engine on its own; the two calls that are not safe to repeat blindly (adding a coordinate,
creating a section) look first whether an earlier attempt landed.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from syncd.api.body import FileSlice
from syncd.api.client import Client
from syncd.errors import ApiError
from syncd.journal import Journal
from syncd.model import Chapter, Coordinates, FileRow, Thumbnail
from syncd.plan.metadata import (
    SENDING,
    AppliedParts,
    MetadataPlan,
    SectionCall,
    number_param,
    plan_sections,
    same_section,
)
from syncd.progress import ProgressSink
from syncd.retry import Retrier
from syncd.text import printable

log = logging.getLogger(__name__)

T = TypeVar("T")


class LeaseLost(Exception):
    """The row is no longer ours (another worker, a rescan): stop, record nothing more."""


class MetadataApplier:
    """Applies metadata plans for one worker (it holds that worker's Client)."""

    def __init__(
        self,
        journal: Journal,
        client: Client,
        *,
        owner: str,
        progress: ProgressSink,
        retrier: Retrier | None = None,
    ) -> None:
        self.journal = journal
        self.client = client
        self.owner = owner
        self.progress = progress
        self.retrier = retrier

    def apply(self, row: FileRow, plan: MetadataPlan, digest: str, meta_sig: str | None) -> bool:
        """Send the plan's calls, part by part, and record the digest as applied. False when
        the row changed meanwhile (another worker, a rescan): nothing more is recorded then.
        Errors pass out after the parts already sent are recorded."""
        run = _Run(self, row, plan)
        try:
            run.fields()
            run.coordinates()
            run.chapters()
            run.thumbnail()
        except LeaseLost:
            return False
        return self.journal.finish_metadata(
            row,
            self.owner,
            digest=digest,
            meta_sig=meta_sig,
            parts=plan.goal.dumps(),
            detail=f"metadata applied to photo {plan.photo_id}"
            + ("" if plan.calls_nothing else f" ({run.summary()})"),
        )

    def call(self, row: FileRow, fn: Callable[[], T]) -> T:
        """One call under the run's retry engine (gate, back-off, stop flag)."""
        if self.retrier is None:
            return fn()
        return self.retrier(fn, what=printable(os.path.basename(row.path)))


class _Run:
    """One plan being carried out: what has been sent, and the record of it."""

    def __init__(self, applier: MetadataApplier, row: FileRow, plan: MetadataPlan) -> None:
        self.applier = applier
        self.client = applier.client
        self.row = row
        self.plan = plan
        self.photo_id = plan.photo_id
        self.parts = plan.applied
        self.done: list[str] = []

    def summary(self) -> str:
        return ", ".join(self.done)

    def record(self, parts: AppliedParts) -> None:
        self.parts = parts
        if not self.applier.journal.record_parts(self.row, self.applier.owner, self.parts.dumps()):
            raise LeaseLost

    def call(self, fn: Callable[[], T]) -> T:
        return self.applier.call(self.row, fn)

    # --- the parts ------------------------------------------------------------------

    def fields(self) -> None:
        fields = self.plan.fields
        if fields is None:
            return
        self.record(replace(self.parts, fields=SENDING))
        self.call(lambda: self.client.photo_update(self.photo_id, **fields))
        self.record(replace(self.parts, fields=self.plan.goal.fields))
        self.done.append("fields")

    def coordinates(self) -> None:
        for old in self.plan.coordinate_deletes:
            self._delete(old)
        new = self.plan.coordinate_add
        if new is None:
            return
        # Recorded before it is sent: if the answer is lost (or we crash), the next attempt
        # knows the coordinate may be there and deletes it before adding it again.
        self.record(replace(self.parts, adding=new))
        attempted = False

        def add() -> None:
            nonlocal attempted
            if attempted:  # the last attempt may have landed: never leave two copies
                self._delete_coordinate(new)
            attempted = True
            lat, lon = number_param(new.latitude), number_param(new.longitude)
            self.client.coordinate_add(self.photo_id, lat, lon)

        self.call(add)
        self.record(replace(self.parts, coordinates=new, adding=None))
        self.done.append("coordinate added")

    def _delete(self, old: Coordinates) -> None:
        self.call(lambda: self._delete_coordinate(old))
        parts = self.parts
        self.record(
            replace(
                parts,
                coordinates=None if parts.coordinates == old else parts.coordinates,
                adding=None if parts.adding == old else parts.adding,
            )
        )
        self.done.append("coordinate deleted")

    def _delete_coordinate(self, where: Coordinates) -> None:
        lat, lon = number_param(where.latitude), number_param(where.longitude)
        try:
            self.client.coordinate_delete(self.photo_id, lat, lon)
        except ApiError as exc:
            # The page documents no "not found" answer: a coordinate that is not there
            # (removed on the site, or an add that never landed) is refused as bad input.
            # Either way it is gone, which is what was wanted.
            if exc.code != "invalid_input":
                raise
            log.info("photo %s: coordinate %s,%s already gone (%s)", self.photo_id, lat, lon, exc)

    def chapters(self) -> None:
        chapters = self.plan.chapters
        if chapters is None:
            return
        token = self.call(lambda: self.client.photo_token(self.photo_id))
        sections = self.call(lambda: self.client.section_list(self.photo_id, token))
        calls = plan_sections(chapters, sections)
        if calls:
            self.record(replace(self.parts, chapters=SENDING))
        for section_call in calls:
            if section_call.action == "create" and section_call.chapter is not None:
                self._create(section_call, section_call.chapter, token)
            else:
                self._section(section_call)
            log.debug("photo %s: %s", self.photo_id, section_call)
        self.record(replace(self.parts, chapters=self.plan.goal.chapters))
        self.done.append(f"chapters ({len(calls)} section calls)")

    def _section(self, section_call: SectionCall) -> None:
        params = section_call.params()
        self.call(lambda: self.client.section_call(section_call.action, self.photo_id, params))

    def _create(self, section_call: SectionCall, chapter: Chapter, token: str) -> None:
        attempted = False

        def create() -> None:
            nonlocal attempted
            # The answer names no section, so a lost one is checked for in the list.
            if attempted and any(
                same_section(chapter, s) for s in self.client.section_list(self.photo_id, token)
            ):
                return
            attempted = True
            self.client.section_call("create", self.photo_id, section_call.params())

        self.call(create)

    def thumbnail(self) -> None:
        thumbnail = self.plan.thumbnail
        if thumbnail is None:
            return
        self.record(replace(self.parts, thumbnail=SENDING))
        if thumbnail.time is not None:
            seconds = number_param(thumbnail.time)
            self.call(lambda: self.client.thumbnail_from_frame(self.photo_id, seconds))
        else:
            image = self._image(thumbnail)
            self.call(lambda: self.client.photo_replace(self.photo_id, image))
        self.record(replace(self.parts, thumbnail=self.plan.goal.thumbnail))
        self.done.append("thumbnail")

    def _image(self, thumbnail: Thumbnail) -> FileSlice:
        assert thumbnail.file is not None
        path = Path(self.row.path).parent / thumbnail.file
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileSlice(path, filename=path.name, content_type=kind)


__all__ = ["AppliedParts", "MetadataApplier"]
