"""What a local observation means (plan/local.py), as tables: no disk, no journal.

Each case is a small tree: the journal's rows, what is on disk now (and, for hashing, each
file's content). The harness asks the plan functions the questions the scanner asks, with
the inputs the journal's queries would give, and the case lists the answers as
`str(action)`, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from plan_rows import file_row

from syncd.model import FileRow, FileVersion, ItemState
from syncd.plan.local import plan_hashed, plan_missing, plan_seen

S = ItemState
V1 = FileVersion(size=100, mtime_ns=1_000, inode=11)
V2 = FileVersion(size=200, mtime_ns=2_000, inode=22)
SHA1 = "11" * 32
SHA2 = "22" * 32


def row(
    path: str,
    state: ItemState,
    version: FileVersion = V1,
    *,
    sha256: str | None = None,
    photo_id: str | None = None,
    uploaded_sha256: str | None = None,
    created_at: float = 0.0,
) -> FileRow:
    return file_row(
        path=path,
        root="/m",
        size=version.size,
        mtime_ns=version.mtime_ns,
        inode=version.inode,
        sha256=sha256,
        state=state,
        photo_id=photo_id,
        created_at=created_at,
        updated_at=created_at,
        uploaded_sha256=uploaded_sha256,
    )


def on_site(
    path: str, state: ItemState = S.SYNCED, version: FileVersion = V1, sha: str = SHA1
) -> FileRow:
    """A row whose content is on the site as photo p-<name>."""
    name = path.rsplit("/", 1)[-1]
    return row(path, state, version, sha256=sha, photo_id=f"p-{name}", uploaded_sha256=sha)


# --- plan_seen: a walk finds files --------------------------------------------------------


@dataclass(frozen=True)
class Walk:
    rows: list[FileRow]
    disk: Mapping[str, FileVersion]  # every file on disk now, with its version


def walk(case: Walk) -> list[str]:
    """plan_seen for each file on disk. Like the journal's inode query, the candidates for
    a rename are every other row with the file's inode: plan_seen checks size and mtime."""
    by_path = {r.path: r for r in case.rows}
    out = []
    for path, version in sorted(case.disk.items()):
        same = [r for r in case.rows if r.path != path and r.inode == version.inode]
        gone = {r.path: r.path not in case.disk for r in same}
        out.append(str(plan_seen(path, version, by_path.get(path), same, gone)))
    return out


WRITTEN = FileVersion(size=150, mtime_ns=1_500, inode=11)  # V1's file, written in place
TOUCHED = FileVersion(size=100, mtime_ns=9_000, inode=11)  # V1's file, mtime bumped
COPIED_OVER = FileVersion(size=100, mtime_ns=1_000, inode=99)  # a new inode at V1's path

