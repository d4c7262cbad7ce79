"""Read-only peeks, for a process watching another one's journal (tests, benchmarks)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from syncd.journal.db import _p


def _peek_row(journal_file: Path, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """One row of a query on a journal file, opened read-only so polling it never takes a
    write lock from the process using it; None when there is no file, no tables yet or no
    such row."""
    if not journal_file.exists():
        return None
    conn = sqlite3.connect(f"file:{journal_file}?mode=ro", uri=True, timeout=5)
    try:
        found: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
        return found
    except sqlite3.OperationalError:  # tables not created yet
        return None
    finally:
        conn.close()


def read_chunk_progress(journal_file: Path, path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(acknowledged, total) chunks of `path`'s upload session, or None (no session)."""
    found = _peek_row(
        journal_file,
        "SELECT (SELECT count(*) FROM chunk_acks a WHERE a.path = s.path), s.total_chunks"
        " FROM chunk_sessions s WHERE s.path = ?",
        (_p(path),),
    )
    return None if found is None else (int(found[0]), int(found[1]))


def read_state(journal_file: Path, path: str | os.PathLike[str]) -> str | None:
    """The journal state of `path`, or None (no journal or no row yet)."""
    found = _peek_row(journal_file, "SELECT state FROM files WHERE path = ?", (_p(path),))
    return None if found is None else str(found[0])
