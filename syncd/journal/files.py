"""The scanner's side of the journal: what is on disk, and what each file's content is."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from syncd.journal.db import (
    _SELECT_FILES,
    EVENTS_OF_PATH,
    FILES_WITH_SHA,
    JournalDb,
    _p,
    _row,
    _text,
    path_key,
)
from syncd.model import BAD_SIDECAR, VANISHABLE, FileRow, FileVersion, ItemState, LocalFile
from syncd.text import printable


class Decision(Protocol):
    """A decision about a hashed file (plan/local.py's LocalAction)."""

    @property
    def kind(self) -> str: ...

    @property
    def other(self) -> str | None: ...


# (pending row, its content hash, rows elsewhere with that content, oldest first) -> decision
Decide = Callable[[FileRow, str, list[FileRow]], Decision]


# The desired digest of a file whose metadata cannot be read: never equal to an applied
# digest, so the metadata stage keeps the item on its list (and says why) until it is fixed.
UNREADABLE_METADATA = "!unreadable"

# Values bound in one IN (...) list: well under SQLite's limit on parameters.
MAX_PARAMS = 500


class Files(JournalDb):
    """Recording what the scanner saw: new and changed files, content hashes, vanishings."""

    def observe_batch(
        self, seen: Iterable[LocalFile], root: str, root_of: Callable[[str], str] | None = None
    ) -> None:
        """Record what the scanner saw, in one transaction; unchanged files cost no write.

        - new path: inserted as `pending`, stable_since = now.
        - known path whose (size, mtime_ns, inode) changed: size/mtime/inode
          updated, sha256 cleared, stable_since = now, and the row goes back to
          `pending` (event "changed") from any state except `uploading`.
          photo_id and uploaded_sha256 are kept: when the rehashed content is
          the one the remote item holds (a touch, a restore, a copy over it),
          promote() puts the row straight back to `synced`. attempts is kept
          too: an earlier attempt may still have landed, so the uploader asks
          the site first.
        - `uploading` rows are left alone: the worker re-stats the file and
          abandons/re-queues a file that changed under it; the next scan
          then sees the difference.
        """
        items = list(seen)
        if not items:
            return  # nothing to write: do not even take the write lock
        with self._write() as conn:
            now = self._clock.time()
            for item in items:
                old = self._get(conn, item.path)
                if old is None:
                    row_root = root if root_of is None else root_of(item.path)
                    _check_root(item.path, row_root)
                    conn.execute(
                        "INSERT INTO files (path, root, size, mtime_ns, inode, state,"
                        " stable_since, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (
                            _p(item.path),
                            _p(row_root),
                            item.size,
                            item.mtime_ns,
                            item.inode,
                            str(ItemState.PENDING),
                            now,
                            now,
                            now,
                        ),
                    )
                    self._event(conn, item.path, None, str(ItemState.PENDING), "new", now)
                    continue
                if old.version.same_as(item.version):
                    continue
                if old.state is ItemState.UPLOADING:
                    continue
                detail = f"changed: {old.version.describe_change(item.version)}"
                changes: dict[str, Any] = {
                    "size": item.size,
                    "mtime_ns": item.mtime_ns,
                    "inode": item.inode,
                    "sha256": None,
                    "stable_since": now,
                    "duplicate_of": None,
                    "error_code": None,
                    "error_message": None,
                    "next_attempt_at": None,
                }
                if old.state is ItemState.PENDING:
                    # Still settling (e.g. being copied in): no state change, no event.
                    changes["updated_at"] = now
                    names = ", ".join(f"{k} = ?" for k in changes)
                    conn.execute(
                        f"UPDATE files SET {names} WHERE path = ? AND state = ?",
                        (*changes.values(), _p(item.path), str(ItemState.PENDING)),
                    )
                else:
                    self._cas(conn, item.path, old.state, ItemState.PENDING, changes, detail, now)

    def promote(
        self,
        path: str,
        sha256: str,
        *,
        expect_size: int,
        expect_mtime_ns: int,
        decide: Decide | None = None,
    ) -> tuple[ItemState | None, str | None]:
        """A pending row hashed as stable: ready, synced (the remote item holds these bytes),
        skipped as a duplicate, or the row of a vanished path with this content follows the
        file here (moved). `decide(row, twins)` is the pure decision (plan/local.py's
        plan_hashed); without it, the row is simply made ready.

        One transaction, so two scanners hashing twin files at once cannot both make them
        ready. Returns (new state, or None if the row was not pending with that size and
        mtime; the twin's path for a duplicate or a move, else None).
        """
        with self._write() as conn:
            now = self._clock.time()
            where = " AND size = ? AND mtime_ns = ?"
            expect = (expect_size, expect_mtime_ns)
            row = self._get(conn, path)
            if row is None or row.state is not ItemState.PENDING:
                return None, None
            twins = self._find_by_sha(conn, sha256, path)
            action = decide(row, sha256, twins) if decide is not None else None
            kind = "ready" if action is None else action.kind
            if kind == "synced":
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.SYNCED,
                    {"sha256": sha256},
                    f"content unchanged (touched or copied over): still photo {row.photo_id}",
                    now,
                    where,
                    expect,
                )
                return (ItemState.SYNCED if ok else None), None
            if kind == "moved" and action is not None and action.other is not None:
                if (row.size, row.mtime_ns) != expect:
                    return None, None
                here = LocalFile(row.path, row.size, row.mtime_ns, row.inode)
                moved = self._move(conn, action.other, here, row.root, sha256, now, "same content")
                return (moved.state if moved else None), action.other
            if kind == "duplicate" and action is not None and action.other is not None:
                reason = f"duplicate of {printable(action.other)}"
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.SKIPPED,
                    {
                        "sha256": sha256,
                        "duplicate_of": _p(action.other),
                        "error_code": "duplicate",
                        "error_message": _text(reason),
                    },
                    reason,
                    now,
                    where,
                    expect,
                )
                return (ItemState.SKIPPED if ok else None), (action.other if ok else None)
            ok = self._cas(
                conn,
                path,
                ItemState.PENDING,
                ItemState.READY,
                {"sha256": sha256},
                "stable and hashed",
                now,
                where,
                expect,
            )
            return (ItemState.READY if ok else None), None

    def find_same_version(self, version: FileVersion) -> list[FileRow]:
        """Rows with this inode, size and mtime: a renamed file, found without reading it."""
        found = self._read(
            f"{_SELECT_FILES} WHERE inode = ? AND size = ? AND mtime_ns = ?",
            (version.inode, version.size, version.mtime_ns),
        )
        return [_row(r) for r in found]

    def find_same_versions(
        self, versions: Iterable[FileVersion]
    ) -> dict[FileVersion, list[FileRow]]:
        """find_same_version for many versions in one query (the scanner asks per batch)."""
        wanted = set(versions)
        if not wanted:
            return {}
        inodes = sorted({v.inode for v in wanted})
        found: dict[FileVersion, list[FileRow]] = {}
        for start in range(0, len(inodes), MAX_PARAMS):
            part = inodes[start : start + MAX_PARAMS]
            marks = ", ".join("?" for _ in part)
            for values in self._read(f"{_SELECT_FILES} WHERE inode IN ({marks})", part):
                row = _row(values)
                if row.version in wanted:
                    found.setdefault(row.version, []).append(row)
        return found

    def move(self, old_path: str, new: LocalFile, root: str, why: str) -> FileRow | None:
        """The file of `old_path` is now at `new.path` (renamed or moved): the row follows
        it, keeping its state, photo_id, content and history. None if the old row is gone
        or being uploaded, or the new path already has a row that is not a fresh pending one."""
        with self._write() as conn:
            target = self._get(conn, new.path)
            if target is not None and (
                target.state is not ItemState.PENDING or target.photo_id is not None
            ):
                return None
            return self._move(conn, old_path, new, root, None, self._clock.time(), why)

    def _move(
        self,
        conn: sqlite3.Connection,
        old_path: str,
        new: LocalFile,
        root: str,
        sha256: str | None,
        now: float,
        why: str,
    ) -> FileRow | None:
        """Move `old_path`'s row to `new.path` with `new`'s version (a pending row already
        there, made by the scan a moment ago, is replaced by it)."""
        old = self._get(conn, old_path)
        if old is None or old.state is ItemState.UPLOADING:
            return None
        _check_root(new.path, root)
        new_raw, old_raw = _p(new.path), _p(old_path)
        conn.execute("DELETE FROM files WHERE path = ?", (new_raw,))
        # Sessions and their acknowledged chunks go with the file; the foreign keys are
        # checked at commit, when every row has moved.
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute(
            "UPDATE files SET path = ?, root = ?, size = ?, mtime_ns = ?, inode = ?,"
            " sha256 = COALESCE(?, sha256), duplicate_of = NULL, meta_sig = NULL,"
            " updated_at = ? WHERE path = ?",
            (new_raw, _p(root), new.size, new.mtime_ns, new.inode, sha256, now, old_raw),
        )
        conn.execute("UPDATE chunk_sessions SET path = ? WHERE path = ?", (new_raw, old_raw))
        conn.execute("UPDATE chunk_acks SET path = ? WHERE path = ?", (new_raw, old_raw))
        # The history follows the file: `syncd status NEWPATH` shows all of it.
        conn.execute(
            f"UPDATE events SET path_key = ? WHERE {EVENTS_OF_PATH}",
            (path_key(new_raw), path_key(old_raw)),
        )
        state = str(old.state)
        self._event(conn, old_path, state, None, f"moved to {printable(new.path)} ({why})", now)
        self._event(conn, new.path, state, state, f"moved from {printable(old_path)} ({why})", now)
        return self._get(conn, new.path)

    def mark_ready(self, path: str, sha256: str, *, expect_size: int, expect_mtime_ns: int) -> bool:
        """pending -> ready, only if size and mtime are still what was hashed."""
        state, _ = self.promote(
            path, sha256, expect_size=expect_size, expect_mtime_ns=expect_mtime_ns
        )
        return state is ItemState.READY

    def mark_skipped(
        self,
        path: str,
        reason: str,
        *,
        duplicate_of: str | None = None,
        from_state: ItemState,
        sha256: str | None = None,
    ) -> bool:
        """from_state -> skipped, with the reason (error_message) and twin path if any."""
        sets: dict[str, Any] = {
            "error_code": "duplicate" if duplicate_of else "skipped",
            "error_message": _text(reason),
            "duplicate_of": None if duplicate_of is None else _p(duplicate_of),
        }
        if sha256 is not None:
            sets["sha256"] = sha256
        with self._write() as conn:
            return self._cas(
                conn, path, from_state, ItemState.SKIPPED, sets, reason, self._clock.time()
            )

    def _find_by_sha(
        self, conn: sqlite3.Connection, sha256: str, exclude_path: str | None
    ) -> list[FileRow]:
        found = conn.execute(
            f"{_SELECT_FILES} WHERE {FILES_WITH_SHA} ORDER BY created_at, path",
            (sha256[:16], sha256),
        ).fetchall()
        rows = [_row(r) for r in found]
        return [r for r in rows if r.path != exclude_path]

    def find_by_sha(self, sha256: str, *, exclude_path: str | None = None) -> list[FileRow]:
        """Every row with this content hash (oldest first), any state."""
        with self._lock:
            return self._find_by_sha(self._conn, sha256, exclude_path)

    def mark_vanished(self, path: str, *, detail: str = "vanished from disk") -> bool:
        """The file is gone from disk: delete its row (with an event) if nothing was sent.

        Only rows in VANISHABLE states without a photo_id go (their chunk
        session with them); uploading/uploaded/synced/remote_missing rows,
        and any row that knows its remote item, stay for reconcile. Deleting (rather
        than a state) means a file that reappears later is simply new again.
        Returns True if a row was deleted.
        """
        with self._write() as conn:
            now = self._clock.time()
            old = self._get(conn, path)
            if old is None or old.state not in VANISHABLE or old.photo_id is not None:
                return False  # a row that knows a remote item is kept: never lose the mapping
            conn.execute(
                "DELETE FROM files WHERE path = ? AND state = ?", (_p(path), str(old.state))
            )
            self._event(conn, path, str(old.state), None, detail, now)
            # Copies skipped as its duplicates must not be orphaned: look at them again.
            twins = conn.execute(
                "SELECT path FROM files WHERE state = ? AND duplicate_of = ?",
                (str(ItemState.SKIPPED), _p(path)),
            ).fetchall()
            for (raw,) in twins:
                self._cas(
                    conn,
                    os.fsdecode(raw),
                    ItemState.SKIPPED,
                    ItemState.PENDING,
                    {
                        "duplicate_of": None,
                        "error_code": None,
                        "error_message": None,
                        "stable_since": now,
                    },
                    f"the copy it duplicated ({printable(path)}) vanished",
                    now,
                )
            return True

    # --- metadata sources -----------------------------------------------------------

    def set_desired(
        self, row: FileRow, digest: str | None, meta_sig: str, *, problem: str | None = None
    ) -> bool:
        """What the file's metadata is made of changed: record the new desired digest (the
        metadata stage brings the item in line when it differs from the applied one), or,
        with `problem`, that the metadata cannot be read (the item keeps what it has; the
        metadata stage reports it until the sidecar is fixed). Due at once either way."""
        desired = digest if problem is None else UNREADABLE_METADATA
        # A row read as `uploaded` may have become `synced` since (its metadata apply
        # finished): the same item on the site, so the desire still holds.
        on_site = (str(ItemState.UPLOADED), str(ItemState.SYNCED))
        states = on_site if str(row.state) in on_site else (str(row.state),) * 2
        with self._write() as conn:
            now = self._clock.time()
            cursor = conn.execute(
                "UPDATE files SET desired_digest = ?, meta_sig = ?, next_attempt_at = NULL,"
                " error_code = ?, error_message = ?, parks = 0"
                " WHERE path = ? AND state IN (?, ?) AND size = ? AND mtime_ns = ?",
                (
                    desired,
                    meta_sig,
                    None if problem is None else BAD_SIDECAR,
                    None if problem is None else _text(problem),
                    _p(row.path),
                    *states,
                    row.size,
                    row.mtime_ns,
                ),
            )
            if cursor.rowcount != 1:
                return False
            if desired != row.applied_digest:
                state = str(row.state)
                detail = "desired metadata changed" if problem is None else f"metadata: {problem}"
                self._event(conn, row.path, state, state, detail, now)
            return True

    def requeue_after_metadata_change(self, row: FileRow, meta_sig: str) -> bool:
        """A file that failed on its sidecar: the sidecar changed, so try again (hashed and
        unchanged: straight to `ready`)."""
        to = ItemState.READY if row.sha256 else ItemState.PENDING
        with self._write() as conn:
            return self._cas(
                conn,
                row.path,
                ItemState.FAILED,
                to,
                {
                    "meta_sig": meta_sig,
                    "error_code": None,
                    "error_message": None,
                    "next_attempt_at": None,
                    "stable_since": self._clock.time(),
                },
                "metadata sources changed; trying again",
                self._clock.time(),
                " AND size = ? AND mtime_ns = ?",
                (row.size, row.mtime_ns),
            )


def _check_root(path: str, root: str) -> None:
    """A row's root is the folder it was found under (its deepest [[watch]] root, or the
    scan root): the path itself or a folder above it. state_counts relies on it (see
    Queries.counts); anything else is a bug in the caller."""
    top = root.rstrip(os.sep) or os.sep
    if path != top and not path.startswith(top if top == os.sep else top + os.sep):
        raise ValueError(f"journal: {printable(path)} is not under its root {printable(root)}")