SEEN_CASES: dict[str, tuple[Walk, list[str]]] = {
    "new: a path the journal does not know": (
        Walk([], {"/m/a.mp4": V1}),
        ["new /m/a.mp4"],
    ),
    "unchanged: same version as the synced row": (
        Walk([on_site("/m/a.mp4")], {"/m/a.mp4": V1}),
        ["unchanged /m/a.mp4"],
    ),
    "unchanged: every state but pending, same version": (
        Walk(
            [
                row("/m/a.mp4", S.READY, V1),
                row("/m/b.mp4", S.FAILED, V2),
                row("/m/c.mp4", S.SKIPPED, FileVersion(3, 3, 33)),
                row("/m/d.mp4", S.RETRY, FileVersion(4, 4, 44)),
            ],
            {
                "/m/a.mp4": V1,
                "/m/b.mp4": V2,
                "/m/c.mp4": FileVersion(3, 3, 33),
                "/m/d.mp4": FileVersion(4, 4, 44),
            },
        ),
        ["unchanged /m/a.mp4", "unchanged /m/b.mp4", "unchanged /m/c.mp4", "unchanged /m/d.mp4"],
    ),
    "settling: same version, still pending (waits to be stable)": (
        Walk([row("/m/a.mp4", S.PENDING, V1)], {"/m/a.mp4": V1}),
        ["settling /m/a.mp4"],
    ),
    "changed: written in place (size and mtime)": (
        Walk([on_site("/m/a.mp4")], {"/m/a.mp4": WRITTEN}),
        ["changed /m/a.mp4"],
    ),
    # Touched and copied over look changed by version; the rehash tells (plan_hashed: synced).
    "changed: touched (mtime only)": (
        Walk([on_site("/m/a.mp4")], {"/m/a.mp4": TOUCHED}),
        ["changed /m/a.mp4"],
    ),
    "changed: copied over (new inode, same size and mtime)": (
        Walk([on_site("/m/a.mp4")], {"/m/a.mp4": COPIED_OVER}),
        ["changed /m/a.mp4"],
    ),
    "changed: a pending file still being written": (
        Walk([row("/m/a.mp4", S.PENDING, V1)], {"/m/a.mp4": WRITTEN}),
        ["changed /m/a.mp4"],
    ),
    "unchanged: changed under an upload (the worker re-checks the file itself)": (
        Walk([row("/m/a.mp4", S.UPLOADING, V1, sha256=SHA1)], {"/m/a.mp4": WRITTEN}),
        ["unchanged /m/a.mp4"],
    ),
    "moved: renamed synced file (same inode, size, mtime; old path gone)": (
        Walk([on_site("/m/a.mp4")], {"/m/b.mp4": V1}),
        ["moved /m/a.mp4 -> /m/b.mp4"],
    ),
    "moved: to another folder under the root": (
        Walk([on_site("/m/x/a.mp4")], {"/m/y/a.mp4": V1}),
        ["moved /m/x/a.mp4 -> /m/y/a.mp4"],
    ),
    "moved: a queued file (nothing sent yet) follows too": (
        Walk([row("/m/a.mp4", S.READY, V1, sha256=SHA1)], {"/m/b.mp4": V1}),
        ["moved /m/a.mp4 -> /m/b.mp4"],
    ),
    "moved: a failed file keeps its row and error": (
        Walk([row("/m/a.mp4", S.FAILED, V1)], {"/m/b.mp4": V1}),
        ["moved /m/a.mp4 -> /m/b.mp4"],
    ),
    "new: a hard link (same inode, the old path still there)": (
        Walk([on_site("/m/a.mp4")], {"/m/a.mp4": V1, "/m/b.mp4": V1}),
        ["unchanged /m/a.mp4", "new /m/b.mp4"],
    ),
    "new: renamed while being uploaded (the worker finds it gone and hands it back)": (
        Walk([row("/m/a.mp4", S.UPLOADING, V1, sha256=SHA1)], {"/m/b.mp4": V1}),
        ["new /m/b.mp4"],
    ),
    "new: renamed, then written (inode matches, mtime does not)": (
        Walk([on_site("/m/a.mp4")], {"/m/b.mp4": WRITTEN}),
        ["new /m/b.mp4"],
    ),
    "new: a reused inode with another size": (
        Walk([on_site("/m/a.mp4")], {"/m/b.mp4": FileVersion(999, 1_000, 11)}),
        ["new /m/b.mp4"],
    ),
    "changed: renamed onto a known path (that path's row decides, no move)": (
        Walk([on_site("/m/a.mp4"), on_site("/m/b.mp4", version=V2, sha=SHA2)], {"/m/b.mp4": V1}),
        ["changed /m/b.mp4"],
    ),
    "changed: two files swapped names": (
        Walk(
            [on_site("/m/a.mp4"), on_site("/m/b.mp4", version=V2, sha=SHA2)],
            {"/m/a.mp4": V2, "/m/b.mp4": V1},
        ),
        ["changed /m/a.mp4", "changed /m/b.mp4"],
    ),
}


