"""Reading the journal: single rows, rows under roots, counts, the event log."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from syncd.journal.db import (
    _SELECT_FILES,
    METADATA_DUE,
    JournalDb,
    _p,
    _row,
    _under,
    roots_clause,
    scope_clause,
)
from syncd.model import Event, FileRow, ItemState


def _state(value: str | None) -> ItemState | None:
    return None if value is None else ItemState(value)


class Queries(JournalDb):
    """Questions the pipeline, the CLI and tests ask; none of them writes."""

    def get(self, path: str) -> FileRow | None:
        found = self._read(f"{_SELECT_FILES} WHERE path = ?", (_p(path),))
        return _row(found[0]) if found else None

    def rows_under(self, root: str) -> dict[str, FileRow]:
        """Every row whose path is `root` or below it, in one query."""
        raw, low, high = _under(root)
        found = self._read(
            f"{_SELECT_FILES} WHERE path = ? OR (path >= ? AND path < ?)", (raw, low, high)
        )
        return {row.path: row for row in map(_row, found)}

    def counts(
        self, root: str | None = None, *, roots: Sequence[str] | None = None
    ) -> dict[ItemState, int]:
        """Rows per state (every state present, zero when none), under `root` or any of
        `roots` (a row under two nested roots counts once)."""
        clause, params = scope_clause(root, roots)
        found = self._read(
            f"SELECT state, COUNT(*) FROM files WHERE 1{clause} GROUP BY state", params
        )
        result = dict.fromkeys(ItemState, 0)
        for state, n in found:
            result[ItemState(state)] = n
        return result

    def rows_in(
        self,
        states: Iterable[ItemState],
        root: str | None = None,
        *,
        roots: Sequence[str] | None = None,
        updated_since: float | None = None,
    ) -> list[FileRow]:
        """Rows in these states (under `root` or `roots`; with `updated_since`, only rows
        whose last change was at or after it), by path."""
        wanted = [str(ItemState(s)) for s in states]
        if not wanted:
            return []
        clause, params = scope_clause(root, roots)
        if updated_since is not None:
            clause, params = clause + " AND updated_at >= ?", (*params, updated_since)
        marks = ", ".join("?" for _ in wanted)
        found = self._read(
            f"{_SELECT_FILES} WHERE state IN ({marks}){clause} ORDER BY path", (*wanted, *params)
        )
        return [_row(r) for r in found]

    def has_work(
        self,
        states: Iterable[ItemState],
        *,
        roots: Sequence[str] | None = None,
        retry_due_by: float | None = None,
        metadata_due_by: float | None = None,
    ) -> bool:
        """Is any row under `roots` in `states`, or in `retry` and due by `retry_due_by`, or
        metadata work due by `metadata_due_by`?

        LIMIT 1 probes, one per kind, each on its index: cheap enough to ask after every file.
        """
        clause, root_params = roots_clause(roots)
        probes: list[tuple[str, tuple[Any, ...]]] = []
        wanted = [str(ItemState(s)) for s in states]
        if wanted:
            marks = ", ".join("?" for _ in wanted)
            probes.append((f"state IN ({marks})", tuple(wanted)))
        if retry_due_by is not None:
            probes.append(
                ("state = ? AND next_attempt_at <= ?", (str(ItemState.RETRY), retry_due_by))
            )
        if metadata_due_by is not None:
            probes.append(
                (
                    f"{METADATA_DUE} AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                    (metadata_due_by,),
                )
            )
        for where, params in probes:
            if self._read(
                f"SELECT 1 FROM files WHERE {where}{clause} LIMIT 1", (*params, *root_params)
            ):
                return True
        return False

    def oldest_ready(self) -> float | None:
        """When the file waiting longest to be uploaded became ready (None: none waits)."""
        found = self._read(
            "SELECT MIN(updated_at) FROM files WHERE state = ?", (str(ItemState.READY),)
        )
        return None if not found or found[0][0] is None else float(found[0][0])

    def metadata_behind(self, *, roots: Sequence[str] | None = None) -> list[FileRow]:
        """Items whose metadata on the site is behind (uploaded, or synced with a desired
        digest not yet applied), by path; found through the metadata-work index."""
        clause, params = roots_clause(roots)
        found = self._read(
            f"{_SELECT_FILES} INDEXED BY files_metadata_due WHERE {METADATA_DUE}{clause}"
            " ORDER BY path",
            params,
        )
        return [_row(r) for r in found]

    def events(self, path: str) -> list[Event]:
        found = self._read(
            "SELECT id, at, path, from_state, to_state, detail FROM events"
            " WHERE path = ? ORDER BY id",
            (_p(path),),
        )
        return [
            Event(
                id=i, at=at, path=os.fsdecode(p), from_state=_state(f), to_state=_state(t), detail=d
            )
            for i, at, p, f, t, d in found
        ]

    def event_count(self) -> int:
        """Total events recorded (cheap change detector for tests and metrics)."""
        return int(self._read("SELECT COUNT(*) FROM events")[0][0])

    def total_changes(self) -> int:
        """Rows changed by this connection since it opened (sqlite3 total_changes)."""
        with self._lock:
            return self._conn.total_changes
