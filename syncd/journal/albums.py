"""Album titles and the ids they have on the site."""

from __future__ import annotations

from syncd.journal.db import JournalDb, _text


class Albums(JournalDb):
    """The album cache: title -> album_id."""

    def album_id(self, title: str) -> str | None:
        found = self._read("SELECT album_id FROM albums WHERE title = ?", (_text(title),))
        return found[0][0] if found else None

    def remember_album(self, title: str, album_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO albums (title, album_id) VALUES (?, ?)"
                " ON CONFLICT(title) DO UPDATE SET album_id = excluded.album_id",
                (_text(title), album_id),
            )

    def forget_album(self, title: str) -> None:
        """Drop a cached album id (the remote album was deleted)."""
        with self._write() as conn:
            conn.execute("DELETE FROM albums WHERE title = ?", (_text(title),))