@pytest.mark.parametrize(("case", "expected"), SEEN_CASES.values(), ids=SEEN_CASES.keys())
def test_plan_seen(case: Walk, expected: list[str]) -> None:
    assert walk(case) == expected


# --- plan_hashed: pending files hashed as stable --------------------------------------------


@dataclass(frozen=True)
class Hashing:
    rows: list[FileRow]  # the pending rows are the ones hashed, in this order
    content: Mapping[str, str]  # path -> sha256 of each pending file
    gone: frozenset[str] = field(default_factory=frozenset)  # rows' paths no longer on disk
    skip_duplicates: bool = True


def hashing(case: Hashing) -> list[str]:
    """plan_hashed for each pending row. Like the journal's query, the twins are the other
    rows with that content, oldest first (a pending row has no hash yet)."""
    oldest_first = sorted(case.rows, key=lambda r: (r.created_at, r.path))
    out = []
    for r in case.rows:
        if r.state is not S.PENDING:
            continue
        sha = case.content[r.path]
        twins = [t for t in oldest_first if t.path != r.path and t.sha256 == sha]
        gone = {t.path: t.path in case.gone for t in twins}
        action = plan_hashed(r, sha, twins, gone, skip_duplicates=case.skip_duplicates)
        out.append(str(action))
    return out


def pending(path: str, *, was: FileRow | None = None, created_at: float = 10.0) -> FileRow:
    """A pending row; `was` the row it was before a change (keeps photo_id and the content
    the remote item holds, as the journal does)."""
    if was is None:
        return row(path, S.PENDING, V2, created_at=created_at)
    return row(
        path,
        S.PENDING,
        V2,
        photo_id=was.photo_id,
        uploaded_sha256=was.uploaded_sha256,
        created_at=created_at,
    )


A = on_site("/m/a.mp4")

