"""The workers' side of the journal: claims under a lease, and the transitions they make."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from syncd.journal.db import METADATA_DUE, JournalDb, _get_row, _p, _text, roots_clause
from syncd.journal.owners import owner_is_local
from syncd.journal.schema import PATH_FIELDS, SETTABLE_FIELDS
from syncd.model import FileRow, ItemState


class Claims(JournalDb):
    """Claiming rows to upload, renewing and recovering leases, and moving rows on."""

    def claim(
        self,
        owner: str,
        lease_seconds: float,
        *,
        roots: Sequence[str] | None = None,
        ready_since: float | None = None,
    ) -> FileRow | None:
        """Take one row to upload: `ready`, or `retry` that is due; oldest first.
        With `ready_since`, only `ready` rows updated at or after it (what a scan running
        now has just checked and hashed); nothing older and no retries.

        Sets state=uploading, the lease, and attempts += 1 (returned row has
        the new count). attempts > 1 tells the uploader an earlier attempt may
        have landed: ask the site before sending again.
        """
        with self._write() as conn:
            now = self._clock.time()
            clause, params = roots_clause(roots)
            # Due retries first (they are few and have waited), then ready rows,
            # oldest first; each query walks an index and stops at the first hit.
            found = None
            if ready_since is None:
                found = conn.execute(
                    "SELECT path, state, attempts FROM files INDEXED BY files_state_due"
                    f" WHERE state = ? AND next_attempt_at <= ?{clause}"
                    " ORDER BY next_attempt_at LIMIT 1",
                    (str(ItemState.RETRY), now, *params),
                ).fetchone()
            if found is None:
                oldest = -math.inf if ready_since is None else ready_since
                found = conn.execute(
                    "SELECT path, state, attempts FROM files INDEXED BY files_state_updated"
                    f" WHERE state = ? AND updated_at >= ?{clause} ORDER BY updated_at LIMIT 1",
                    (str(ItemState.READY), oldest, *params),
                ).fetchone()
            if found is None:
                return None
            raw_path, state, attempts = found
            path = os.fsdecode(raw_path)
            self._cas(
                conn,
                path,
                ItemState(state),
                ItemState.UPLOADING,
                {
                    "lease_owner": owner,
                    "lease_until": now + lease_seconds,
                    "attempts": attempts + 1,
                    "next_attempt_at": None,
                },
                f"claimed by {owner} (attempt {attempts + 1})",
                now,
            )
            return self._get(conn, path)

    def claim_metadata(
        self, owner: str, lease_seconds: float, *, roots: Sequence[str] | None = None
    ) -> FileRow | None:
        """Take one item whose metadata on the site is behind (`uploaded`, or `synced` with a
        desired digest that differs from the applied one) and is due, under a lease.

        The state does not change (the item stays what it is while its metadata is
        brought in line); the lease keeps other workers and processes off it.
        """
        with self._write() as conn:
            now = self._clock.time()
            clause, params = roots_clause(roots)
            found = conn.execute(
                f"SELECT path FROM files INDEXED BY files_metadata_due WHERE {METADATA_DUE}"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                f" AND (lease_until IS NULL OR lease_until <= ?){clause}"
                " ORDER BY next_attempt_at LIMIT 1",
                (now, now, *params),
            ).fetchone()
            if found is None:
                return None
            conn.execute(
                "UPDATE files SET lease_owner = ?, lease_until = ? WHERE path = ?",
                (owner, now + lease_seconds, found[0]),
            )
            return _get_row(conn, os.fsdecode(found[0]))

    def finish_metadata(
        self,
        row: FileRow,
        owner: str,
        *,
        digest: str,
        meta_sig: str | None,
        detail: str,
        parts: str | None = None,
    ) -> bool:
        """The site now has the metadata with `digest`: -> `synced`, lease and error cleared.
        `parts` (when given) records what was applied part by part.

        A newer desire recorded while the update ran (a sidecar edited mid-apply, seen by
        the watch feed) is kept, with its signature: the row stays due and the edit is
        applied next, instead of being overwritten by what was just sent."""
        sets: dict[str, Any] = {
            "applied_digest": digest,
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
            "parks": 0,
        }
        if parts is not None:
            sets["applied_parts"] = parts
        with self._write() as conn:
            done = self._cas(
                conn,
                row.path,
                row.state,
                ItemState.SYNCED,
                sets,
                detail,
                self._clock.time(),
                " AND lease_owner = ?",
                (owner,),
            )
            if done:
                conn.execute(
                    "UPDATE files SET desired_digest = ?, meta_sig = ?"
                    " WHERE path = ? AND desired_digest IS ?",
                    (digest, meta_sig, _p(row.path), row.desired_digest),
                )
            return done

    def record_parts(self, row: FileRow, owner: str, parts: str) -> bool:
        """One part of the metadata reached the site (or is about to, for a call that is
        not safe to repeat): remember it at once, so a failure or a crash later in the same
        update does not send it again. False when the row is no longer ours."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE files SET applied_parts = ? WHERE path = ? AND state = ?"
                " AND lease_owner = ?",
                (parts, _p(row.path), str(row.state), owner),
            )
            return cursor.rowcount == 1

    def defer_metadata(
        self, row: FileRow, owner: str, *, delay: float, code: str, message: str, parks: int
    ) -> bool:
        """Metadata could not be applied now: try again after `delay`, saying why. The
        state stays; the event log tells the operator."""
        with self._write() as conn:
            now = self._clock.time()
            cursor = conn.execute(
                "UPDATE files SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?,"
                " error_code = ?, error_message = ?, parks = ?"
                " WHERE path = ? AND state = ? AND lease_owner = ?",
                (now + delay, code, _text(message), parks, _p(row.path), str(row.state), owner),
            )
            if cursor.rowcount != 1:
                return False
            state = str(row.state)
            self._event(
                conn,
                row.path,
                state,
                state,
                f"metadata not applied, next try in {delay:.0f} s: {message}",
                now,
            )
            return True

    def make_due(self, roots: Sequence[str] | None = None) -> int:
        """Parked work under `roots` (retries, deferred metadata updates) is due now."""
        clause, params = roots_clause(roots)
        with self._write() as conn:
            now = self._clock.time()
            cursor = conn.execute(
                "UPDATE files SET next_attempt_at = ? WHERE next_attempt_at > ?"
                f" AND (state = ? OR {METADATA_DUE}){clause}",
                (now, now, str(ItemState.RETRY), *params),
            )
            return cursor.rowcount

    def release_lease(self, path: str, owner: str) -> bool:
        """Give up a metadata lease without recording anything (the work is simply due)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE files SET lease_owner = NULL, lease_until = NULL"
                " WHERE path = ? AND lease_owner = ? AND state != ?",
                (_p(path), owner, str(ItemState.UPLOADING)),
            )
            return cursor.rowcount == 1

    def renew_lease(self, path: str, owner: str, lease_seconds: float) -> bool:
        """Extend our lease; False if the row is no longer ours (recovered, changed)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE files SET lease_until = ? WHERE path = ? AND lease_owner = ?",
                (self._clock.time() + lease_seconds, _p(path), owner),
            )
            return cursor.rowcount == 1

    def transition(
        self,
        path: str,
        from_state: ItemState,
        to_state: ItemState,
        *,
        detail: str = "",
        owner: str | None = None,
        **fields: Any,
    ) -> bool:
        """Compare-and-set from_state -> to_state (and lease_owner == owner if given).

        `fields` sets columns from SETTABLE_FIELDS. Leaving `uploading`
        clears the lease. Reaching uploaded/synced clears error and
        next_attempt_at unless given. Returns False (and changes nothing)
        if the row was not in from_state / not owned by owner.
        """
        unknown = set(fields) - SETTABLE_FIELDS
        if unknown:
            raise ValueError(f"transition: unknown field(s) {sorted(unknown)}")
        sets: dict[str, Any] = {
            name: (_p(value) if name in PATH_FIELDS and value is not None else _text(value))
            for name, value in fields.items()
        }
        if from_state is ItemState.UPLOADING and to_state is not ItemState.UPLOADING:
            sets.update(lease_owner=None, lease_until=None)
        if to_state in (ItemState.UPLOADED, ItemState.SYNCED, ItemState.READY):
            for name in ("error_code", "error_message", "next_attempt_at"):
                sets.setdefault(name, None)
        extra_where, extra_params = "", cast(tuple[str, ...], ())
        if owner is not None:
            extra_where, extra_params = " AND lease_owner = ?", (owner,)
        with self._write() as conn:
            return self._cas(
                conn,
                path,
                from_state,
                to_state,
                sets,
                detail,
                self._clock.time(),
                extra_where,
                extra_params,
            )

    def recover_abandoned(self, *, is_owner_alive: Callable[[str], bool]) -> list[str]:
        """`uploading` rows whose lease expired or owner died -> `retry`, due now (these
        paths are returned). Metadata claims of such owners (the row stays `uploaded` or
        `synced`) are released, so the item is due at once, not when the lease runs out.

        attempts is kept (> 0), telling the uploader to ask the site whether
        the abandoned attempt landed before sending again.
        """
        recovered: list[str] = []
        with self._write() as conn:
            now = self._clock.time()
            uploading = str(ItemState.UPLOADING)
            found = conn.execute(
                "SELECT path, state, lease_owner, lease_until FROM files WHERE state = ?",
                (uploading,),
            ).fetchall()
            # Metadata claims are held only by rows that are metadata-due: the partial
            # index keeps this look small in a journal of a million synced rows.
            found += conn.execute(
                "SELECT path, state, lease_owner, lease_until FROM files"
                f" INDEXED BY files_metadata_due WHERE {METADATA_DUE}"
                " AND lease_owner IS NOT NULL"
            ).fetchall()
            for raw_path, state, owner, lease_until in found:
                expired = lease_until is None or lease_until <= now
                alive = bool(owner) and is_owner_alive(owner)
                if alive and (not expired or owner_is_local(owner)):
                    # A live process on this host keeps its claim even past its lease
                    # (suspended, or waiting on a slow answer): taking it over could
                    # upload the file twice. Another host's claim lapses with its lease.
                    continue
                path = os.fsdecode(raw_path)
                why = "lease expired" if expired else "owner gone"
                if state != uploading:
                    conn.execute(
                        "UPDATE files SET lease_owner = NULL, lease_until = NULL"
                        " WHERE path = ? AND lease_owner = ?",
                        (raw_path, owner),
                    )
                    detail = f"metadata claim of {owner} released ({why})"
                    self._event(conn, path, state, state, detail, now)
                    continue
                if self._cas(
                    conn,
                    path,
                    ItemState.UPLOADING,
                    ItemState.RETRY,
                    {"lease_owner": None, "lease_until": None, "next_attempt_at": now},
                    f"recovered from {owner} ({why})",
                    now,
                ):
                    recovered.append(path)
        return recovered

    def next_wakeup(self) -> float | None:
        """Earliest next_attempt_at among retry rows, for sleeping until work is due."""
        found = self._read(
            "SELECT MIN(next_attempt_at) FROM files WHERE state = ?", (str(ItemState.RETRY),)
        )
        return found[0][0]

    def reset_failed(self, paths: Iterable[str] | None) -> int:
        """`syncd retry`: failed/retry -> ready, attempts kept, error cleared. None = all."""
        with self._write() as conn:
            now = self._clock.time()
            if paths is None:
                targets = [
                    (os.fsdecode(p), s)
                    for p, s in conn.execute(
                        "SELECT path, state FROM files WHERE state IN (?, ?)",
                        (str(ItemState.FAILED), str(ItemState.RETRY)),
                    ).fetchall()
                ]
            else:
                targets = []
                for path in paths:
                    row = self._get(conn, path)
                    if row is not None and row.state in (ItemState.FAILED, ItemState.RETRY):
                        targets.append((path, str(row.state)))
            count = 0
            for path, state in targets:
                count += self._cas(
                    conn,
                    path,
                    ItemState(state),
                    ItemState.READY,
                    {"error_code": None, "error_message": None, "next_attempt_at": None},
                    "reset by syncd retry",
                    now,
                )
            return count
