"""What `syncd status` reports: counts, failures, uploads in flight, one file's history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from syncd.journal import Journal
from syncd.model import FileRow, ItemState
from syncd.text import printable


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds")


def _row_summary(row: FileRow) -> dict[str, Any]:
    return {
        "path": printable(row.path),
        "state": row.state.value,
        "size": row.size,
        "sha256": row.sha256,
        "photo_id": row.photo_id,
        "attempts": row.attempts,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "next_attempt_at": _when(row.next_attempt_at),
        "duplicate_of": printable(row.duplicate_of) if row.duplicate_of else None,
    }


def _session_summary(journal: Journal, row: FileRow) -> dict[str, Any] | None:
    session = journal.session(row.path)
    if session is None:
        return None
    return {
        "path": printable(row.path),
        "chunks_done": len(session.acked),
        "chunks_total": session.total_chunks,
        "chunk_size": session.chunk_size,
        "token_valid_until": _when(session.valid_until),
    }


def collect_status(journal: Journal, path: Path | None) -> dict[str, Any]:
    """A plain dict: rendered as a table by the CLI or printed as JSON."""
    if path is not None and not path.is_dir():
        row = journal.get(str(path))
        # The event log outlives the row: a file dropped from the journal (vanished) still
        # has its history.
        events = [
            {
                "at": _when(e.at),
                "from": e.from_state.value if e.from_state else None,
                "to": e.to_state.value if e.to_state else None,
                "detail": e.detail,
            }
            for e in journal.events(str(path))
        ]
        if row is None:
            return {"file": None, "path": printable(str(path)), "events": events}
        unconfirmed = [u.detail for u in journal.unconfirmed(str(path)) if u.path == str(path)]
        return {
            "file": {**_row_summary(row), "unconfirmed": unconfirmed[0] if unconfirmed else None},
            "chunked": _session_summary(journal, row),
            "events": events,
        }
    root = str(path) if path is not None else None
    counts = journal.counts(root)
    uploading = journal.rows_in([ItemState.UPLOADING, ItemState.RETRY, ItemState.READY], root)
    sessions = [s for r in uploading if (s := _session_summary(journal, r)) is not None]
    site = journal.site()
    return {
        "root": printable(root) if root else None,
        "site": None if site is None else site.describe(),
        "counts": {state.value: n for state, n in counts.items()},
        "failed": [_row_summary(r) for r in journal.rows_in([ItemState.FAILED], root)],
        "parked": [_row_summary(r) for r in journal.rows_in([ItemState.RETRY], root)],
        "chunked_in_progress": sessions,
        # What is being sent right now (by this host's `syncd watch`, a push, ...).
        "uploading": [
            {"path": printable(r.path), "owner": r.lease_owner, "since": _when(r.updated_at)}
            for r in uploading
            if r.state is ItemState.UPLOADING
        ],
        # Metadata sent that the site did not confirm (publish_date: docs/upload-modes.md).
        "unconfirmed": [
            {"path": printable(u.path), "fields": list(u.fields), "detail": u.detail}
            for u in journal.unconfirmed(root)
        ],
    }
