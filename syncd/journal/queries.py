"""Reading the journal: single rows, rows under roots, counts, the event log.

Nothing here loads every row: counts come from `state_counts` (kept by triggers, see
schema.py), lists come a page at a time (keyset pages: `path > last` or `updated_at <
last`, never OFFSET), and one file is one indexed lookup.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.journal.db import (
    _SELECT_FILES,
    EVENTS_OF_PATH,
    METADATA_DUE,
    JournalDb,
    _p,
    _row,
    _under,
    path_key,
    roots_clause,
    scope_clause,
)
from syncd.model import Event, FileRow, ItemState

# Paths bound in one IN (...) list: well under SQLite's limit on parameters.
MAX_PATHS_PER_QUERY = 500
# Rows per keyset page: big enough that a query's fixed cost is noise, small enough that a
# page is a few hundred KiB and no read holds the connection for long.
PAGE_ROWS = 1000

# What the scanner compares each file with, in this order (see scan_rows).
SCAN_COLUMNS = (
    "path",
    "size",
    "mtime_ns",
    "inode",
    "state",
    "photo_id",
    "meta_sig",
    "error_code",
    "stable_since",
)
ScanRow = tuple[bytes, int, int, int, str, str | None, str | None, str | None, float | None]


@dataclass(frozen=True, slots=True)
class Footprint:
    """How big the journal is on disk and what it holds (`syncd status --journal`)."""

    file_bytes: int
    wal_bytes: int
    page_size: int
    pages: int
    free_pages: int
    files: int
    events: int
    oldest_event_at: float | None

    @property
    def bytes_per_file(self) -> float | None:
        used = self.file_bytes + self.wal_bytes
        return used / self.files if self.files else None


@dataclass(frozen=True, slots=True)
class SessionProgress:
    """A chunked upload in progress, as `syncd status` shows it."""

    path: str
    chunks_done: int
    chunks_total: int
    chunk_size: int
    valid_until: float | None


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
        `roots` (a row under two nested roots counts once). See totals()."""
        return {state: n for state, (n, _) in self.totals(root, roots=roots).items()}

    def totals(
        self, root: str | None = None, *, roots: Sequence[str] | None = None
    ) -> dict[ItemState, tuple[int, int]]:
        """(files, bytes) per state (every state present), under `root` or any of `roots`.

        Read from state_counts, whose rows are per (root column, state): a row's root column
        is always its path or a folder above it (Files checks it), so every row under a
        scope is counted by the roots at or below it. Only when some root column lies above
        the scope (a push of one folder of a watch root) are the rows under it counted."""
        result = dict.fromkeys(ItemState, (0, 0))
        scope = _scope(root, roots)
        found = [
            (root if isinstance(root, bytes) else os.fsencode(root), state, n, nbytes)
            for root, state, n, nbytes in self._read(
                "SELECT root, state, n, bytes FROM state_counts WHERE n != 0"
            )
        ]
        if scope is not None:
            kept = []
            for values in found:
                if any(_at_or_under(values[0], s) for s in scope):
                    kept.append(values)
                elif any(_at_or_under(s, values[0]) for s in scope):
                    return self._count_rows(root, roots)  # rows of a wider root: count them
            found = kept
        for _, state, n, nbytes in found:
            had_n, had_bytes = result[ItemState(state)]
            result[ItemState(state)] = (had_n + n, had_bytes + nbytes)
        return result

    def _count_rows(
        self, root: str | None, roots: Sequence[str] | None
    ) -> dict[ItemState, tuple[int, int]]:
        """Counting the rows themselves: what totals() falls back to."""
        clause, params = scope_clause(root, roots)
        found = self._read(
            "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM files"
            f" WHERE 1{clause} GROUP BY state",
            params,
        )
        result = dict.fromkeys(ItemState, (0, 0))
        for state, n, nbytes in found:
            result[ItemState(state)] = (n, nbytes)
        return result

    def count_in(
        self,
        states: Iterable[ItemState],
        *,
        roots: Sequence[str] | None = None,
        updated_since: float | None = None,
    ) -> int:
        """How many rows are in these states (under `roots`; with `updated_since`, changed
        at or after it), counted on the (state, updated_at) index."""
        wanted = [str(ItemState(s)) for s in states]
        if not wanted:
            return 0
        clause, params = roots_clause(roots)
        since = -1e308 if updated_since is None else updated_since
        marks = ", ".join("?" for _ in wanted)
        found = self._read(
            f"SELECT COUNT(*) FROM files INDEXED BY files_state_updated"
            f" WHERE state IN ({marks}) AND updated_at >= ?{clause}",
            (*wanted, since, *params),
        )
        return int(found[0][0])

    def count_of(
        self,
        paths: Iterable[str],
        states: Iterable[ItemState],
        *,
        roots: Sequence[str] | None = None,
        updated_since: float | None = None,
    ) -> int:
        """How many of `paths` have a row in these states (under `roots`; with
        `updated_since`, changed at or after it): one primary-key lookup per path."""
        wanted = [str(ItemState(s)) for s in states]
        raw = sorted({_p(p) for p in paths})
        if not wanted or not raw:
            return 0
        clause, params = roots_clause(roots)
        since = -1e308 if updated_since is None else updated_since
        marks = ", ".join("?" for _ in wanted)
        total = 0
        for start in range(0, len(raw), MAX_PATHS_PER_QUERY):
            part = raw[start : start + MAX_PATHS_PER_QUERY]
            found = self._read(
                # Unary + on state and time: found by path (the primary key), not by
                # walking every row in the state on the (state, updated_at) index.
                f"SELECT COUNT(*) FROM files WHERE path IN ({', '.join('?' for _ in part)})"
                f" AND +state IN ({marks}) AND +updated_at >= ?{clause}",
                (*part, *wanted, since, *params),
            )
            total += int(found[0][0])
        return total

    def recent_in(
        self,
        state: ItemState,
        *,
        roots: Sequence[str] | None = None,
        limit: int = PAGE_ROWS,
        before: tuple[float, str] | None = None,
    ) -> list[FileRow]:
        """One page of the rows in `state`, most recently changed first; the next page is
        `before=(last.updated_at, last.path)`. Walks the (state, updated_at) index and stops
        after `limit` rows."""
        clause, params = roots_clause(roots)
        after = ""
        if before is not None:
            after = " AND (updated_at < ? OR (updated_at = ? AND path < ?))"
            params = (before[0], before[0], _p(before[1]), *params)
        found = self._read(
            f"{_SELECT_FILES} INDEXED BY files_state_updated WHERE state = ?{after}{clause}"
            " ORDER BY updated_at DESC, path DESC LIMIT ?",
            (str(state), *params, limit),
        )
        return [_row(r) for r in found]

    def iter_rows(
        self,
        states: Iterable[ItemState],
        *,
        roots: Sequence[str] | None = None,
        updated_since: float | None = None,
    ) -> Iterator[FileRow]:
        """rows_in, a page at a time (by path): memory stays flat however many there are.
        No read is held open between pages, so the caller may write as it goes."""
        wanted = [str(ItemState(s)) for s in states]
        if not wanted:
            return
        clause, params = roots_clause(roots)
        if updated_since is not None:
            clause, params = clause + " AND updated_at >= ?", (*params, updated_since)
        marks = ", ".join("?" for _ in wanted)
        last = b""
        while True:
            found = self._read(
                f"{_SELECT_FILES} WHERE path > ? AND state IN ({marks}){clause}"
                " ORDER BY path LIMIT ?",
                (last, *wanted, *params, PAGE_ROWS),
            )
            for values in found:
                yield _row(values)
            if len(found) < PAGE_ROWS:
                return
            last = found[-1][0]

    def scan_rows(self, root: str, *, recursive: bool = True) -> Iterator[ScanRow]:
        """The rows below `root` (without `recursive`: only its own files, not those of
        its sub-folders) in path order (bytes order, as the walk yields files), with only
        what the scanner compares (SCAN_COLUMNS), a page at a time: nothing is held
        between pages, so the scanner writes between them."""
        _, low, high = _under(root)
        sql = (
            f"SELECT {', '.join(SCAN_COLUMNS)} FROM files"
            " WHERE path >= ? AND path < ? ORDER BY path LIMIT ?"
        )
        start = low
        sep = os.sep.encode()
        while True:
            found: list[ScanRow] = self._read(sql, (start, high, PAGE_ROWS))
            if not found:
                return
            for values in found:
                path = values[0]
                if not recursive and (cut := path.find(sep, len(low))) >= 0:
                    # A sub-folder's: skip past all of it (its rows share path[:cut + 1]).
                    start = path[:cut] + bytes([sep[0] + 1])
                    break
                yield values
            else:
                if len(found) < PAGE_ROWS:
                    return
                start = found[-1][0] + b"\0"  # the next path after it

    def sessions_in_progress(
        self, root: str | None = None, *, limit: int = PAGE_ROWS
    ) -> list[SessionProgress]:
        """Chunked uploads with a session, of files queued or uploading, by path (there are
        as many as workers, or a few interrupted ones)."""
        clause, params = scope_clause(root, None)
        states = (ItemState.UPLOADING, ItemState.RETRY, ItemState.READY)
        found = self._read(
            "SELECT path, total_chunks, chunk_size, valid_until,"
            " (SELECT COUNT(*) FROM chunk_acks a WHERE a.path = s.path)"
            f" FROM chunk_sessions s WHERE 1{clause}"
            " AND (SELECT state FROM files f WHERE f.path = s.path) IN (?, ?, ?)"
            " ORDER BY path LIMIT ?",
            (*params, *map(str, states), limit),
        )
        return [
            SessionProgress(os.fsdecode(p), int(done), int(total), int(size), until)
            for p, total, size, until, done in found
        ]

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
        """The history of `path` (it outlives the row: a vanished file's is kept too)."""
        found = self._read(
            "SELECT id, at, from_state, to_state, detail FROM events"
            f" WHERE {EVENTS_OF_PATH} ORDER BY id",
            (path_key(path),),
        )
        return [
            Event(id=i, at=at, path=path, from_state=_state(f), to_state=_state(t), detail=d)
            for i, at, f, t, d in found
        ]

    def footprint(self) -> Footprint:
        """The journal's size on disk (file and WAL), its pages, files and events."""
        wal = self.path.with_name(self.path.name + "-wal")
        page_size = int(self._read("PRAGMA page_size")[0][0])
        pages = int(self._read("PRAGMA page_count")[0][0])
        free = int(self._read("PRAGMA freelist_count")[0][0])
        files = int(self._read("SELECT COALESCE(SUM(n), 0) FROM state_counts")[0][0])
        oldest = self._read("SELECT at FROM events ORDER BY id LIMIT 1")
        return Footprint(
            file_bytes=_size_of(self.path),
            wal_bytes=_size_of(wal),
            page_size=page_size,
            pages=pages,
            free_pages=free,
            files=files,
            events=self.event_count(),
            oldest_event_at=oldest[0][0] if oldest else None,
        )

    def event_count(self) -> int:
        """Total events recorded (cheap change detector for tests and metrics)."""
        return int(self._read("SELECT COUNT(*) FROM events")[0][0])

    def total_changes(self) -> int:
        """Rows changed by this connection since it opened (sqlite3 total_changes)."""
        with self._lock:
            return self._conn.total_changes


def _scope(root: str | None, roots: Sequence[str] | None) -> list[bytes] | None:
    """The scope of counts() as raw paths; None: everything. `root` and `roots` together:
    the roots that lie under `root` (rows must be under both)."""
    if root is None and roots is None:
        return None
    if roots is None:
        return [_under(root or "/")[0]]
    raw = [_under(r)[0] for r in roots]
    if root is None:
        return raw
    top = _under(root)[0]
    # Rows under both: each root under `root` as it is, or `root` itself for roots above it.
    return [r for r in raw if _at_or_under(r, top)] + (
        [top] if any(_at_or_under(top, r) for r in raw) else []
    )


def _at_or_under(path: bytes, top: bytes) -> bool:
    """`path` is `top` or below it (raw paths, no trailing separator except "/")."""
    if path == top:
        return True
    sep = os.sep.encode()
    return path.startswith(top if top.endswith(sep) else top + sep)


def _size_of(path: os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
