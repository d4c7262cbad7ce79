"""Reconcile planning: the archive, the journal and the site compared, as a list of actions.
Pure decisions: no network, no disk.

Three sides are paired: journal rows by path, local files by path (a file whose row's
path is gone pairs with that row by version or content: it moved), remote items by
photo_id, and, where a lookup was made, by identity marker (`syncd:<hash>`). What each
difference means, and what is done about it, follows one `ReconcilePolicy`:

- `remote-missing`: a row's item is gone from the site (confirmed, or recorded earlier):
  reupload, or report (`on_remote_missing`). An item carrying the content's marker
  elsewhere is adopted instead.
- `drift`: a synced item's title, description, publish state, album membership or tag
  count differs from the desired metadata (only what a listing shows: see
  docs/reconcile.md): reapply, or report (`on_drift`).
- `local-deleted`: a file gone from disk after its upload: keep, unpublish or delete its
  item (`on_local_delete`); forgotten when the item is gone too. Deletions beyond
  `max_delete` are all `blocked`: none is made.
- `changed`: a file whose content differs from what its item holds: replace the media
  (photo_id kept), upload as new, or report (`on_change`, as push and watch do).
- `adopt`: a file the site already holds under its marker, not linked to it in the
  journal: linked (no upload).
- `duplicate`: more items carry one content's marker than rows own: report, or with
  `--dedupe` delete all but the oldest (counted against `max_delete`).
- `transcoding`: a video still not transcoded `transcoding_timeout` after its upload.
- `new` (a file to upload) and `moved` (a row follows its file): what push would do.

Each action has a stable text form; tests compare lists of `str(action)`.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from syncd.model import (
    CONTENT_CHANGED,
    FileRow,
    ItemState,
    LocalFile,
    Metadata,
    OnChange,
    OnDrift,
    OnLocalDelete,
    OnRemoteMissing,
    ReconcilePolicy,
    RemoteItem,
)

# The error code a row carries when its item answered "no such photo".
NO_SUCH_PHOTO = "no_such_photo"
# Rows another part of syncd is busy with: the scan (settling) or a worker (uploading).
# Skipped rows (empty files, copies) have nothing on the site to compare.
NOT_COMPARED = frozenset({ItemState.PENDING, ItemState.UPLOADING, ItemState.SKIPPED})
# Rows waiting for an upload: an item with their marker may already be on the site.
QUEUED = frozenset({ItemState.READY, ItemState.RETRY})


class Kind(StrEnum):
    REMOTE_MISSING = "remote-missing"
    DRIFT = "drift"
    LOCAL_DELETED = "local-deleted"
    CHANGED = "changed"
    ADOPT = "adopt"
    DUPLICATE = "duplicate"
    TRANSCODING = "transcoding"
    NEW = "new"
    MOVED = "moved"


class Decision(StrEnum):
    REUPLOAD = "reupload"
    REAPPLY = "reapply"
    KEEP = "keep"
    UNPUBLISH = "unpublish"
    DELETE = "delete"
    FORGET = "forget"
    REPLACE = "replace"
    NEW = "new"  # a changed file uploaded as a new item
    LINK = "link"
    UPLOAD = "upload"
    FOLLOW = "follow"
    REPORT = "report"
    BLOCKED = "blocked"  # a deletion over max_delete: not made


# Decisions that leave the site out of step: the run exits 1.
UNREPAIRED = frozenset({Decision.REPORT, Decision.BLOCKED})
# Decisions that delete an item: counted against max_delete.
DELETIONS = frozenset({Decision.DELETE})


@dataclass(frozen=True, slots=True)
class ReconcileAction:
    """One difference and what is done about it. `photo_id`: the item concerned (for a
    duplicate, the one deleted or reported); `other`: a moved file's old path, or the item
    a duplicate is a copy of; `detail`: what differs, for the operator."""

    kind: Kind
    decision: Decision
    path: str
    photo_id: str | None = None
    other: str | None = None
    detail: str = ""

    @property
    def unrepaired(self) -> bool:
        return self.decision in UNREPAIRED

    def __str__(self) -> str:
        if self.kind is Kind.MOVED:
            return f"moved {self.other} -> {self.path}: {self.decision}"
        text = f"{self.kind} {self.path}"
        if self.photo_id is not None:
            text += f" photo {self.photo_id}"
        if self.detail:
            text += f" ({self.detail})"
        return f"{text}: {self.decision}"


@dataclass(frozen=True, slots=True)
class SiteView:
    """What was read from the site.

    `items`: every listed item (and any fetched after the listing missed it), by photo_id.
    `absent`: photo_ids a fetch confirmed gone. `album_ids`: album title -> ids of the
    albums with exactly that title (titles not read are absent). `album_members`: album_id
    -> photo_ids. `unsettled_albums`: albums that changed on every read (membership
    unknown). `identities`: content hash -> the items carrying its marker, oldest first,
    for the hashes that were looked up (a hash not looked up is absent: nothing known).
    `tracked`: every photo_id the journal gives to some file, under any root."""

    items: Mapping[str, RemoteItem] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    album_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    album_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unsettled_albums: frozenset[str] = frozenset()
    identities: Mapping[str, tuple[RemoteItem, ...]] = field(default_factory=dict)
    tracked: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ReconcileInput:
    """`rows`: journal rows under the roots. `local`: the files a walk found under them
    (with `sha256` where hashed: files new to the journal or changed since their row).
    `unknown`: folders the walk could not examine (and roots not there): rows under them
    are not known to be gone. `desired`: path -> desired metadata, for the rows whose
    drift can be checked. `now`: the journal clock's time."""

    rows: Sequence[FileRow]
    local: Mapping[str, LocalFile]
    site: SiteView
    desired: Mapping[str, Metadata] = field(default_factory=dict)
    unknown: Sequence[str] = ()
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    actions: tuple[ReconcileAction, ...]
    blocked: str | None = None  # why deletions were not made (max_delete), if they were not
    untracked: int = 0  # items on the site the journal does not know (maybe not syncd's)

    def lines(self) -> list[str]:
        return [str(a) for a in self.actions]


