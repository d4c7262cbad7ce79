"""Album titles and the ids they have on the site."""

from __future__ import annotations

from syncd.journal.db import JournalDb, _text
from syncd.journal.owners import owner_is_alive, owner_is_local


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

    def claim_album(self, title: str, owner: str, seconds: float) -> bool:
        """Claim the creation of album `title` for `seconds`; True if this owner holds it.

        A claim whose holder is a dead process on this host, or whose time is up, is
        taken over (the new holder looks on the site first, so nothing is created twice).
        """
        with self._write() as conn:
            now = self._clock.time()
            found = conn.execute(
                "SELECT owner, until FROM album_claims WHERE title = ?", (_text(title),)
            ).fetchone()
            if found is not None:
                holder, until = found
                lapsed = until <= now or (owner_is_local(holder) and not owner_is_alive(holder))
                if holder != owner and not lapsed:
                    return False
            conn.execute(
                "INSERT INTO album_claims (title, owner, until) VALUES (?, ?, ?)"
                " ON CONFLICT(title) DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (_text(title), owner, now + seconds),
            )
            return True

    def release_album(self, title: str, owner: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM album_claims WHERE title = ? AND owner = ?", (_text(title), owner)
            )
