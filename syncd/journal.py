"""The SQLite journal: schema, migrations and compare-and-set transitions.

This is the only module with SQL. Every state change is one short
`BEGIN IMMEDIATE` transaction that does a compare-and-set on the row's state
(`UPDATE ... WHERE path=? AND state=?`, rowcount checked) and appends one row
to the `events` table, so a crash at any instant leaves the journal saying
exactly what is done, what is in flight and what to do next.

Concurrency:
- Threads: one `Journal` is shared by the worker threads of a process. The
  single connection is guarded by a `threading.RLock` (re-entrant so a
  public method may call another while holding it); every public method
  takes it, so no two threads ever use the connection at once.
- Processes: a `syncd watch` daemon and a cron `syncd reconcile` share the
  file through WAL mode and a busy timeout. `BEGIN IMMEDIATE` takes the
  write lock before reading, so claim() is exclusive across processes.

Paths are stored as BLOBs holding the file system's own bytes
(`os.fsencode`), so non-UTF-8 file names (surrogate-escaped in Python
strings) round-trip exactly and prefix/range queries compare bytes. Use
`CAST(path AS TEXT)` when reading the file with the sqlite3 shell.
"""

from __future__ import annotations

import math
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from syncd.clock import Clock, SystemClock
from syncd.errors import JournalError
from syncd.model import ItemState, LocalFile

if TYPE_CHECKING:
    from sqlite_utils import Database

# How long a writer waits for another process's write lock before failing.
# Transactions here are a few milliseconds, but a checkpoint or fsync on a busy
# disk can hold the lock for seconds; 30 s rides that out without hiding a
# real deadlock forever.
BUSY_TIMEOUT_SECONDS = 30.0

# States a worker may claim from (retry only once next_attempt_at has come).
CLAIMABLE = (ItemState.READY, ItemState.RETRY)
# States whose row is deleted when the file vanishes from disk: nothing was
# sent (or nothing can be sent any more). Uploading rows belong to a worker;
# uploaded/synced/remote_missing rows describe remote items: reconcile's job.
VANISHABLE = frozenset(
    {ItemState.PENDING, ItemState.READY, ItemState.RETRY, ItemState.FAILED, ItemState.SKIPPED}
)
# States whose sha256 is not a "live" copy for duplicate detection.
NOT_A_COPY = frozenset({ItemState.FAILED, ItemState.SKIPPED, ItemState.PENDING})

# SQLite messages that, at open time, mean the file system cannot do the
# locking WAL needs (NFS, SMB, some FUSE mounts).
_LOCKING_HINTS = ("locked", "locking protocol", "disk i/o error", "busy")

_FILE_COLUMNS = (
    "path",
    "root",
    "size",
    "mtime_ns",
    "inode",
    "sha256",
    "state",
    "photo_id",
    "attempts",
    "error_code",
    "error_message",
    "next_attempt_at",
    "lease_owner",
    "lease_until",
    "stable_since",
    "duplicate_of",
    "desired_digest",
    "applied_digest",
    "upload_mode",
    "created_at",
    "updated_at",
    "uploaded_sha256",
)
_SELECT_FILES = f"SELECT {', '.join(_FILE_COLUMNS)} FROM files"

# Columns transition() may set; state, path and lease are managed here.
SETTABLE_FIELDS = frozenset(
    {
        "size",
        "mtime_ns",
        "inode",
        "sha256",
        "photo_id",
        "attempts",
        "error_code",
        "error_message",
        "next_attempt_at",
        "stable_since",
        "duplicate_of",
        "desired_digest",
        "applied_digest",
        "upload_mode",
    }
)
_PATH_FIELDS = frozenset({"duplicate_of"})