def plan_reconcile(
    inp: ReconcileInput,
    policy: ReconcilePolicy,
    *,
    dedupe: bool = False,
    adopt_only: bool = False,
) -> ReconcilePlan:
    """Every difference between the three sides, and what to do about each under `policy`.
    `adopt_only` (a journal rebuild): files found on the site are linked; files that are
    not are reported (nothing is uploaded)."""
    planner = _Planner(inp, policy, dedupe=dedupe, adopt_only=adopt_only)
    actions = planner.run()
    actions, blocked = cap_deletions(actions, policy.max_delete)
    return ReconcilePlan(tuple(actions), blocked, planner.untracked())


def cap_deletions(
    actions: Sequence[ReconcileAction], max_delete: int
) -> tuple[list[ReconcileAction], str | None]:
    """As rclone's --max-delete: a plan with more deletions than the cap makes none."""
    count = sum(1 for a in actions if a.decision in DELETIONS)
    if count <= max_delete:
        return list(actions), None
    why = f"{count} deletions planned, more than max_delete = {max_delete}: nothing deleted"
    capped = [
        ReconcileAction(a.kind, Decision.BLOCKED, a.path, a.photo_id, a.other, a.detail)
        if a.decision in DELETIONS
        else a
        for a in actions
    ]
    return capped, why


