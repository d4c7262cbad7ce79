"""Metadata that was sent but that the site did not confirm, per file (`syncd status`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from syncd.journal.db import JournalDb, _p, _text, scope_clause


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    path: str
    fields: tuple[str, ...]
    detail: str
    at: float


class UnconfirmedFields(JournalDb):
    def note_unconfirmed(self, path: str, fields: Sequence[str], detail: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO unconfirmed (path, fields, detail, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET fields = excluded.fields,"
                " detail = excluded.detail, at = excluded.at",
                (_p(path), ",".join(fields), _text(detail), self._clock.time()),
            )

    def clear_unconfirmed(self, path: str) -> None:
        # Asked after every upload and update, and almost never holds anything: a read
        # first spares a write transaction per file.
        if not self._read("SELECT 1 FROM unconfirmed WHERE path = ?", (_p(path),)):
            return
        with self._write() as conn:
            conn.execute("DELETE FROM unconfirmed WHERE path = ?", (_p(path),))

    def unconfirmed(self, root: str | None = None) -> list[Unconfirmed]:
        """Files under `root` (None: all) with metadata the site did not confirm."""
        clause, params = scope_clause(root, None)
        rows = self._read(
            "SELECT path, fields, detail, at FROM unconfirmed WHERE 1" + clause + " ORDER BY path",
            params,
        )
        return [
            Unconfirmed(os.fsdecode(path), tuple(fields.split(",")), detail, float(at))
            for path, fields, detail, at in rows
        ]
