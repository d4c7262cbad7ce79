"""What a local observation means: pure decisions, no I/O.

The scanner (and the watch feed) sees a path with a version (size, mtime, inode), later
maybe its content hash; the journal knows rows. These functions say what that means:

- `new`: a path the journal does not know, and no vanished row it could be;
- `changed`: a known path whose version differs (it goes back to `pending` to be hashed);
- `unchanged`: same version (nothing to do); `settling` when it is still `pending`;
- `moved`: the same file at a new path while its old path is gone: the row follows the
  file and keeps its `photo_id`, state and history (no upload). Found without reading
  the file when the inode, size and mtime match (a rename), else by content hash after
  hashing (a copy to the new place, then the old one deleted);
- `synced`: hashed content equals what the remote item already holds (touched, restored
  from backup, copied over with the same bytes);
- `duplicate`: the same content at another path that still exists (with
  `duplicates = "skip"`): recorded, not uploaded;
- `ready`: hashed, new content: to upload;
- `vanished` / `keep`: a row whose file is gone: dropped if nothing was sent, else kept
  for reconcile (the remote item stays).

Each action has a stable text form; tests compare lists of `str(action)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from syncd.model import NOT_A_COPY, VANISHABLE, FileRow, FileVersion, ItemState

# States whose row may follow its content to a new path found by hash: they hold (or may
# hold) a remote item, or are queued for one. A failed or skipped row has nothing to carry.
MOVABLE_BY_CONTENT = frozenset(
    {
        ItemState.SYNCED,
        ItemState.UPLOADED,
        ItemState.RETRY,
        ItemState.READY,
        ItemState.REMOTE_MISSING,
    }
)


@dataclass(frozen=True, slots=True)
class LocalAction:
    kind: str  # new | changed | unchanged | settling | moved | synced | duplicate | ready | ...
    path: str
    other: str | None = None  # moved: the old path; duplicate: the twin

    def __str__(self) -> str:
        if self.kind == "moved":
            return f"moved {self.other} -> {self.path}"
        if self.kind == "duplicate":
            return f"duplicate {self.path} of {self.other}"
        return f"{self.kind} {self.path}"


def _movable(row: FileRow, path: str, gone: Mapping[str, bool]) -> bool:
    """A row that may follow its file to `path`: another path, whose file is gone, and no
    worker is sending it (that worker finds the file gone and hands it back)."""
    return row.path != path and gone.get(row.path, False) and row.state is not ItemState.UPLOADING


def plan_seen(
    path: str,
    version: FileVersion,
    row: FileRow | None,
    same_version: Sequence[FileRow],
    gone: Mapping[str, bool],
) -> LocalAction:
    """A regular file at `path` with `version`; `row` is the journal's row for `path`;
    `same_version` rows elsewhere with the same inode, size and mtime; `gone` says which
    of their paths no longer exist."""
    if row is None:
        for twin in same_version:
            if twin.version.same_as(version) and _movable(twin, path, gone):
                return LocalAction("moved", path, twin.path)
        return LocalAction("new", path)
    if not row.version.same_as(version):
        # An upload in flight re-checks the file itself and re-queues it if it changed.
        return LocalAction("unchanged" if row.state is ItemState.UPLOADING else "changed", path)
    return LocalAction("settling" if row.state is ItemState.PENDING else "unchanged", path)


def plan_hashed(
    row: FileRow,
    sha256: str,
    twins: Sequence[FileRow],
    gone: Mapping[str, bool],
    *,
    skip_duplicates: bool,
) -> LocalAction:
    """A pending row whose file was hashed as stable; `twins` are rows elsewhere with the
    same content (oldest first); `gone` says which of their paths no longer exist."""
    if row.photo_id and row.uploaded_sha256 == sha256:
        return LocalAction("synced", row.path)
    for twin in twins:
        if _movable(twin, row.path, gone) and twin.state in MOVABLE_BY_CONTENT:
            return LocalAction("moved", row.path, twin.path)
    if skip_duplicates:
        for twin in twins:
            if twin.state not in NOT_A_COPY and not gone.get(twin.path, False):
                return LocalAction("duplicate", row.path, twin.path)
    return LocalAction("ready", row.path)


def plan_missing(row: FileRow, *, could_look: bool) -> LocalAction:
    """A row whose path the walk did not find. `could_look` is False when the folder could
    not be listed (then nothing is known to be gone)."""
    if not could_look or row.state not in VANISHABLE or row.photo_id is not None:
        return LocalAction("keep", row.path)
    return LocalAction("vanished", row.path)