class _Planner:
    def __init__(
        self, inp: ReconcileInput, policy: ReconcilePolicy, *, dedupe: bool, adopt_only: bool
    ) -> None:
        self.inp = inp
        self.site = inp.site
        self.policy = policy
        self.dedupe = dedupe
        self.adopt_only = adopt_only
        self.rows = sorted(inp.rows, key=lambda r: r.path)
        self.by_path = {r.path: r for r in self.rows}
        self.actions: list[ReconcileAction] = []
        # Rows (or new files) whose content may be on the site under its marker, by hash.
        self.needy: dict[str, list[_Needy]] = {}
        # Rows with a listed item, by hash: their item is one of the marker's items.
        self.owners: dict[str, list[FileRow]] = {}
        self._moved_to: set[str] = set()  # new paths a gone row's file moved to

    # --- the pass over rows and files -------------------------------------------------

    def run(self) -> list[ReconcileAction]:
        moved_from = self._moves()
        for row in self.rows:
            if row.state is ItemState.PENDING and self.adopt_only and row.path in self.inp.local:
                # A rebuild hands nothing to the workers: a file still settling waits.
                self.actions.append(
                    ReconcileAction(
                        Kind.NEW,
                        Decision.REPORT,
                        row.path,
                        detail="not stable yet: not looked up; run again later",
                    )
                )
            if row.state in NOT_COMPARED or row.path in moved_from:
                continue
            local = self.inp.local.get(row.path)
            if local is None:
                if self._could_look(row.path) and row.photo_id is not None:
                    self.actions.append(self._local_deleted(row))
                continue
            sha = _content(row, local)
            if sha is None:
                continue  # changed since the scan: being written; the next run sees it
            self._row(row, sha)
        for path in sorted(self.inp.local):
            local = self.inp.local[path]
            if path in self.by_path or path in self._moved_to or local.sha256 is None:
                continue
            self.needy.setdefault(local.sha256, []).append(_Needy(path, local.size, None))
        self._identities()
        return sorted(self.actions, key=_order)

    def _row(self, row: FileRow, sha: str) -> None:
        if row.photo_id is None:
            if row.state in QUEUED:
                self.needy.setdefault(sha, []).append(_Needy(row.path, row.size, row))
            return  # failed before reaching the site: push's business
        if self._gone(row):
            self.needy.setdefault(sha, []).append(_Needy(row.path, row.size, row))
            return
        remote = self.site.items.get(row.photo_id)
        if remote is None:
            return  # neither listed nor confirmed gone: nothing is known about it
        if _changed(row, sha):
            self.actions.append(self._changed(row))
            return
        self.owners.setdefault(sha, []).append(row)
        meta = self.inp.desired.get(row.path)
        in_step = row.state is ItemState.SYNCED and row.desired_digest == row.applied_digest
        if in_step and meta is not None:
            differences = drift_of(remote, meta, self.site)
            if differences:
                decision = (
                    Decision.REAPPLY if self.policy.on_drift is OnDrift.REAPPLY else Decision.REPORT
                )
                self.actions.append(
                    ReconcileAction(
                        Kind.DRIFT, decision, row.path, row.photo_id, detail="; ".join(differences)
                    )
                )
        late = self._transcoding(row, remote)
        if late is not None:
            self.actions.append(late)

    def _gone(self, row: FileRow) -> bool:
        if row.state is ItemState.REMOTE_MISSING:
            return True
        if row.state is ItemState.FAILED and row.error_code == NO_SUCH_PHOTO:
            return True
        return row.photo_id in self.site.absent

    def _could_look(self, path: str) -> bool:
        return not any(
            path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in self.inp.unknown
        )

    # --- moves (a dry run sees them before any scan has followed them) ------------------

    def _moves(self) -> set[str]:
        """New files that are a gone row's file (same inode, size and mtime; or same
        content): `moved`. Returns the old paths."""
        gone = [
            r
            for r in self.rows
            if r.path not in self.inp.local
            and r.state not in NOT_COMPARED
            and self._could_look(r.path)
        ]
        moved_from: set[str] = set()
        for path in sorted(self.inp.local):
            if path in self.by_path:
                continue
            local = self.inp.local[path]
            for row in gone:
                if row.path in moved_from:
                    continue
                same_file = (row.inode, row.size, row.mtime_ns) == (
                    local.inode,
                    local.size,
                    local.mtime_ns,
                )
                same_bytes = local.sha256 is not None and local.sha256 == row.sha256
                if same_file or same_bytes:
                    moved_from.add(row.path)
                    self._moved_to.add(path)
                    self.actions.append(
                        ReconcileAction(
                            Kind.MOVED, Decision.FOLLOW, path, row.photo_id, other=row.path
                        )
                    )
                    break
        return moved_from

    # --- one class each -------------------------------------------------------------------

    def _local_deleted(self, row: FileRow) -> ReconcileAction:
        assert row.photo_id is not None
        remote = self.site.items.get(row.photo_id)
        if remote is None and self._gone(row):
            return ReconcileAction(
                Kind.LOCAL_DELETED,
                Decision.FORGET,
                row.path,
                row.photo_id,
                detail="gone from the site too",
            )
        policy = self.policy.on_local_delete
        if policy is OnLocalDelete.DELETE:
            return ReconcileAction(Kind.LOCAL_DELETED, Decision.DELETE, row.path, row.photo_id)
        if policy is OnLocalDelete.UNPUBLISH:
            if remote is not None and remote.published is False:
                return ReconcileAction(
                    Kind.LOCAL_DELETED,
                    Decision.KEEP,
                    row.path,
                    row.photo_id,
                    detail="unpublished already",
                )
            return ReconcileAction(Kind.LOCAL_DELETED, Decision.UNPUBLISH, row.path, row.photo_id)
        return ReconcileAction(Kind.LOCAL_DELETED, Decision.KEEP, row.path, row.photo_id)

    def _changed(self, row: FileRow) -> ReconcileAction:
        decision = {
            OnChange.REPLACE: Decision.REPLACE,
            OnChange.NEW: Decision.NEW,
            OnChange.REPORT: Decision.REPORT,
        }[self.policy.on_change]
        if self.adopt_only and decision is not Decision.REPORT:
            decision = Decision.REPORT
        return ReconcileAction(Kind.CHANGED, decision, row.path, row.photo_id)

    def _transcoding(self, row: FileRow, remote: RemoteItem) -> ReconcileAction | None:
        if remote.video is not True or remote.video_encoded is not False:
            return None  # not a video, or transcoded, or the answer did not say
        # The journal's clock: the row's last change came at or after the upload, so the
        # age is never overstated (the site's times name no zone).
        age = self.inp.now - row.updated_at
        if age < self.policy.transcoding_timeout:
            return None
        return ReconcileAction(
            Kind.TRANSCODING,
            Decision.REPORT,
            row.path,
            row.photo_id,
            detail=f"not transcoded {_hours(age)} after its upload; still running, or failed",
        )

    # --- identity markers: adopt, missing, duplicates -----------------------------------

    def _identities(self) -> None:
        for sha in sorted(set(self.needy) | set(self.owners)):
            needy = sorted(self.needy.get(sha, []), key=lambda n: n.path)
            owners = self.owners.get(sha, [])
            found = self.site.identities.get(sha)
            if found is None:  # not looked up: nothing known of other items
                for n in needy:
                    self.actions.append(self._not_found(n))
                continue
            size = (needy[0].size if needy else owners[0].size) if (needy or owners) else None
            items = [i for i in found if i.original_size in (None, size)]
            owned = {r.photo_id for r in owners}
            free = [
                i for i in items if i.photo_id not in self.site.tracked and i.photo_id not in owned
            ]
            linked: list[str] = []
            for n, item in zip(needy, free, strict=False):
                linked.append(item.photo_id)
                self.actions.append(
                    ReconcileAction(
                        Kind.ADOPT,
                        Decision.LINK,
                        n.path,
                        item.photo_id,
                        detail="carries its identity marker",
                    )
                )
            for n in needy[len(linked) :]:
                self.actions.append(self._not_found(n))
            extras = [i for i in free if i.photo_id not in linked]
            if extras:
                self._duplicates(sha, items, owners, needy, linked, extras)

    def _not_found(self, needy: _Needy) -> ReconcileAction:
        row = needy.row
        if row is not None and row.photo_id is not None:  # its item is gone
            decision = (
                Decision.REUPLOAD
                if self.policy.on_remote_missing is OnRemoteMissing.REUPLOAD
                else Decision.REPORT
            )
            if self.adopt_only:
                decision = Decision.REPORT
            return ReconcileAction(
                Kind.REMOTE_MISSING, decision, needy.path, row.photo_id, detail="gone from the site"
            )
        if self.adopt_only:
            return ReconcileAction(
                Kind.NEW, Decision.REPORT, needy.path, detail="not on the site: push uploads it"
            )
        return ReconcileAction(Kind.NEW, Decision.UPLOAD, needy.path)

    def _duplicates(
        self,
        sha: str,
        items: list[RemoteItem],
        owners: list[FileRow],
        needy: list[_Needy],
        linked: list[str],
        extras: list[RemoteItem],
    ) -> None:
        """Items with this content's marker beyond those rows own: copies. The oldest item
        is kept; with one owning row and an older copy, the row moves to that copy and its
        own item is the one deleted."""
        decision = Decision.DELETE if self.dedupe else Decision.REPORT
        keepers = [r.photo_id for r in owners if r.photo_id] + linked
        path = owners[0].path if owners else needy[0].path
        oldest = items[0]
        doomed = list(extras)
        kept = keepers[0]
        if len(owners) == 1 and not linked and oldest in extras:
            kept = oldest.photo_id
            doomed = [i for i in extras if i is not oldest]
            own = owners[0].photo_id
            assert own is not None
            self.actions.append(
                ReconcileAction(
                    Kind.DUPLICATE, decision, path, own, other=kept, detail=f"of photo {kept}"
                )
            )
        for item in doomed:
            self.actions.append(
                ReconcileAction(
                    Kind.DUPLICATE,
                    decision,
                    path,
                    item.photo_id,
                    other=kept,
                    detail=f"of photo {kept}",
                )
            )

    def untracked(self) -> int:
        return sum(1 for pid in self.site.items if pid not in self.site.tracked)


