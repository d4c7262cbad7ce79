"""Opening the journal: creation, pragmas, migrations and clear errors for bad paths."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from syncd.errors import JournalError
from syncd.journal import SCHEMA_VERSION, Journal
from syncd.journal import db as journal_db


def test_creates_missing_directory_with_wal_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "journal.db"
    with Journal.open(path) as j:
        assert path.exists()
        assert j.schema_version == SCHEMA_VERSION
        assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert j.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert j.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        timeout_ms = j.db.execute("PRAGMA busy_timeout").fetchone()[0]
        assert timeout_ms == int(journal_db.BUSY_TIMEOUT_SECONDS * 1000)
        tables = set(j.db.table_names())
        assert {"files", "events", "chunk_sessions", "chunk_acks", "albums"} <= tables
        # The inspection handle leaves the connection's settings as the journal set them.
        # (recursive triggers: on, so rows INSERT OR REPLACE deletes are counted out too)
        assert j.db.execute("PRAGMA recursive_triggers").fetchone()[0] == 1


def test_migrates_from_version_zero_keeping_other_content(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with Journal.open(path) as j:
        assert j.schema_version == SCHEMA_VERSION
        assert j.db.execute("SELECT x FROM notes").fetchone()[0] == "kept"
        assert j.db["files"].exists()
    with Journal.open(path) as j:  # second open: nothing to do, no error
        assert j.schema_version == SCHEMA_VERSION


def test_failed_migration_leaves_version_and_schema_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = ((*journal_db.MIGRATIONS[0], "THIS IS NOT SQL"),)
    monkeypatch.setattr(journal_db, "MIGRATIONS", broken)
    path = tmp_path / "j.db"
    with pytest.raises(JournalError):
        Journal.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert tables == []  # the whole step rolled back: one transaction
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(JournalError, match="newer than this syncd"):
        Journal.open(path)


def test_directory_as_journal_path(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory") as info:
        Journal.open(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_garbage_file_as_journal(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(JournalError, match="not an SQLite journal") as info:
        Journal.open(path)
    assert str(path) in str(info.value)


def test_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = blocker / "sub" / "journal.db"
    with pytest.raises(JournalError, match="cannot create directory") as info:
        Journal.open(path)
    assert str(path) in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_directory_not_writable(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(JournalError, match="not writable"):
            Journal.open(ro / "journal.db")
    finally:
        ro.chmod(0o755)


def test_locked_database_says_wal_needs_a_local_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(journal_db, "BUSY_TIMEOUT_SECONDS", 0.05)  # fail fast in the test
    try:
        with pytest.raises(JournalError, match="local disk") as info:
            Journal.open(path)
        assert str(path) in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
