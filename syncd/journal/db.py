"""The SQLite journal's connection: opening, migrations, transactions, compare-and-set.

The journal package is the only place with SQL. Every state change is one short
`BEGIN IMMEDIATE` transaction that does a compare-and-set on the row's state
(`UPDATE ... WHERE path=? AND state=?`, rowcount checked) and appends one row
to the `events` table, so a crash at any instant leaves the journal saying
exactly what is done, what is in flight and what to do next.

Batches: `batch()` holds one transaction open across many calls (the scanner records a
few hundred files per commit); each call inside it runs in a savepoint, so every state
change is still its own compare-and-set and one that raises undoes only itself.

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

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from syncd.clock import Clock, SystemClock
from syncd.errors import JournalError
from syncd.journal.schema import FILE_COLUMNS, MIGRATIONS, SCHEMA_VERSION
from syncd.model import FileRow, ItemState, transition_allowed
from syncd.text import printable

if TYPE_CHECKING:
    from sqlite_utils import Database

# How long a writer waits for another process's write lock before failing.
# Transactions here are a few milliseconds, but a checkpoint or fsync on a busy
# disk can hold the lock for seconds; 30 s rides that out without hiding a
# real deadlock forever.
BUSY_TIMEOUT_SECONDS = 30.0

# States a worker may claim from (retry only once next_attempt_at has come).
CLAIMABLE = (ItemState.READY, ItemState.RETRY)
# Rows whose item's metadata on the site is behind the desired metadata: work for the
# metadata stage. Spelled exactly as the partial index files_metadata_due (schema.py) is,
# so SQLite uses that index.
METADATA_DUE = "(state = 'uploaded' OR (state = 'synced' AND desired_digest IS NOT applied_digest))"

# The events of one file (schema.py: events carry path_key(path), indexed).
EVENTS_OF_PATH = "path_key = ?"
# Rows with one content hash, through the index on its first 16 hex digits (schema.py):
# bind (sha256[:16], sha256). A plain `sha256 = ?` is right too, but reads every row. The
# unary + keeps SQLite from putting the bound hash into substr() (constant propagation),
# which would no longer match the index's expression.
FILES_WITH_SHA = "substr(sha256, 1, 16) = ? AND +sha256 = ?"

# Old events are pruned this often at most (after a write), and at most this many per
# transaction, so pruning never holds the write lock for long.
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_CHUNK = 5000
# One pruning pass stops after this long and comes back soon after: a year of events
# expiring at once is removed over a few minutes of writes, not in one pause.
PRUNE_BUDGET_SECONDS = 0.2
PRUNE_AGAIN_SECONDS = 1.0

# SQLite messages that, at open time, mean the file system cannot do the
# locking WAL needs (NFS, SMB, some FUSE mounts).
_LOCKING_HINTS = ("locked", "locking protocol", "disk i/o error", "busy")

_SELECT_FILES = f"SELECT {', '.join(FILE_COLUMNS)} FROM files"


def path_key(path: str | os.PathLike[str] | bytes) -> int:
    """What the event log knows a file by: a 64-bit hash of its path's bytes (two paths of
    one journal sharing one is a 1 in 10^7 chance at a million paths: a history shown
    under the wrong name, nothing more)."""
    raw = path if isinstance(path, bytes) else _p(path)
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


def _p(path: str | os.PathLike[str]) -> bytes:
    """A path as stored: the file system's bytes."""
    return os.fsencode(path)


