"""What `syncd status` reports: counts, failures, uploads in flight, one file's history, and
the journal's own size.

Nothing here loads every row: counts come from the journal's counts table, the failure
lists are the most recent `limit` rows (a page of an index), one file is one indexed
lookup, and `--journal` reads the file's size and a few counters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from syncd.journal import Journal
from syncd.model import FileRow, ItemState
from syncd.text import printable

# Failed and parked files listed by default (most recent first); the totals say how many
# more there are, and `--limit 0` lists all of them.
DEFAULT_LIST_LIMIT = 50


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


def collect_status(
    journal: Journal, path: Path | None, *, limit: int = DEFAULT_LIST_LIMIT
) -> dict[str, Any]:
    """A plain dict: rendered as a table by the CLI or printed as JSON. `limit` caps the
    failed and parked lists (0: all of them)."""
    if path is not None and not path.is_dir():
        return _file_status(journal, path)
    root = str(path) if path is not None else None
    totals = journal.totals(root)
    site = journal.site()
    sessions = journal.sessions_in_progress(root, limit=limit or 1_000_000)
    return {
        "root": printable(root) if root else None,
        "site": None if site is None else site.describe(),
        "counts": {state.value: n for state, (n, _) in totals.items()},
        "bytes": {state.value: nbytes for state, (_, nbytes) in totals.items()},
        "failed": [_row_summary(r) for r in _recent(journal, ItemState.FAILED, root, limit)],
        "failed_total": totals[ItemState.FAILED][0],
        "parked": [_row_summary(r) for r in _recent(journal, ItemState.RETRY, root, limit)],
        "parked_total": totals[ItemState.RETRY][0],
        "chunked_in_progress": [
            {
                "path": printable(s.path),
                "chunks_done": s.chunks_done,
                "chunks_total": s.chunks_total,
                "chunk_size": s.chunk_size,
                "token_valid_until": _when(s.valid_until),
            }
            for s in sessions
        ],
        # What is being sent right now (by this host's `syncd watch`, a push, ...): as many
        # as there are workers.
        "uploading": [
            {"path": printable(r.path), "owner": r.lease_owner, "since": _when(r.updated_at)}
            for r in _recent(journal, ItemState.UPLOADING, root, limit)
        ],
        # Metadata sent that the site did not confirm (publish_date: docs/upload-modes.md).
        "unconfirmed": [
            {"path": printable(u.path), "fields": list(u.fields), "detail": u.detail}
            for u in journal.unconfirmed(root)
        ],
    }


def _file_status(journal: Journal, path: Path) -> dict[str, Any]:
    """One file: its row and its history (one indexed lookup each)."""
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


def _recent(journal: Journal, state: ItemState, root: str | None, limit: int) -> Iterator[FileRow]:
    """The rows in `state`, most recent first: `limit` of them, or all (0), a page at a time."""
    roots = None if root is None else [root]
    before: tuple[float, str] | None = None
    left = limit
    while True:
        page = journal.recent_in(state, roots=roots, limit=left or 1000, before=before)
        yield from page
        if limit:
            left -= len(page)
            if left <= 0:
                return
        if not page:
            return
        before = (page[-1].updated_at, page[-1].path)


def journal_status(journal: Journal) -> dict[str, Any]:
    """`syncd status --journal`: the journal's size on disk and what it holds."""
    fp = journal.footprint()
    retention = journal.event_retention
    return {
        "path": printable(str(journal.path)),
        "file_bytes": fp.file_bytes,
        "wal_bytes": fp.wal_bytes,
        "page_size": fp.page_size,
        "pages": fp.pages,
        "free_pages": fp.free_pages,
        "files": fp.files,
        "events": fp.events,
        "oldest_event": _when(fp.oldest_event_at),
        "event_retention_days": None if retention is None else retention / 86400.0,
        "bytes_per_file": None if fp.bytes_per_file is None else round(fp.bytes_per_file, 1),
    }
