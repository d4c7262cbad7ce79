"""Counts kept by the journal's triggers, pages of rows, and the event log's retention."""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.journal import MIGRATIONS, SCHEMA_VERSION, Journal
from syncd.journal import db as journal_db
from syncd.model import TRANSITIONS, FileRow, ItemState, LocalFile
from syncd.status import collect_status

S = ItemState
ROOTS = ["/r", "/r/nested", "/other"]
DAY = 86400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


def counted(journal: Journal, scope: list[str] | None) -> dict[ItemState, tuple[int, int]]:
    """The truth: every row looked at, by hand, in Python."""
    result = dict.fromkeys(ItemState, (0, 0))
    for raw, state, size in journal.db.execute("SELECT path, state, size FROM files"):
        path = os.fsdecode(raw)
        if scope is not None and not any(path == s or path.startswith(s + "/") for s in scope):
            continue
        n, nbytes = result[ItemState(state)]
        result[ItemState(state)] = (n + 1, nbytes + size)
    return result


def root_of(path: str) -> str:
    """Each file's deepest root, as the scanner records it."""
    return max((r for r in ROOTS if path.startswith(r + "/")), key=len)


def test_counts_equal_a_full_count_after_random_transitions(journal: Journal) -> None:
    rng = random.Random(15)
    paths = [
        f"{rng.choice(ROOTS)}/{rng.choice(['a', 'b', 'a/deep'])}/f{i:03d}.mp4" for i in range(400)
    ]
    journal.observe_batch(
        [LocalFile(p, rng.randrange(1, 10_000), 1000, i) for i, p in enumerate(paths)],
        "/",
        root_of,
    )
    scopes: list[list[str] | None] = [
        None,
        ["/r"],
        ["/r/nested"],
        ["/other"],
        ["/r", "/other"],
        ["/r/a"],  # below a root: counted row by row
        ["/nowhere"],
    ]
    for step in range(1500):
        path = rng.choice(paths)
        row = journal.get(path)
        if row is None:
            journal.observe_batch(
                [LocalFile(path, rng.randrange(1, 10_000), 1000, 7)], "/", root_of
            )
            continue
        action = rng.random()
        if action < 0.6:
            choices = [s for s in TRANSITIONS[row.state] if s is not None and s is not row.state]
            if choices:
                to = rng.choice(choices)
                extra = {"photo_id": "p1"} if to in (S.UPLOADED, S.SYNCED) else {}
                assert journal.transition(path, row.state, to, **extra)
        elif action < 0.75:
            # A changed file (its size too): back to pending, bytes follow.
            journal.observe_batch(
                [LocalFile(path, rng.randrange(1, 10_000), 2000 + step, row.inode)], "/", root_of
            )
        elif action < 0.85:
            journal.mark_vanished(path)
        elif action < 0.95:
            new_path = rng.choice(paths)
            if journal.get(new_path) is None:
                journal.move(
                    path,
                    LocalFile(new_path, row.size, row.mtime_ns, row.inode),
                    root_of(new_path),
                    "test",
                )
        else:
            # Another process writing plain SQL (INSERT OR REPLACE deletes the old row).
            journal.db.execute(
                "INSERT OR REPLACE INTO files (path, root, size, mtime_ns, inode, state,"
                " created_at, updated_at) VALUES (?, ?, ?, 1, 1, 'pending', 0, 0)",
                (os.fsencode(path), os.fsencode(root_of(path)), 5),
            )
        if step % 100 == 0:
            for scope in scopes:
                assert journal.totals(roots=scope) == counted(journal, scope), (step, scope)
    for scope in scopes:
        assert journal.totals(roots=scope) == counted(journal, scope), scope
        assert journal.counts(roots=scope) == {
            s: n for s, (n, _) in counted(journal, scope).items()
        }
    assert journal.totals("/r") == counted(journal, ["/r"])
    assert journal.totals("/r", roots=["/r/nested", "/other"]) == counted(journal, ["/r/nested"])


def test_a_row_is_refused_a_root_it_is_not_under(journal: Journal) -> None:
    with pytest.raises(ValueError, match="not under its root"):
        journal.observe_batch([LocalFile("/elsewhere/a.mp4", 1, 1, 1)], "/r")
    assert journal.get("/elsewhere/a.mp4") is None


def _failed(journal: Journal, clock: FakeClock, n: int, prefix: str = "f") -> list[str]:
    """`n` new files, one a second, each failed at once: two events each."""
    paths = [f"/r/{prefix}{i:03d}.mp4" for i in range(n)]
    for p in paths:
        journal.observe_batch([LocalFile(p, 10, 1, 1)], "/r")
        clock.advance(1.0)
        assert journal.transition(p, S.PENDING, S.FAILED, error_code="x")
    return paths


def test_recent_failures_come_a_page_at_a_time(journal: Journal, clock: FakeClock) -> None:
    paths = _failed(journal, clock, 25)
    pages: list[list[FileRow]] = []
    before = None
    while page := journal.recent_in(S.FAILED, limit=10, before=before):
        pages.append(page)
        before = (page[-1].updated_at, page[-1].path)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r.path for p in pages for r in p] == list(reversed(paths))
    assert journal.count_of([*paths[:7], "/r/none.mp4"], [S.FAILED]) == 7
    assert journal.count_of(paths, [S.FAILED], updated_since=clock.time() - 4.5) == 5
    assert [r.path for r in journal.iter_rows([S.FAILED], roots=["/r"])] == paths