def _text(value: Any) -> Any:
    """Text bound into a TEXT column: surrogates (from odd file names) made printable."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
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


def scope_clause(root: str | None, roots: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
    """Rows under `root` (when given) and under any of `roots` (when given)."""
    clause, params = roots_clause(None if root is None else [root])
    more, more_params = roots_clause(roots)
    return clause + more, (*params, *more_params)


def roots_clause(roots: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
    """Rows under any of `roots` (None: every row)."""
    if roots is None:
        return "", ()
    return _roots_clause(tuple(roots))


# A run asks with the same roots for every claim: the clause and its bounds are made once.
@lru_cache(maxsize=64)
def _roots_clause(roots: tuple[str, ...]) -> tuple[str, tuple[Any, ...]]:
    parts: list[str] = []
    params: list[bytes] = []
    for root in roots:
        raw, low, high = _under(root)
        parts.append("path = ? OR (path >= ? AND path < ?)")
        params.extend((raw, low, high))
    if not parts:
        return " AND 0", ()
    return " AND (" + " OR ".join(f"({p})" for p in parts) + ")", tuple(params)


def _get_row(conn: sqlite3.Connection, path: str) -> FileRow | None:
    found = conn.execute(f"{_SELECT_FILES} WHERE path = ?", (_p(path),)).fetchone()
    return None if found is None else _row(found)


def _row(values: tuple[Any, ...]) -> FileRow:
    data = dict(zip(FILE_COLUMNS, values, strict=True))
    data["path"] = os.fsdecode(data["path"])
    data["root"] = os.fsdecode(data["root"])
    if data["duplicate_of"] is not None:
        data["duplicate_of"] = os.fsdecode(data["duplicate_of"])
    data["state"] = ItemState(data["state"])
    return FileRow(**data)


def _state(value: str | None) -> ItemState | None:
    return None if value is None else ItemState(value)


class JournalDb:
    """The connection and its plumbing; the concerns in this package build on it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        clock: Clock,
        event_retention: float | None = None,
    ) -> None:
        self._conn = conn
        self._db: Database | None = None  # made on first use, see db
        self._lock = threading.RLock()  # guards self._conn for worker threads
        self.path = path
        self._clock = clock
        self._depth = 0  # open _write() levels: 1 = the transaction, more = savepoints
        # Seconds events are kept (None: for ever); checked after writes, see _prune_events.
        self.event_retention = event_retention
        self._prune_due = clock.time()
        self._pruning = False

    # --- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Clock | None = None,
        event_retention_days: float | None = None,
    ) -> Self:
        """Open (creating and migrating as needed) the journal at `path`. With
        `event_retention_days`, events older than that are pruned as the journal is written
        (never by a process that only reads it)."""
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
        retention = None if not event_retention_days else event_retention_days * 86400.0
        journal = cls(conn, path, clock or SystemClock(), retention)
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
        # Rows that INSERT OR REPLACE deletes fire delete triggers too (state_counts).
        conn.execute("PRAGMA recursive_triggers = ON")
        # For the migration that keys events by path (schema.py).
        conn.create_function("syncd_path_key", 1, path_key, deterministic=True)
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

    def __enter__(self) -> Self:
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
        """One short write transaction, taking the write lock up front; inside `batch()`,
        a savepoint of the batch's transaction (committed with it)."""
        with self._lock:
            if self._depth:
                yield from self._savepoint()
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None
            finally:
                self._depth = 0
            self._prune_events()

    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        name = f"nested{self._depth}"
        self._conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self._conn
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            raise
        else:
            self._conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many journal calls, one transaction: each call keeps its own compare-and-set (a
        savepoint), and all of them are committed together at the end. Other threads wait
        for the lock meanwhile: keep slow work (hashing, parsing) outside."""
        with self._write():
            yield

    def _prune_events(self) -> None:
        """Drop events older than the retention, oldest first, in short transactions.

        Ids grow with time, so the expired events are a prefix of the table by id: each
        step reads at most PRUNE_CHUNK ids from the oldest and deletes up to the last
        expired one. Costs one indexed read when nothing has expired."""
        now = self._clock.time()
        if self.event_retention is None or self._pruning or now < self._prune_due:
            return
        self._pruning = True
        try:
            cutoff = now - self.event_retention
            started = time.monotonic()
            self._prune_due = now + PRUNE_EVERY_SECONDS
            while True:
                oldest = self._conn.execute("SELECT at FROM events ORDER BY id LIMIT 1").fetchone()
                if oldest is None or oldest[0] >= cutoff:
                    return
                if time.monotonic() - started > PRUNE_BUDGET_SECONDS:
                    self._prune_due = now + PRUNE_AGAIN_SECONDS
                    return
                with self._write() as conn:
                    last = conn.execute(
                        "SELECT MAX(id) FROM (SELECT id, at FROM events ORDER BY id LIMIT ?)"
                        " WHERE at < ?",
                        (PRUNE_CHUNK, cutoff),
                    ).fetchone()[0]
                    if last is None:
                        return  # an event stamped before a clock jump: the rest waits
                    conn.execute("DELETE FROM events WHERE id <= ?", (last,))
        finally:
            self._pruning = False

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(f"journal {printable(str(self.path))}: {exc}") from None

    def _check_transition(self, from_state: ItemState | None, to_state: ItemState | None) -> None:
        if not transition_allowed(from_state, to_state):
            raise ValueError(f"journal: transition {from_state} -> {to_state} is not allowed")

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
            "INSERT INTO events (at, path_key, from_state, to_state, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (now, path_key(path), from_state, to_state, _text(detail)),
        )

    def _get(self, conn: sqlite3.Connection, path: str) -> FileRow | None:
        return _get_row(conn, path)

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
        """The compare-and-set: move one row from_state -> to_state, plus one event.

        A change the transition table does not allow is a bug in the caller: refused with
        ValueError, never written."""
        self._check_transition(from_state, to_state)
        if to_state is not ItemState.UPLOADING:
            # A lease (an upload's or the metadata stage's) ends with the work it covered.
            sets = {"lease_owner": None, "lease_until": None, **sets}
        sets = {**sets, "state": str(to_state), "updated_at": now}
        uploaded = ""
        if to_state in (ItemState.UPLOADED, ItemState.SYNCED):
            # photo_id now holds this content: the row's hash as this update leaves it (in
            # SQL, a column named on the right is the value before the update).
            sets.pop("uploaded_sha256", None)
            if "sha256" in sets:
                sets["uploaded_sha256"] = sets["sha256"]
            else:
                uploaded = ", uploaded_sha256 = sha256"
        assignments = ", ".join(f"{name} = ?" for name in sets) + uploaded
        cursor = conn.execute(
            f"UPDATE files SET {assignments} WHERE path = ? AND state = ?{extra_where}",
            (*sets.values(), _p(path), str(from_state), *extra_params),
        )
        if cursor.rowcount != 1:
            return False
        self._event(conn, path, str(from_state), str(to_state), detail, now)
        return True


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
