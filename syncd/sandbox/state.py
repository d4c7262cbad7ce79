"""The sandbox's persistent state: small JSON records in SQLite (write-through, all in memory
for reads) plus media files on disk. One lock guards everything; records are plain dicts."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

Record = dict[str, Any]

# Tables, each `key TEXT PRIMARY KEY, data TEXT (JSON)`.
TABLES = ("meta", "creds", "items", "albums", "tokens", "sessions", "request_tokens")
# Tables emptied by reset(); credentials and id counters survive (ids are never reused).
RESETTABLE = ("items", "albums", "tokens", "sessions", "request_tokens")
# First ids handed out, so ids look like the platform's rather than 1, 2, 3.
FIRST_IDS = {"photo_id": 10001, "tree_id": 20001, "album_id": 501, "object_id": 9001}


class State:
    """Thread-safe record store rooted at a directory (sandbox.db, files/, tmp/, chunks/)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files_dir = root / "files"
        self.tmp_dir = root / "tmp"
        self.chunks_dir = root / "chunks"
        for d in (root, self.files_dir, self.tmp_dir, self.chunks_dir):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.iterdir():  # half-received parts of a previous run
            stale.unlink(missing_ok=True)
        self.lock = threading.RLock()
        # In-memory helpers of other modules (never persisted; emptied by reset()).
        self.scratch: dict[str, Any] = {}
        self._db = sqlite3.connect(root / "sandbox.db", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._tables: dict[str, dict[str, Record]] = {}
        for table in TABLES:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, data TEXT)"
            )
            rows = self._db.execute(f"SELECT key, data FROM {table}").fetchall()
            self._tables[table] = {key: json.loads(data) for key, data in rows}
        self._db.commit()

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def get(self, table: str, key: str | int) -> Record | None:
        with self.lock:
            rec = self._tables[table].get(str(key))
            return None if rec is None else dict(rec)

    def values(self, table: str) -> list[Record]:
        with self.lock:
            return [dict(r) for r in self._tables[table].values()]

    def put(self, table: str, key: str | int, data: Record) -> None:
        with self.lock:
            self._tables[table][str(key)] = dict(data)
            self._db.execute(
                f"INSERT OR REPLACE INTO {table} (key, data) VALUES (?, ?)",
                (str(key), json.dumps(data)),
            )
            self._db.commit()

    def delete(self, table: str, key: str | int) -> None:
        with self.lock:
            self._tables[table].pop(str(key), None)
            self._db.execute(f"DELETE FROM {table} WHERE key = ?", (str(key),))
            self._db.commit()

    def next_id(self, name: str) -> int:
        with self.lock:
            rec = self.get("meta", f"next_{name}")
            value = FIRST_IDS[name] if rec is None else int(rec["value"])
            self.put("meta", f"next_{name}", {"value": value + 1})
            return value

    def reset(self) -> None:
        """Empty items, albums, tokens and chunk sessions, and delete their files."""
        with self.lock:
            for table in RESETTABLE:
                self._tables[table].clear()
                self._db.execute(f"DELETE FROM {table}")
            self._db.commit()
            self.scratch.clear()
            for d in (self.files_dir, self.chunks_dir):
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir(parents=True, exist_ok=True)

    def file_path(self, name: str) -> Path:
        return self.files_dir / name