# Ordered migrations: MIGRATIONS[i] takes user_version i to i + 1. Append only;
# never edit a released step. Each step is a tuple of single statements (not
# executescript, which would commit the surrounding transaction).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE files (
            path BLOB PRIMARY KEY,
            root BLOB NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT,
            state TEXT NOT NULL,
            photo_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error_code TEXT,
            error_message TEXT,
            next_attempt_at REAL,
            lease_owner TEXT,
            lease_until REAL,
            stable_since REAL,
            duplicate_of BLOB,
            desired_digest TEXT,
            applied_digest TEXT,
            upload_mode TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX files_state ON files(state)",
        "CREATE INDEX files_sha256 ON files(sha256)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            path BLOB NOT NULL,
            from_state TEXT,
            to_state TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX events_path ON events(path)",
        """CREATE TABLE chunk_sessions (
            path BLOB PRIMARY KEY REFERENCES files(path) ON DELETE CASCADE,
            upload_token TEXT NOT NULL,
            identifier TEXT NOT NULL,
            chunk_size INTEGER NOT NULL,
            total_size INTEGER NOT NULL,
            total_chunks INTEGER NOT NULL,
            valid_until REAL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE chunk_acks (
            path BLOB NOT NULL REFERENCES chunk_sessions(path) ON DELETE CASCADE,
            chunk_number INTEGER NOT NULL,
            PRIMARY KEY (path, chunk_number)
        )""",
        "CREATE TABLE albums (title TEXT PRIMARY KEY, album_id TEXT NOT NULL)",
    ),
    (
        # claim() walks these in order and stops at the first row under its roots,
        # instead of sorting every ready row on each claim (O(n) per file).
        "CREATE INDEX files_state_updated ON files(state, updated_at)",
        "CREATE INDEX files_state_due ON files(state, next_attempt_at)",
    ),
    (
        # The content the remote item holds, so a touched or re-copied file with the
        # same bytes is recognised as synced instead of uploaded again.
        "ALTER TABLE files ADD COLUMN uploaded_sha256 TEXT",
        "UPDATE files SET uploaded_sha256 = sha256 WHERE photo_id IS NOT NULL",
        # The content a chunk session is uploading: a session never resumes
        # with different bytes.
        "ALTER TABLE chunk_sessions ADD COLUMN sha256 TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


# --- value types ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRow:
    """One `files` row. Paths are str (os.fsdecode form)."""

    path: str
    root: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str | None
    state: ItemState
    photo_id: str | None
    attempts: int
    error_code: str | None
    error_message: str | None
    next_attempt_at: float | None
    lease_owner: str | None
    lease_until: float | None
    stable_since: float | None
    duplicate_of: str | None
    desired_digest: str | None
    applied_digest: str | None
    upload_mode: str | None
    created_at: float
    updated_at: float
    uploaded_sha256: str | None = None  # the content photo_id holds


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only event log. A None state means "no row"."""

    id: int
    at: float
    path: str
    from_state: ItemState | None
    to_state: ItemState | None
    detail: str


@dataclass(frozen=True, slots=True)
class ChunkSession:
    """A resumable (token + Resumable.js) upload in progress."""

    path: str
    upload_token: str
    identifier: str
    chunk_size: int
    total_size: int
    total_chunks: int
    valid_until: float | None
    created_at: float
    acked: frozenset[int]
    sha256: str | None = None  # the content being uploaded (None: unknown, older journal)


# --- helpers -----------------------------------------------------------------


def printable(path: str) -> str:
    """A path as text safe to print or log (non-UTF-8 bytes shown as \\xNN)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _p(path: str | os.PathLike[str]) -> bytes:
    """A path as stored: the file system's bytes."""
    return os.fsencode(path)


def _text(value: Any) -> Any:
    """Text bound into a TEXT column: surrogates (from odd file names) made printable."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return printable(value)
    return value


def _under(root: str) -> tuple[bytes, bytes, bytes]:
    """(root, low, high) byte bounds: path == root or low <= path < high."""
    raw = _p(root)
    sep = os.sep.encode()
    if len(raw) > 1 and raw.endswith(sep):
        raw = raw.rstrip(sep) or sep
    low = raw if raw.endswith(sep) else raw + sep
    high = low[:-1] + bytes([low[-1] + 1])
    return raw, low, high


def _row(values: tuple[Any, ...]) -> FileRow:
    data = dict(zip(_FILE_COLUMNS, values, strict=True))
    data["path"] = os.fsdecode(data["path"])
    data["root"] = os.fsdecode(data["root"])
    if data["duplicate_of"] is not None:
        data["duplicate_of"] = os.fsdecode(data["duplicate_of"])
    data["state"] = ItemState(data["state"])
    return FileRow(**data)


def _state(value: str | None) -> ItemState | None:
    return None if value is None else ItemState(value)


# --- owners ------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2 :].split()  # comm may hold spaces and ')'
    if len(rest) < 20:
        return None
    return rest[0], rest[19]  # fields 3 and 22 of proc(5)


def _process_start(pid: int) -> str | None:
    found = _proc_stat(pid)
    return None if found is None else found[1]


def make_owner() -> str:
    """This process as a lease owner: "<hostname>:<pid>:<start time>"."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or '0'}"


def owner_is_local(owner: str) -> bool:
    """Whether the owner string names a process on this host."""
    return owner.rsplit(":", 2)[0] == socket.gethostname()


def owner_is_alive(owner: str) -> bool:
    """False only when we know the owner process is gone.

    On this host: the pid must exist, not be a zombie, and (when recorded)
    have the same start time, so a recycled pid does not count. On another
    host we cannot tell: alive until its lease expires.
    """
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False  # not ours to guess about: a malformed owner holds nothing
    if pid <= 0:
        return False  # kill(0 or -n) would signal a process group, not a process
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to someone else
    found = _proc_stat(pid)
    if found is None:
        return True  # exists (kill said so) but /proc is hidden from us: assume alive
    state, current = found
    if state in ("Z", "X"):
        return False  # exited, not yet reaped: runs nothing
    return start == "0" or current == start  # a different start time = a recycled pid


# --- the journal --------------------------------------------------------------


class Journal:
    """The journal of one syncd installation. Thread-safe; see module docstring."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self._conn = conn
        self._db: Database | None = None  # made on first use, see db
        self._lock = threading.RLock()  # guards self._conn for worker threads
        self.path = path
        self._clock = clock

    # --- opening ---------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None) -> Journal:
        """Open (creating and migrating as needed) the journal at `path`."""
        path = Path(path)
        where = f"journal {printable(str(path))}"
        if path.is_dir():
            raise JournalError(f"{where}: is a directory, not a journal file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"{where}: cannot create directory {printable(str(path.parent))}: "
                f"{exc.strerror or exc}"
            ) from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise JournalError(f"{where}: directory {printable(str(path.parent))} not writable")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise JournalError(f"{where}: file not readable and writable")
        try:
            conn = sqlite3.connect(
                path,
                check_same_thread=False,  # shared by worker threads, guarded by the RLock
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                timeout=BUSY_TIMEOUT_SECONDS,
            )
        except sqlite3.Error as exc:
            raise JournalError(f"{where}: cannot open: {exc}") from None
        journal = cls(conn, path, clock or SystemClock())
        try:
            journal._setup()
        except JournalError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise _open_error(where, exc) from None
        return journal

    def _setup(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(
                f"journal {printable(str(self.path))}: cannot switch to WAL mode (got {mode}); "
                "WAL needs a local disk, not a network file system"
            )
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints
        conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        with self._write():
            # Re-read under the write lock: another process may have migrated.
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {printable(str(self.path))}: schema version {version} is newer "
                    f"than this syncd understands ({SCHEMA_VERSION}); upgrade syncd"
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> Database:
        """The sqlite-utils Database over this connection, for inspection in tests and tools.

        Imported on first use: state changes are the compare-and-set SQL above, and importing
        sqlite-utils (with dateutil and pluggy) cost every command ~30 ms of start-up and exit.
        """
        if self._db is None:
            from sqlite_utils import Database

            # Looking must change nothing: sqlite-utils would turn recursive triggers on
            # for the shared connection and run its plugins' connection hooks.
            self._db = Database(self._conn, recursive_triggers=False, execute_plugins=False)
        return self._db

    # --- plumbing ----------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taking the write lock up front."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None

    def _event(
        self,
        conn: sqlite3.Connection,
        path: str,
        from_state: str | None,
        to_state: str | None,
        detail: str,
        now: float,
    ) -> None:
        conn.execute(
            "INSERT INTO events (at, path, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
            (now, _p(path), from_state, to_state, _text(detail)),
        )

    def _get(self, conn: sqlite3.Connection, path: str) -> FileRow | None:
        found = conn.execute(f"{_SELECT_FILES} WHERE path = ?", (_p(path),)).fetchone()
        return None if found is None else _row(found)

    def _cas(
        self,
        conn: sqlite3.Connection,
        path: str,
        from_state: ItemState,
        to_state: ItemState,
        sets: dict[str, Any],
        detail: str,
        now: float,
        extra_where: str = "",
        extra_params: tuple[Any, ...] = (),
    ) -> bool:
        """The compare-and-set: move one row from_state -> to_state, plus one event."""
        sets = {**sets, "state": str(to_state), "updated_at": now}
        assignments = ", ".join(f"{name} = ?" for name in sets)
        cursor = conn.execute(
            f"UPDATE files SET {assignments} WHERE path = ? AND state = ?{extra_where}",
            (*sets.values(), _p(path), str(from_state), *extra_params),
        )
        if cursor.rowcount != 1:
            return False
        if to_state in (ItemState.UPLOADED, ItemState.SYNCED):
            # photo_id now holds this content.
            conn.execute("UPDATE files SET uploaded_sha256 = sha256 WHERE path = ?", (_p(path),))
        self._event(conn, path, str(from_state), str(to_state), detail, now)
        return True

    # --- scanner side ------------------------------------------------------------

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

    def observe_batch(self, seen: Iterable[LocalFile], root: str) -> None:
        """Record what the scanner saw, in one transaction; unchanged files cost no write.

        - new path: inserted as `pending`, stable_since = now.
        - known path whose (size, mtime_ns, inode) changed: size/mtime/inode
          updated, sha256 cleared, stable_since = now, and the row goes back to
          `pending` (event "changed") from any state except `uploading`.
          photo_id and uploaded_sha256 are kept: when the rehashed content is
          the one the remote item holds (a touch, a restore, a copy over it),
          promote() puts the row straight back to `synced`. attempts is kept
          too: an earlier attempt may still have landed, so the uploader asks
          the site first.
        - `uploading` rows are left alone: the worker re-stats the file and
          abandons/re-queues a file that changed under it; the next scan
          then sees the difference.
        """
        items = list(seen)
        if not items:
            return  # nothing to write: do not even take the write lock
        root_raw = _p(root)
        with self._write() as conn:
            now = self._clock.time()
            for item in items:
                old = self._get(conn, item.path)
                if old is None:
                    conn.execute(
                        "INSERT INTO files (path, root, size, mtime_ns, inode, state,"
                        " stable_since, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (
                            _p(item.path),
                            root_raw,
                            item.size,
                            item.mtime_ns,
                            item.inode,
                            str(ItemState.PENDING),
                            now,
                            now,
                            now,
                        ),
                    )
                    self._event(conn, item.path, None, str(ItemState.PENDING), "new", now)
                    continue
                if (old.size, old.mtime_ns, old.inode) == (item.size, item.mtime_ns, item.inode):
                    continue
                if old.state is ItemState.UPLOADING:
                    continue
                detail = (
                    f"changed: size {old.size}->{item.size}, "
                    f"mtime_ns {old.mtime_ns}->{item.mtime_ns}, inode {old.inode}->{item.inode}"
                )
                changes: dict[str, Any] = {
                    "size": item.size,
                    "mtime_ns": item.mtime_ns,
                    "inode": item.inode,
                    "sha256": None,
                    "stable_since": now,
                    "duplicate_of": None,
                    "error_code": None,
                    "error_message": None,
                    "next_attempt_at": None,
                }
                if old.state is ItemState.PENDING:
                    # Still settling (e.g. being copied in): no state change, no event.
                    changes["updated_at"] = now
                    names = ", ".join(f"{k} = ?" for k in changes)
                    conn.execute(
                        f"UPDATE files SET {names} WHERE path = ? AND state = ?",
                        (*changes.values(), _p(item.path), str(ItemState.PENDING)),
                    )
                else:
                    self._cas(conn, item.path, old.state, ItemState.PENDING, changes, detail, now)

    def promote(
        self,
        path: str,
        sha256: str,
        *,
        expect_size: int,
        expect_mtime_ns: int,
        skip_duplicates: bool = False,
    ) -> tuple[ItemState | None, FileRow | None]:
        """pending -> ready, or -> skipped when `skip_duplicates` and a live copy exists.

        Atomic (one transaction), so two scanners hashing twin files at once
        cannot both make them ready. Returns (new state or None if the row
        was not pending with that size/mtime, the row it duplicates or None).
        """
        with self._write() as conn:
            now = self._clock.time()
            where = " AND size = ? AND mtime_ns = ?"
            old = self._get(conn, path)
            if old is not None and old.photo_id and old.uploaded_sha256 == sha256:
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.SYNCED,
                    {"sha256": sha256},
                    f"content unchanged (touched or copied over): still photo {old.photo_id}",
                    now,
                    where,
                    (expect_size, expect_mtime_ns),
                )
                return (ItemState.SYNCED if ok else None), None
            twin: FileRow | None = None
            if skip_duplicates:
                twin = next(
                    (r for r in self._find_by_sha(conn, sha256, path) if r.state not in NOT_A_COPY),
                    None,
                )
            if twin is None:
                ok = self._cas(
                    conn,
                    path,
                    ItemState.PENDING,
                    ItemState.READY,
                    {"sha256": sha256},
                    "stable and hashed",
                    now,
                    where,
                    (expect_size, expect_mtime_ns),
                )
                return (ItemState.READY if ok else None), None
            reason = f"duplicate of {printable(twin.path)}"
            ok = self._cas(
                conn,
                path,
                ItemState.PENDING,
                ItemState.SKIPPED,
                {
                    "sha256": sha256,
                    "duplicate_of": _p(twin.path),
                    "error_code": "duplicate",
                    "error_message": _text(reason),
                },
                reason,
                now,
                where,
                (expect_size, expect_mtime_ns),
            )
            return (ItemState.SKIPPED if ok else None), (twin if ok else None)

    def mark_ready(self, path: str, sha256: str, *, expect_size: int, expect_mtime_ns: int) -> bool:
        """pending -> ready, only if size and mtime are still what was hashed."""
        state, _ = self.promote(
            path, sha256, expect_size=expect_size, expect_mtime_ns=expect_mtime_ns
        )
        return state is ItemState.READY

    def mark_skipped(
        self,
        path: str,
        reason: str,
        *,
        duplicate_of: str | None = None,
        from_state: ItemState,
        sha256: str | None = None,
    ) -> bool:
        """from_state -> skipped, with the reason (error_message) and twin path if any."""
        sets: dict[str, Any] = {
            "error_code": "duplicate" if duplicate_of else "skipped",
            "error_message": _text(reason),
            "duplicate_of": None if duplicate_of is None else _p(duplicate_of),
        }
        if sha256 is not None:
            sets["sha256"] = sha256
        with self._write() as conn:
            return self._cas(
                conn, path, from_state, ItemState.SKIPPED, sets, reason, self._clock.time()
            )

    def _find_by_sha(
        self, conn: sqlite3.Connection, sha256: str, exclude_path: str | None
    ) -> list[FileRow]:
        found = conn.execute(
            f"{_SELECT_FILES} WHERE sha256 = ? ORDER BY created_at, path", (sha256,)
        ).fetchall()
        rows = [_row(r) for r in found]
        return [r for r in rows if r.path != exclude_path]

    def find_by_sha(self, sha256: str, *, exclude_path: str | None = None) -> list[FileRow]:
        """Every row with this content hash (oldest first), any state."""
        with self._lock:
            return self._find_by_sha(self._conn, sha256, exclude_path)

    def mark_vanished(self, path: str, *, detail: str = "vanished from disk") -> bool:
        """The file is gone from disk: delete its row (with an event) if nothing was sent.

        Only rows in VANISHABLE states without a photo_id go (their chunk
        session with them); uploading/uploaded/synced/remote_missing rows,
        and any row that knows its remote item, stay for reconcile. Deleting (rather
        than a state) means a file that reappears later is simply new again.
        Returns True if a row was deleted.
        """
        with self._write() as conn:
            now = self._clock.time()
            old = self._get(conn, path)
            if old is None or old.state not in VANISHABLE or old.photo_id is not None:
                return False  # a row that knows a remote item is kept: never lose the mapping
            conn.execute(
                "DELETE FROM files WHERE path = ? AND state = ?", (_p(path), str(old.state))
            )
            self._event(conn, path, str(old.state), None, detail, now)
            # Copies skipped as its duplicates must not be orphaned: look at them again.
            twins = conn.execute(
                "SELECT path FROM files WHERE state = ? AND duplicate_of = ?",
                (str(ItemState.SKIPPED), _p(path)),
            ).fetchall()
            for (raw,) in twins:
                self._cas(
                    conn,
                    os.fsdecode(raw),
                    ItemState.SKIPPED,
                    ItemState.PENDING,
                    {
                        "duplicate_of": None,
                        "error_code": None,
                        "error_message": None,
                        "stable_since": now,
                    },
                    f"the copy it duplicated ({printable(path)}) vanished",
                    now,
                )
            return True

    # --- worker side -------------------------------------------------------------

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
            clause, params = self._roots_clause(roots)
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

    def renew_lease(self, path: str, owner: str, lease_seconds: float) -> bool:
        """Extend our lease; False if the row is no longer ours (recovered, changed)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE files SET lease_until = ? WHERE path = ? AND state = ? AND lease_owner = ?",
                (self._clock.time() + lease_seconds, _p(path), str(ItemState.UPLOADING), owner),
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
            name: (_p(value) if name in _PATH_FIELDS and value is not None else _text(value))
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
        """`uploading` rows whose lease expired or owner died -> `retry`, due now.

        attempts is kept (> 0), telling the uploader to ask the site whether
        the abandoned attempt landed before sending again.
        """
        recovered: list[str] = []
        with self._write() as conn:
            now = self._clock.time()
            found = conn.execute(
                "SELECT path, lease_owner, lease_until FROM files WHERE state = ?",
                (str(ItemState.UPLOADING),),
            ).fetchall()
            for raw_path, owner, lease_until in found:
                expired = lease_until is None or lease_until <= now
                alive = bool(owner) and is_owner_alive(owner)
                if alive and (not expired or owner_is_local(owner)):
                    # A live process on this host keeps its claim even past its lease
                    # (suspended, or waiting on a slow answer): taking it over could
                    # upload the file twice. Another host's claim lapses with its lease.
                    continue
                path = os.fsdecode(raw_path)
                why = "lease expired" if expired else "owner gone"
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

    # --- chunk sessions -----------------------------------------------------------

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

    # --- albums cache -------------------------------------------------------------

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

    # --- reporting ----------------------------------------------------------------

    def _scope_clause(
        self, root: str | None, roots: Sequence[str] | None
    ) -> tuple[str, tuple[Any, ...]]:
        """Rows under `root` (when given) and under any of `roots` (when given)."""
        clause, params = self._roots_clause(None if root is None else [root])
        more, more_params = self._roots_clause(roots)
        return clause + more, (*params, *more_params)

    def _roots_clause(self, roots: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
        """Rows under any of `roots` (None: every row)."""
        if roots is None:
            return "", ()
        parts: list[str] = []
        params: list[bytes] = []
        for root in roots:
            raw, low, high = _under(root)
            parts.append("path = ? OR (path >= ? AND path < ?)")
            params.extend((raw, low, high))
        if not parts:
            return " AND 0", ()
        return " AND (" + " OR ".join(f"({p})" for p in parts) + ")", tuple(params)

    def counts(
        self, root: str | None = None, *, roots: Sequence[str] | None = None
    ) -> dict[ItemState, int]:
        """Rows per state (every state present, zero when none), under `root` or any of
        `roots` (a row under two nested roots counts once)."""
        clause, params = self._scope_clause(root, roots)
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
        clause, params = self._scope_clause(root, roots)
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
    ) -> bool:
        """Is any row under `roots` in `states` (or in `retry`, due by `retry_due_by`)?

        A LIMIT 1 probe on the state index: cheap enough to ask after every file.
        """
        wanted = [str(ItemState(s)) for s in states]
        where = [f"state IN ({', '.join('?' for _ in wanted)})"] if wanted else []
        params: list[Any] = list(wanted)
        if retry_due_by is not None:
            where.append("(state = ? AND next_attempt_at <= ?)")
            params += [str(ItemState.RETRY), retry_due_by]
        if not where:
            return False
        clause, root_params = self._roots_clause(roots)
        found = self._read(
            f"SELECT 1 FROM files WHERE ({' OR '.join(where)}){clause} LIMIT 1",
            (*params, *root_params),
        )
        return bool(found)

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


# --- read-only peeks, for a process watching another one's journal (tests, benchmarks) --------


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


def _open_error(where: str, exc: sqlite3.Error) -> JournalError:
    """A clear JournalError for an SQLite failure while opening."""
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return JournalError(f"{where}: not an SQLite journal (file is corrupt or something else)")
    if any(hint in lowered for hint in _LOCKING_HINTS):
        return JournalError(
            f"{where}: SQLite locking failed ({text}); the journal uses WAL, which needs a "
            "local disk, not a network file system (NFS/SMB)"
        )
    return JournalError(f"{where}: cannot open: {text}")


__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ChunkSession",
    "Event",
    "FileRow",
    "Journal",
    "make_owner",
    "owner_is_alive",
    "printable",
    "read_chunk_progress",
    "read_state",
]