HASHED_CASES: dict[str, tuple[Hashing, list[str]]] = {
    "ready: new content": (
        Hashing([pending("/m/a.mp4")], {"/m/a.mp4": SHA1}),
        ["ready /m/a.mp4"],
    ),
    "synced: touched, the bytes the remote item holds": (
        Hashing([pending("/m/a.mp4", was=A)], {"/m/a.mp4": SHA1}),
        ["synced /m/a.mp4"],
    ),
    "synced: copied over (or restored) with the same bytes, a copy elsewhere too": (
        Hashing(
            [on_site("/m/b.mp4"), pending("/m/a.mp4", was=A)],
            {"/m/a.mp4": SHA1},
        ),
        ["synced /m/a.mp4"],
    ),
    "ready: changed content of a synced file (the item is replaced)": (
        Hashing([pending("/m/a.mp4", was=A)], {"/m/a.mp4": SHA2}),
        ["ready /m/a.mp4"],
    ),
    "moved: copied to a new place, then the old one deleted": (
        Hashing([A, pending("/m/b.mp4")], {"/m/b.mp4": SHA1}, gone=frozenset({"/m/a.mp4"})),
        ["moved /m/a.mp4 -> /m/b.mp4"],
    ),
    "moved: whatever the duplicates setting": (
        Hashing(
            [A, pending("/m/b.mp4")],
            {"/m/b.mp4": SHA1},
            gone=frozenset({"/m/a.mp4"}),
            skip_duplicates=False,
        ),
        ["moved /m/a.mp4 -> /m/b.mp4"],
    ),
    "moved: rows holding or queued for an item follow their content": (
        Hashing(
            [
                on_site("/m/u.mp4", S.UPLOADED, sha="01" * 32),
                row("/m/r.mp4", S.RETRY, sha256="02" * 32),
                row("/m/q.mp4", S.READY, sha256="03" * 32),
                on_site("/m/x.mp4", S.REMOTE_MISSING, sha="04" * 32),
                pending("/m/u2.mp4"),
                pending("/m/r2.mp4"),
                pending("/m/q2.mp4"),
                pending("/m/x2.mp4"),
            ],
            {
                "/m/u2.mp4": "01" * 32,
                "/m/r2.mp4": "02" * 32,
                "/m/q2.mp4": "03" * 32,
                "/m/x2.mp4": "04" * 32,
            },
            gone=frozenset({"/m/u.mp4", "/m/r.mp4", "/m/q.mp4", "/m/x.mp4"}),
        ),
        [
            "moved /m/u.mp4 -> /m/u2.mp4",
            "moved /m/r.mp4 -> /m/r2.mp4",
            "moved /m/q.mp4 -> /m/q2.mp4",
            "moved /m/x.mp4 -> /m/x2.mp4",
        ],
    ),
    "ready: a failed or skipped row has nothing to carry to the new path": (
        Hashing(
            [
                row("/m/f.mp4", S.FAILED, sha256=SHA1),
                row("/m/s.mp4", S.SKIPPED, sha256=SHA2),
                pending("/m/f2.mp4"),
                pending("/m/s2.mp4"),
            ],
            {"/m/f2.mp4": SHA1, "/m/s2.mp4": SHA2},
            gone=frozenset({"/m/f.mp4", "/m/s.mp4"}),
        ),
        ["ready /m/f2.mp4", "ready /m/s2.mp4"],
    ),
    "ready: the twin is gone but a worker is sending it (it hands the row back)": (
        Hashing(
            [row("/m/a.mp4", S.UPLOADING, sha256=SHA1), pending("/m/b.mp4")],
            {"/m/b.mp4": SHA1},
            gone=frozenset({"/m/a.mp4"}),
        ),
        ["ready /m/b.mp4"],
    ),
    "duplicate: the same content at a path that still exists": (
        Hashing([A, pending("/m/b.mp4")], {"/m/b.mp4": SHA1}),
        ["duplicate /m/b.mp4 of /m/a.mp4"],
    ),
    "duplicate: of a twin being uploaded": (
        Hashing(
            [row("/m/a.mp4", S.UPLOADING, sha256=SHA1), pending("/m/b.mp4")], {"/m/b.mp4": SHA1}
        ),
        ["duplicate /m/b.mp4 of /m/a.mp4"],
    ),
    "duplicate: of the oldest live twin": (
        Hashing(
            [
                row("/m/z.mp4", S.READY, sha256=SHA1, created_at=5),
                row("/m/a.mp4", S.SYNCED, sha256=SHA1, photo_id="p", created_at=1),
                pending("/m/b.mp4"),
            ],
            {"/m/b.mp4": SHA1},
        ),
        ["duplicate /m/b.mp4 of /m/a.mp4"],
    ),
    "moved beats duplicate: one twin gone, another still there": (
        Hashing(
            [A, on_site("/m/c.mp4"), pending("/m/b.mp4")],
            {"/m/b.mp4": SHA1},
            gone=frozenset({"/m/c.mp4"}),
        ),
        ["moved /m/c.mp4 -> /m/b.mp4"],
    ),
    "ready: duplicates = upload sends a copy": (
        Hashing([A, pending("/m/b.mp4")], {"/m/b.mp4": SHA1}, skip_duplicates=False),
        ["ready /m/b.mp4"],
    ),
    "ready: a failed or skipped twin is not a live copy": (
        Hashing(
            [
                row("/m/f.mp4", S.FAILED, sha256=SHA1),
                row("/m/s.mp4", S.SKIPPED, sha256=SHA2),
                pending("/m/f2.mp4"),
                pending("/m/s2.mp4"),
            ],
            {"/m/f2.mp4": SHA1, "/m/s2.mp4": SHA2},
        ),
        ["ready /m/f2.mp4", "ready /m/s2.mp4"],
    ),
    "several at once: a copy of a synced file, new content, a touched file": (
        Hashing(
            [
                A,
                pending("/m/b.mp4"),
                pending("/m/c.mp4"),
                pending("/m/d.mp4", was=on_site("/m/d.mp4", sha=SHA2)),
            ],
            {"/m/b.mp4": SHA1, "/m/c.mp4": "33" * 32, "/m/d.mp4": SHA2},
        ),
        ["duplicate /m/b.mp4 of /m/a.mp4", "ready /m/c.mp4", "synced /m/d.mp4"],
    ),
}


