"""Resumable upload sessions: token, identifier, chunk layout and acknowledged chunks."""

from __future__ import annotations

from syncd.journal.db import JournalDb, _p, _text
from syncd.model import ChunkSession


class Sessions(JournalDb):
    """One upload session per file; acknowledged chunks are committed one by one."""

    def save_session(
        self,
        path: str,
        *,
        upload_token: str,
        identifier: str,
        chunk_size: int,
        total_size: int,
        total_chunks: int,
        valid_until: float | None,
        sha256: str | None = None,
    ) -> None:
        """Create or replace the session; acks survive only if token and identifier match.

        `sha256` is the content being uploaded: a session is never resumed for other bytes.
        """
        with self._write() as conn:
            old = conn.execute(
                "SELECT upload_token, identifier FROM chunk_sessions WHERE path = ?", (_p(path),)
            ).fetchone()
            if old is not None and tuple(old) != (upload_token, identifier):
                conn.execute("DELETE FROM chunk_acks WHERE path = ?", (_p(path),))
            conn.execute(
                "INSERT INTO chunk_sessions (path, upload_token, identifier, chunk_size,"
                " total_size, total_chunks, valid_until, created_at, sha256)"
                " VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(path) DO UPDATE SET upload_token = excluded.upload_token,"
                " identifier = excluded.identifier, chunk_size = excluded.chunk_size,"
                " total_size = excluded.total_size, total_chunks = excluded.total_chunks,"
                " valid_until = excluded.valid_until, sha256 = excluded.sha256",
                (
                    _p(path),
                    upload_token,
                    _text(identifier),
                    chunk_size,
                    total_size,
                    total_chunks,
                    valid_until,
                    self._clock.time(),
                    sha256,
                ),
            )

    def session(self, path: str) -> ChunkSession | None:
        with self._lock:
            found = self._read(
                "SELECT upload_token, identifier, chunk_size, total_size, total_chunks,"
                " valid_until, created_at, sha256 FROM chunk_sessions WHERE path = ?",
                (_p(path),),
            )
            if not found:
                return None
            acks = self._read("SELECT chunk_number FROM chunk_acks WHERE path = ?", (_p(path),))
        token, ident, chunk_size, total_size, total_chunks, valid_until, created, sha = found[0]
        return ChunkSession(
            path=path,
            upload_token=token,
            identifier=ident,
            chunk_size=chunk_size,
            total_size=total_size,
            total_chunks=total_chunks,
            valid_until=valid_until,
            created_at=created,
            acked=frozenset(n for (n,) in acks),
            sha256=sha,
        )

    def ack_chunk(self, path: str, chunk_number: int) -> None:
        with self._write() as conn:
            # A sibling chunk may have dropped the session (cancelled upload):
            # then there is nothing to acknowledge into.
            conn.execute(
                "INSERT OR IGNORE INTO chunk_acks (path, chunk_number)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM chunk_sessions WHERE path = ?)",
                (_p(path), chunk_number, _p(path)),
            )

    def drop_session(self, path: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM chunk_sessions WHERE path = ?", (_p(path),))
