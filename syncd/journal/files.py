"""The scanner's side of the journal: what is on disk, and what each file's content is."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from syncd.journal.db import _SELECT_FILES, NOT_A_COPY, VANISHABLE, JournalDb, _p, _row, _text
from syncd.model import FileRow, ItemState, LocalFile
from syncd.text import printable


class Files(JournalDb):
    """Recording what the scanner saw: new and changed files, content hashes, vanishings."""

    def observe_batch(self, seen: Iterable[LocalFile], root: str) -> None:
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
        root_raw = _p(root)
        with self._write() as conn:
            now = self._clock.time()
            for item in items:
                old = self._get(conn, item.path)
                if old is None:
                    conn.execute(
                        "INSERT INTO files (path, root, size, mtime_ns, inode, state,"
                        " stable_since, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (
                            _p(item.path),
                            root_raw,
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
                if (old.size, old.mtime_ns, old.inode) == (item.size, item.mtime_ns, item.inode):
                    continue
                if old.state is ItemState.UPLOADING:
                    continue
                detail = (
                    f"changed: size {old.size}->{item.size}, "
                    f"mtime_ns {old.mtime_ns}->{item.mtime_ns}, inode {old.inode}->{item.inode}"
                )
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
        skip_duplicates: bool = False,
    ) -> tuple[ItemState | None, FileRow | None]:
        """pending -> ready, or -> skipped when `skip_duplicates` and a live copy exists.

        Atomic (one transaction), so two scanners hashing twin files at once
        cannot both make them ready. Returns (new state or None if the row
        was not pending with that size/mtime, the row it duplicates or None).
        """
        with self._write() as conn:
            now = self._clock.time()
            where = " AND size = ? AND mtime_ns = ?"
            old = self._get(conn, path)
            if old is not None and old.photo_id and old.uploaded_sha256 == sha256:
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.SYNCED,
                    {"sha256": sha256},
                    f"content unchanged (touched or copied over): still photo {old.photo_id}",
                    now,
                    where,
                    (expect_size, expect_mtime_ns),
                )
                return (ItemState.SYNCED if ok else None), None
            twin: FileRow | None = None
            if skip_duplicates:
                twin = next(
                    (r for r in self._find_by_sha(conn, sha256, path) if r.state not in NOT_A_COPY),
                    None,
                )
            if twin is None:
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.READY,
                    {"sha256": sha256},
                    "stable and hashed",
                    now,
                    where,
                    (expect_size, expect_mtime_ns),
                )
                return (ItemState.READY if ok else None), None
            reason = f"duplicate of {printable(twin.path)}"
            ok = self._cas(
                conn,
                path,
                ItemState.PENDING,
                ItemState.SKIPPED,
                {
                    "sha256": sha256,
                    "duplicate_of": _p(twin.path),
                    "error_code": "duplicate",
                    "error_message": _text(reason),
                },
                reason,
                now,
                where,
                (expect_size, expect_mtime_ns),
            )
            return (ItemState.SKIPPED if ok else None), (twin if ok else None)

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
            f"{_SELECT_FILES} WHERE sha256 = ? ORDER BY created_at, path", (sha256,)
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