@pytest.mark.parametrize(("case", "expected"), HASHED_CASES.values(), ids=HASHED_CASES.keys())
def test_plan_hashed(case: Hashing, expected: list[str]) -> None:
    assert hashing(case) == expected


# --- plan_missing: rows whose file the walk did not find ------------------------------------


def missing(rows: list[FileRow], unlisted: frozenset[str] = frozenset()) -> list[str]:
    """plan_missing for each row; `unlisted` folders could not be listed."""
    return [
        str(plan_missing(r, could_look=not any(r.path.startswith(f + "/") for f in unlisted)))
        for r in rows
    ]


MISSING_CASES: dict[str, tuple[list[FileRow], frozenset[str], list[str]]] = {
    "vanished: nothing was sent, the row is dropped": (
        [
            row("/m/p.mp4", S.PENDING),
            row("/m/r.mp4", S.READY, sha256=SHA1),
            row("/m/t.mp4", S.RETRY, sha256=SHA1),
            row("/m/f.mp4", S.FAILED),
            row("/m/s.mp4", S.SKIPPED),
        ],
        frozenset(),
        [
            "vanished /m/p.mp4",
            "vanished /m/r.mp4",
            "vanished /m/t.mp4",
            "vanished /m/f.mp4",
            "vanished /m/s.mp4",
        ],
    ),
    "keep: rows describing a remote item are reconcile's": (
        [
            on_site("/m/a.mp4"),
            on_site("/m/b.mp4", S.UPLOADED),
            on_site("/m/c.mp4", S.REMOTE_MISSING),
        ],
        frozenset(),
        ["keep /m/a.mp4", "keep /m/b.mp4", "keep /m/c.mp4"],
    ),
    "keep: a worker's row": (
        [row("/m/a.mp4", S.UPLOADING, sha256=SHA1)],
        frozenset(),
        ["keep /m/a.mp4"],
    ),
    "keep: changed after sync, then deleted (its item is still on the site)": (
        [pending("/m/a.mp4", was=A), row("/m/b.mp4", S.RETRY, photo_id="p-b")],
        frozenset(),
        ["keep /m/a.mp4", "keep /m/b.mp4"],
    ),
    "keep: under a folder that could not be listed (nothing is known to be gone)": (
        [row("/m/x/a.mp4", S.READY), row("/m/xy.mp4", S.READY), row("/m/y/b.mp4", S.PENDING)],
        frozenset({"/m/x"}),
        ["keep /m/x/a.mp4", "vanished /m/xy.mp4", "vanished /m/y/b.mp4"],
    ),
}


@pytest.mark.parametrize(
    ("rows", "unlisted", "expected"), MISSING_CASES.values(), ids=MISSING_CASES.keys()
)
def test_plan_missing(rows: list[FileRow], unlisted: frozenset[str], expected: list[str]) -> None:
    assert missing(rows, unlisted) == expected


def test_every_action_kind_has_a_readable_text() -> None:
    """The text forms the tables compare: kind and path, with the other path where there
    is one (the old path of a move, the twin of a duplicate)."""
    kinds = {
        a.split(" ", 1)[0]
        for table in (SEEN_CASES, HASHED_CASES)
        for _, expected in table.values()
        for a in expected
    } | {a.split(" ", 1)[0] for *_, expected in MISSING_CASES.values() for a in expected}
    assert kinds == {
        "new",
        "changed",
        "unchanged",
        "settling",
        "moved",
        "synced",
        "duplicate",
        "ready",
        "vanished",
        "keep",
    }