@dataclass(frozen=True, slots=True)
class _Needy:
    """A file whose content may be on the site under its marker: a queued or gone row's,
    or (in a dry run) a file new to the journal (`row` None)."""

    path: str
    size: int
    row: FileRow | None


def _content(row: FileRow, local: LocalFile) -> str | None:
    """The file's content hash now: hashed by the caller, or the row's when the file is the
    version the row describes; None when neither is known."""
    if local.sha256 is not None:
        return local.sha256
    if (row.size, row.mtime_ns, row.inode) == (local.size, local.mtime_ns, local.inode):
        return row.sha256
    return None


def _changed(row: FileRow, sha: str) -> bool:
    if row.state is ItemState.FAILED and row.error_code == CONTENT_CHANGED:
        return True
    return row.uploaded_sha256 is not None and sha != row.uploaded_sha256


def _order(action: ReconcileAction) -> tuple[str, int, str]:
    return (action.path, list(Kind).index(action.kind), action.photo_id or "")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


# --- metadata drift: only what a listing shows ------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def as_text(value: str) -> str:
    """Markup as the words it shows: tags stripped, entities read, white space collapsed. A
    site may rewrite a description's HTML (sanitising it) or strip a title's; comparing
    text sees an edit without mistaking a rewrite of markup for one."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()


def drift_of(remote: RemoteItem, meta: Metadata, site: SiteView) -> list[str]:
    """What differs between an item as listed and the desired metadata, as far as the
    listing shows it. Nothing is claimed where the answer did not say."""
    found: list[str] = []
    # An empty title is "not said": every item has one (the file name by default).
    title = remote.title
    if meta.title is not None and title and as_text(title) != as_text(meta.title):
        found.append(f"title {title!r}, not {meta.title!r}")
    # Only a description syncd sets: without one, photo/update leaves the site's alone.
    description = remote.description
    wanted = meta.description
    if wanted and description is not None and as_text(description) != as_text(wanted):
        found.append("description differs")
    # A scheduled item may show unpublished until its date: only unscheduled ones compared.
    published = remote.published
    if meta.publish_date is None and published is not None and published != meta.publish:
        found.append("unpublished" if meta.publish else "published")
    found.extend(_tag_drift(remote, meta.tags))
    found.extend(_album_drift(remote, meta.albums, site))
    return found


def _tag_drift(remote: RemoteItem, tags: Iterable[str]) -> list[str]:
    """The tag count, identity marker included. Not which tags: a list answer has none. A
    tag with a space or a quote may be stored as one tag or split (spec section 10): then
    the count proves nothing and is not compared."""
    wanted = set(tags)
    if remote.number_of_tags is None or any(" " in t or '"' in t for t in wanted):
        return []
    expected = len(wanted) + 1
    if remote.number_of_tags != expected:
        return [f"{remote.number_of_tags} tags, {expected} wanted"]
    return []


def _album_drift(remote: RemoteItem, albums: Iterable[str], site: SiteView) -> list[str]:
    found: list[str] = []
    wanted = list(dict.fromkeys(albums))
    for title in wanted:
        ids = site.album_ids.get(title)
        if ids is None or any(a in site.unsettled_albums for a in ids):
            continue  # not read, or changing while read: unknown
        if not ids:
            found.append(f"album {title!r} is not on the site")
        elif not any(remote.photo_id in site.album_members.get(a, ()) for a in ids):
            found.append(f"not in album {title!r}")
    count = remote.number_of_albums
    if not found and count is not None and count != len(wanted):
        found.append(f"in {count} albums, {len(wanted)} wanted")
    return found


__all__ = [
    "DELETIONS",
    "UNREPAIRED",
    "Decision",
    "Kind",
    "ReconcileAction",
    "ReconcileInput",
    "ReconcilePlan",
    "SiteView",
    "as_text",
    "cap_deletions",
    "drift_of",
    "plan_reconcile",
]