def test_the_event_log_keeps_what_its_retention_says(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_db, "PRUNE_CHUNK", 7)  # several chunks per pruning
    path = tmp_path / "journal.db"
    with Journal.open(path, clock=clock, event_retention_days=10) as journal:
        old = _failed(journal, clock, 30)  # 60 events, 30 s apart
        assert journal.event_count() == 60
        clock.advance(9 * DAY)
        new = _failed(journal, clock, 3, prefix="g")
        assert journal.event_count() == 66  # nothing is 10 days old yet
        clock.advance(2 * DAY)
    # A process that only reads prunes nothing, whatever its age.
    with Journal.open(path, clock=clock, event_retention_days=10) as reader:
        assert reader.event_count() == 66
        assert next(e.detail for e in reader.events(old[0])) == "new"
    with Journal.open(path, clock=clock, event_retention_days=10) as journal:
        journal.observe_batch([LocalFile("/r/later.mp4", 1, 1, 1)], "/r")  # a write
        assert journal.event_count() == 6 + 1  # the old 60 went, in chunks of 7
        assert journal.events(old[0]) == []
        assert len(journal.events(new[0])) == 2
        # An hour later, the next write looks again; nothing more is due.
        clock.advance(3600)
        journal.mark_vanished("/r/later.mp4")
        assert journal.event_count() == 8
    # Without a retention, nothing is ever pruned.
    clock.advance(400 * DAY)
    with Journal.open(path, clock=clock) as journal:
        journal.observe_batch([LocalFile("/r/forever.mp4", 1, 1, 1)], "/r")
        assert journal.event_count() == 9


def test_footprint_says_what_the_journal_holds(journal: Journal, clock: FakeClock) -> None:
    _failed(journal, clock, 12)
    fp = journal.footprint()
    assert (fp.files, fp.events) == (12, 24)
    assert fp.file_bytes + fp.wal_bytes > 0 and fp.page_size == 4096
    assert fp.bytes_per_file == (fp.file_bytes + fp.wal_bytes) / 12
    assert fp.oldest_event_at is not None and fp.oldest_event_at <= clock.time()


def test_a_journal_of_the_previous_schema_keeps_its_counts_and_history(tmp_path: Path) -> None:
    """Migrating a journal written before the counts table and the keyed event log: the
    counts are those of its rows, every file's history is still found by its path, and
    new events go on from the old ids."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    # The schema as it was just before the step that added the counts table.
    before = next(i for i, step in enumerate(MIGRATIONS) if "state_counts" in step[0])
    for step in MIGRATIONS[:before]:
        for statement in step:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {before}")
    odd = b"/r/caf\xe9.mp4"
    rows = [(b"/r/a.mp4", "synced", 10), (b"/r/b.mp4", "ready", 20), (odd, "failed", 30)]
    for raw, state, size in rows:
        conn.execute(
            "INSERT INTO files (path, root, size, mtime_ns, inode, state, created_at,"
            " updated_at) VALUES (?, ?, ?, 1, 1, ?, 0, 0)",
            (raw, b"/r", size, state),
        )
        for detail in ("new", f"to {state}"):
            conn.execute(
                "INSERT INTO events (at, path, from_state, to_state, detail)"
                " VALUES (1, ?, NULL, ?, ?)",
                (raw, state, detail),
            )
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        assert journal.totals("/r")[S.SYNCED] == (1, 10)
        assert journal.totals()[S.FAILED] == (1, 30)
        assert [e.detail for e in journal.events(os.fsdecode(odd))] == ["new", "to failed"]
        assert [e.id for e in journal.events("/r/a.mp4")] == [1, 2]
        journal.observe_batch([LocalFile("/r/c.mp4", 1, 1, 1)], "/r")
        assert [e.id for e in journal.events("/r/c.mp4")] == [7]


def test_lookups_and_status_read_an_index_not_every_row(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    """With 3000 files, each of these reads a handful of index entries: counted in SQLite
    VM instructions, fewer than there are rows (a scan of the table needs several per
    row)."""
    n = 3000
    files = [LocalFile(f"/r/d{i // 100}/f{i:04d}.mp4", i + 1, 1, i) for i in range(n)]
    journal.observe_batch(files, "/r")
    with journal.batch():
        for i, f in enumerate(files):
            sha = hashlib.sha256(b"%d" % i).hexdigest()
            assert journal.promote(f.path, sha, expect_size=f.size, expect_mtime_ns=1)[0]
            if i % 100 == 0:
                assert journal.transition(f.path, S.READY, S.FAILED, error_code="x")
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    middle = files[n // 2].path
    calls = {
        "get": lambda: journal.get(middle),
        "events": lambda: journal.events(middle),
        "find_by_sha": lambda: journal.find_by_sha(hashlib.sha256(b"%d" % (n // 2)).hexdigest()),
        "totals": lambda: journal.totals(),
        "totals of a root": lambda: journal.totals("/r"),
        "recent failures": lambda: journal.recent_in(S.FAILED, limit=20),
        "count_of": lambda: journal.count_of([f.path for f in files[:10]], [S.READY]),
        "count_in": lambda: journal.count_in([S.UPLOADING]),
        "sessions": lambda: journal.sessions_in_progress(),
        "status": lambda: collect_status(journal, None, limit=20),
        "status PATH": lambda: collect_status(journal, Path(middle)),
        "footprint": lambda: journal.footprint().files,
    }
    for name, call in calls.items():
        steps = 0
        journal._conn.set_progress_handler(count, 1)
        try:
            call()
        finally:
            journal._conn.set_progress_handler(None, 1)
        limit = 30 * n if name == "footprint" else n  # footprint counts the events
        assert steps < limit, (name, steps)
