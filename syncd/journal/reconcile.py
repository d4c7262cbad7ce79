"""Reconcile's side of the journal: what a comparison with the site writes.

Every change is a compare-and-set on the row as the planner saw it (its state, and its
content or digests where the decision rested on them), so a row that a push, `syncd watch`
or another reconcile changed meanwhile is left alone: the caller reports "changed
meanwhile" instead of acting on a stale view. Work with a remote effect (a deletion, an
unpublish) is done under a lease (`hold`), the same lease the metadata stage takes, so no
two processes do it at once.
"""

from __future__ import annotations

import os
from typing import Any, cast

from syncd.journal.db import JournalDb, _p, _text
from syncd.model import FileRow, ItemState


class Reconciling(JournalDb):
    """Adoption, drift marks, re-queues and forgetting, each one compare-and-set."""

    def claim_row(self, row: FileRow, owner: str, lease_seconds: float) -> FileRow | None:
        """Claim this one row (`ready` or `retry`, with the content that was looked up) as a
        worker would: -> `uploading` under a lease, attempts + 1 (so should the claim be
        abandoned, whoever takes the row next asks the site before sending). None when the
        row is no longer as it was seen (another process claimed or changed it)."""
        if row.state not in (ItemState.READY, ItemState.RETRY):
            return None
        with self._write() as conn:
            now = self._clock.time()
            ok = self._cas(
                conn,
                row.path,
                row.state,
                ItemState.UPLOADING,
                {
                    "lease_owner": owner,
                    "lease_until": now + lease_seconds,
                    "attempts": row.attempts + 1,
                    "next_attempt_at": None,
                },
                f"claimed by {owner} (reconcile)",
                now,
                " AND sha256 = ? AND attempts = ?",
                (row.sha256, row.attempts),
            )
            return self._get(conn, row.path) if ok else None

    def link(
        self,
        row: FileRow,
        owner: str,
        photo_id: str,
        *,
        desired_digest: str | None,
        applied_digest: str | None,
        applied_parts: str | None,
        meta_sig: str | None,
        detail: str,
    ) -> bool:
        """The row's content is on the site as `photo_id`: -> `synced` (from our claim, or
        from `remote_missing`). `applied_digest` None leaves the metadata to the metadata
        stage, which sends the parts `applied_parts` does not record."""
        sets: dict[str, Any] = {
            "photo_id": photo_id,
            "desired_digest": desired_digest,
            "applied_digest": applied_digest,
            "applied_parts": applied_parts,
            "meta_sig": meta_sig,
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
            "parks": 0,
        }
        where, params = " AND sha256 IS ?", cast(tuple[Any, ...], (row.sha256,))
        if row.state is ItemState.UPLOADING:
            where, params = where + " AND lease_owner = ?", (*params, owner)
        with self._write() as conn:
            return self._cas(
                conn,
                row.path,
                row.state,
                ItemState.SYNCED,
                sets,
                detail,
                self._clock.time(),
                where,
                params,
            )

    def hold(self, row: FileRow, owner: str, lease_seconds: float) -> bool:
        """A lease on the row without changing its state: it is as it was seen (state,
        version, photo_id), no one holds a lease on it (the metadata stage's included), and
        it is not being uploaded."""
        if row.state is ItemState.UPLOADING:
            return False
        with self._write() as conn:
            now = self._clock.time()
            cursor = conn.execute(
                "UPDATE files SET lease_owner = ?, lease_until = ?"
                " WHERE path = ? AND state = ? AND size = ? AND mtime_ns = ?"
                " AND photo_id IS ? AND (lease_until IS NULL OR lease_until <= ?)",
                (
                    owner,
                    now + lease_seconds,
                    _p(row.path),
                    str(row.state),
                    row.size,
                    row.mtime_ns,
                    row.photo_id,
                    now,
                ),
            )
            return cursor.rowcount == 1

    def mark_drift(self, row: FileRow, detail: str, *, applied_parts: str | None) -> bool:
        """The site's metadata differs from the desired metadata the row says was applied:
        forget that it was applied (`applied_parts`: the record without the parts that
        drifted), so the metadata stage sends them again."""
        with self._write() as conn:
            return self._cas(
                conn,
                row.path,
                ItemState.SYNCED,
                ItemState.SYNCED,
                {
                    "applied_digest": None,
                    "applied_parts": applied_parts,
                    "next_attempt_at": None,
                    "parks": 0,
                },
                f"drift on the site: {detail}",
                self._clock.time(),
                " AND photo_id IS ? AND applied_digest IS ? AND desired_digest IS ?"
                " AND (lease_until IS NULL OR lease_until <= ?)",
                (row.photo_id, row.applied_digest, row.desired_digest, self._clock.time()),
            )

    def mark_remote_missing(self, row: FileRow, detail: str) -> bool:
        """The row's item is gone from the site: `synced`/`uploaded` -> `remote_missing`."""
        if row.state not in (ItemState.SYNCED, ItemState.UPLOADED):
            return False
        with self._write() as conn:
            now = self._clock.time()
            return self._cas(
                conn,
                row.path,
                row.state,
                ItemState.REMOTE_MISSING,
                {"error_code": "no_such_photo", "error_message": _text(detail)},
                detail,
                now,
                " AND photo_id IS ? AND (lease_until IS NULL OR lease_until <= ?)",
                (row.photo_id, now),
            )

    def requeue(self, row: FileRow, *, drop_item: bool, detail: str) -> bool:
        """A `remote_missing` or `failed` row goes back to `ready` for the upload workers.
        `drop_item`: its item is gone (and no other carries its marker: the caller looked),
        so the upload makes a new one (photo_id and the content it held are forgotten);
        otherwise the plan replaces the item's media."""
        if row.state not in (ItemState.REMOTE_MISSING, ItemState.FAILED) or not row.sha256:
            return False
        sets: dict[str, Any] = {
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
            "parks": 0,
        }
        if drop_item:
            # attempts 0: the caller has just looked the marker up and found no item, so
            # nothing an earlier attempt sent is on the site to ask about.
            sets.update(
                photo_id=None,
                uploaded_sha256=None,
                applied_digest=None,
                applied_parts=None,
                attempts=0,
            )
        with self._write() as conn:
            return self._cas(
                conn,
                row.path,
                row.state,
                ItemState.READY,
                sets,
                detail,
                self._clock.time(),
                " AND photo_id IS ? AND sha256 = ?",
                (row.photo_id, row.sha256),
            )

    def relink(self, row: FileRow, photo_id: str, detail: str) -> bool:
        """A synced row now stands for another item with its content (the oldest of
        duplicates): nothing is known of that item's metadata, so the metadata stage sets
        all of it."""
        with self._write() as conn:
            return self._cas(
                conn,
                row.path,
                ItemState.SYNCED,
                ItemState.SYNCED,
                {
                    "photo_id": photo_id,
                    "applied_digest": None,
                    "applied_parts": None,
                    "next_attempt_at": None,
                },
                detail,
                self._clock.time(),
                " AND photo_id IS ?",
                (row.photo_id,),
            )

    def forget(self, row: FileRow, owner: str | None, detail: str) -> bool:
        """Delete the row of a file that is gone from disk and whose item is gone from the
        site (deleted by reconcile, or found gone): nothing is left to describe. Only the
        row as it was seen, under our lease when `owner` is given. Its history stays in the
        event log."""
        self._check_transition(row.state, None)
        where = " AND photo_id IS ?"
        params: tuple[Any, ...] = (row.photo_id,)
        if owner is not None:
            where, params = where + " AND lease_owner = ?", (*params, owner)
        with self._write() as conn:
            cursor = conn.execute(
                f"DELETE FROM files WHERE path = ? AND state = ?{where}",
                (_p(row.path), str(row.state), *params),
            )
            if cursor.rowcount != 1:
                return False
            self._event(conn, row.path, str(row.state), None, detail, self._clock.time())
            return True

    def photo_ids(self) -> frozenset[str]:
        """Every photo_id the journal knows, under any root: items that are syncd's."""
        found = self._read("SELECT photo_id FROM files WHERE photo_id IS NOT NULL")
        return frozenset(str(p) for (p,) in found)

    def paths_with_photo(self, photo_id: str) -> list[str]:
        found = self._read("SELECT path FROM files WHERE photo_id = ?", (photo_id,))
        return [os.fsdecode(p) for (p,) in found]
