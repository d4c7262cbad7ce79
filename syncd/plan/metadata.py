"""Metadata planning: which parts of an item's metadata the site lacks, and the calls that
bring each in line (no I/O here).

An item's metadata reaches the site in parts, each through its own methods:

- `fields` (title, description, tags, albums, publish flag, custom variables): one
  photo/update, which also keeps the identity marker in the tags;
- `coordinates`: photo/coordinate/delete of the coordinate syncd added before (the site
  keeps any number of them, so a new one alone would not replace it), then
  photo/coordinate/add;
- `chapters`: the video's sections made equal to the chapters: photo/section/list, then
  the creates, updates and deletes `plan_sections` gives;
- `thumbnail`: photo/replace with `time` (a frame of the video) or with the image as `file`.

The journal remembers what was applied, part by part (`AppliedParts`, JSON in the files
row), so a sidecar edit that changes one part sends only that part's calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from syncd.model import (
    DEFAULT_TAG_JOINER,
    Chapter,
    Coordinates,
    FileRow,
    Metadata,
    RemoteSection,
    Thumbnail,
)
from syncd.plan.upload import describe_fields, upload_fields

# Two section starts closer than this are the same start (the site may keep fewer digits).
START_TOLERANCE = 0.0005
# Digits after the point in numbers sent to the site: coordinates are kept to 7 decimals
# (syncd.metadata.sidecar.fields), seconds need no more.
NUMBER_DECIMALS = 7


# The record of a part whose calls are being sent: what the site has of it is not known
# until they are answered, so the part is due again whatever the metadata then says.
SENDING = ""


def number_param(value: float) -> str:
    """A number as a request parameter: fixed point, no exponent, no trailing zeros
    (`90.5`, `90`, `-10.7391`)."""
    text = f"{value:.{NUMBER_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _digest(value: object) -> str:
    payload = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fields_digest(meta: Metadata) -> str:
    """The digest of what photo/update (or the upload request) carries: the metadata
    without chapters, coordinates and thumbnail, so editing those leaves it as it is."""
    return replace(meta, chapters=None, coordinates=None, thumbnail=None).digest()


def chapters_digest(chapters: Sequence[Chapter]) -> str:
    return _digest([[c.start, c.title, c.description or ""] for c in chapters])


def thumbnail_digest(thumbnail: Thumbnail) -> str:
    return _digest([thumbnail.time, thumbnail.file, thumbnail.image_sha256])


def _coordinates(value: Any) -> Coordinates | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return Coordinates(latitude=float(value[0]), longitude=float(value[1]))
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class AppliedParts:
    """What the site has of an item's metadata, as far as syncd sent it (None: nothing
    known, or the part is not syncd's).

    A part being sent is recorded as SENDING first, so a failure or a crash halfway (some
    sections changed, an update whose answer was lost) leaves it due, even if the sidecar
    goes back to what it was before. `adding` is a coordinate whose photo/coordinate/add
    was sent but not answered yet: it may have landed, so the next attempt deletes it
    first rather than adding a second copy.
    """

    fields: str | None = None
    chapters: str | None = None
    coordinates: Coordinates | None = None
    adding: Coordinates | None = None
    thumbnail: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> AppliedParts:
        """From the journal's JSON; a missing or unreadable record knows nothing."""
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(
            fields=_text(data.get("fields")),
            chapters=_text(data.get("chapters")),
            coordinates=_coordinates(data.get("coordinates")),
            adding=_coordinates(data.get("adding")),
            thumbnail=_text(data.get("thumbnail")),
        )

    def dumps(self) -> str:
        data: dict[str, object] = {}
        for name in ("fields", "chapters", "thumbnail"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        for name in ("coordinates", "adding"):
            where: Coordinates | None = getattr(self, name)
            if where is not None:
                data[name] = [where.latitude, where.longitude]
        return json.dumps(data, sort_keys=True)


def goal_parts(meta: Metadata) -> AppliedParts:
    """The record once `meta` is applied in full."""
    return AppliedParts(
        fields=fields_digest(meta),
        chapters=None if meta.chapters is None else chapters_digest(meta.chapters),
        coordinates=meta.coordinates,
        thumbnail=None if meta.thumbnail is None else thumbnail_digest(meta.thumbnail),
    )


def uploaded_parts(meta: Metadata) -> tuple[AppliedParts, bool]:
    """What an upload request that carried `meta`'s fields applied to the new item, and
    whether that is all of `meta` (else the metadata stage sends the rest). A new item has
    no sections, so "no chapters" holds already."""
    parts = AppliedParts(
        fields=fields_digest(meta),
        chapters=chapters_digest(()) if meta.chapters == () else None,
    )
    complete = not meta.chapters and meta.coordinates is None and meta.thumbnail is None
    return parts, complete


def parts_after_replace(applied_parts: str | None) -> str | None:
    """The record once photo/replace swapped the item's media (reconcile, issue 14): the
    item keeps its fields, sections and coordinates, but a new video brings a thumbnail of
    its own, so the thumbnail is due again. Keep the rest: forgetting the coordinate syncd
    added would leave it on the site beside the one added next."""
    if applied_parts is None:
        return None
    return replace(AppliedParts.parse(applied_parts), thumbnail=None).dumps()


def fields_due(row: FileRow, meta: Metadata) -> bool:
    """Whether the item's photo/update fields differ from what was applied (albums need
    resolving only then)."""
    return AppliedParts.parse(row.applied_parts).fields != fields_digest(meta)


@dataclass(frozen=True, slots=True)
class MetadataPlan:
    """The calls that bring one item's metadata in line, part by part; what `push --dry-run`
    prints and the metadata executor follows. A part that is up to date has no call.

    `chapters` is the list the item's sections are made equal to (`()`: delete them all;
    None: leave the sections alone); which sections to create, update or delete is decided
    against the site's list when the plan runs (`plan_sections`).
    """

    path: str
    photo_id: str
    fields: Mapping[str, str] | None = None  # photo/update
    coordinate_deletes: tuple[Coordinates, ...] = ()  # coordinates syncd added, to remove
    coordinate_add: Coordinates | None = None
    chapters: tuple[Chapter, ...] | None = None
    thumbnail: Thumbnail | None = None  # photo/replace: a frame or an image
    applied: AppliedParts = field(default_factory=AppliedParts)  # the record before
    goal: AppliedParts = field(default_factory=AppliedParts)  # the record after

    @property
    def calls_nothing(self) -> bool:
        return (
            self.fields is None
            and not self.coordinate_deletes
            and self.coordinate_add is None
            and self.chapters is None
            and self.thumbnail is None
        )

    def __str__(self) -> str:
        steps: list[str] = []
        if self.fields is not None:
            steps.append(describe_fields(self.fields))
        steps += [f"coordinate delete {_where(c)}" for c in self.coordinate_deletes]
        if self.coordinate_add is not None:
            steps.append(f"coordinate add {_where(self.coordinate_add)}")
        if self.chapters is not None:
            listed = ", ".join(f"{number_param(c.start)} s {c.title!r}" for c in self.chapters)
            steps.append(f"chapters [{listed}]" if listed else "chapters none (delete sections)")
        if self.thumbnail is not None:
            steps.append(f"thumbnail {_thumb(self.thumbnail)}")
        head = f"update {self.path} photo {self.photo_id}"
        return f"{head}: nothing to send" if not steps else f"{head} {'; '.join(steps)}"


def _where(c: Coordinates) -> str:
    return f"{number_param(c.latitude)},{number_param(c.longitude)}"


def _thumb(t: Thumbnail) -> str:
    return f"frame at {number_param(t.time)} s" if t.time is not None else f"image {t.file!r}"


def plan_metadata(
    row: FileRow,
    meta: Metadata,
    album_ids: Mapping[str, str],
    *,
    tag_joiner: str = DEFAULT_TAG_JOINER,
) -> MetadataPlan:
    """The calls for the parts of `meta` the journal does not record as applied.

    `album_ids` are needed only when the fields are due (see `fields_due`); `tag_joiner`
    joins a multi-word tag's words (syncd.plan.upload.tags_field)."""
    assert row.photo_id, f"{row.path}: no remote item to update"
    applied, goal = AppliedParts.parse(row.applied_parts), goal_parts(meta)
    fields: dict[str, str] | None = None
    if applied.fields != goal.fields:
        sha256 = row.sha256 or row.uploaded_sha256 or ""
        fields = upload_fields(meta, sha256, album_ids, tag_joiner=tag_joiner)
        fields["published_p"] = fields.pop("publish")
    deletes: list[Coordinates] = []
    if applied.adding is not None:
        deletes.append(applied.adding)  # that add may have landed: never add a second copy
    moved = applied.coordinates != goal.coordinates
    if moved and applied.coordinates is not None and applied.coordinates not in deletes:
        deletes.append(applied.coordinates)
    add = goal.coordinates if moved or applied.adding is not None else None
    chapters: tuple[Chapter, ...] | None = None
    if applied.chapters != goal.chapters:
        # Chapters taken out of the sidecar after syncd applied them: delete them too.
        chapters = meta.chapters if meta.chapters is not None else ()
    thumbnail = None
    if meta.thumbnail is not None and applied.thumbnail != goal.thumbnail:
        thumbnail = meta.thumbnail
    return MetadataPlan(
        path=row.path,
        photo_id=row.photo_id,
        fields=fields,
        coordinate_deletes=tuple(deletes),
        coordinate_add=add,
        chapters=chapters,
        thumbnail=thumbnail,
        applied=applied,
        goal=goal,
    )


# --- sections -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionCall:
    """One photo/section/{create,update,delete} call."""

    action: str  # "create", "update" or "delete"
    section_id: str | None = None
    chapter: Chapter | None = None

    @property
    def method(self) -> str:
        return f"photo/section/{self.action}"

    def params(self) -> dict[str, str]:
        """The call's parameters besides photo_id."""
        params: dict[str, str] = {}
        if self.section_id is not None:
            params["section_id"] = self.section_id
        if self.chapter is not None:
            params["start_time"] = number_param(self.chapter.start)
            params["title"] = self.chapter.title
            # Required by section/create; section/update resets an omitted one to "".
            params["description"] = self.chapter.description or ""
        return params

    def __str__(self) -> str:
        what = f"section {self.action}"
        if self.section_id is not None:
            what += f" {self.section_id}"
        if self.chapter is not None:
            what += f" {number_param(self.chapter.start)} s {self.chapter.title!r}"
        return what


def same_section(chapter: Chapter, section: RemoteSection) -> bool:
    """Whether the section on the site already is this chapter."""
    return (
        abs(chapter.start - section.start) < START_TOLERANCE
        and chapter.title == section.title
        and (chapter.description or "") == section.description
    )


def plan_sections(
    chapters: Iterable[Chapter], sections: Iterable[RemoteSection]
) -> list[SectionCall]:
    """The fewest calls that make the item's sections equal to `chapters`.

    Sections that already are a chapter stay untouched. The others are reused where they
    can be (an update is one call, a delete and a create two): first a section at the
    chapter's start, then one with its title, then the rest in order of start. Sections
    left over are deleted, chapters left over created. Deletes come first, so a start
    they held is free before anything moves onto it.
    """
    want = list(chapters)
    have = sorted(sections, key=lambda s: (s.start, s.section_id))
    for chapter in list(want):
        match = next((s for s in have if same_section(chapter, s)), None)
        if match is not None:
            want.remove(chapter)
            have.remove(match)
    pairs: list[tuple[Chapter, RemoteSection]] = []
    for alike in (
        lambda c, s: abs(c.start - s.start) < START_TOLERANCE,
        lambda c, s: c.title == s.title,
    ):
        for chapter in list(want):
            match = next((s for s in have if alike(chapter, s)), None)
            if match is not None:
                pairs.append((chapter, match))
                want.remove(chapter)
                have.remove(match)
    n = min(len(want), len(have))
    pairs += zip(want[:n], have[:n], strict=True)
    calls = [SectionCall("delete", section_id=s.section_id) for s in have[n:]]
    pairs.sort(key=lambda pair: pair[0].start)
    calls += [SectionCall("update", section_id=s.section_id, chapter=c) for c, s in pairs]
    calls += [SectionCall("create", chapter=c) for c in want[n:]]
    return calls
