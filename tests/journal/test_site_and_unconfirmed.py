"""Issue 12: the journal records the site it describes (once, the first binding wins) and
the metadata the site did not confirm, per file (following the file when it moves)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from syncd.journal import MIGRATIONS, SCHEMA_VERSION, Journal
from syncd.model import LocalFile


def test_the_first_binding_holds(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        assert journal.site() is None
        first = journal.bind_site("video.example.com", "123", "Example", "key-1")
        again = journal.bind_site("other.example.com", "999", "Other", "key-9")
        assert again == first == journal.site()
        assert first.describe() == "video.example.com (site_id 123, 'Example')"
        assert "key-1" not in first.describe()
        journal.confirm_site("videos.example.com", None, "key-2")
        renamed = journal.site()
        assert renamed is not None
        assert (renamed.domain, renamed.site_id, renamed.site_name, renamed.consumer_key) == (
            "videos.example.com",
            "123",
            "Example",
            "key-2",
        )


def test_two_processes_binding_at_once_agree(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close()
    results: list[str] = []
    start = threading.Barrier(4)

    def bind(n: int) -> None:
        with Journal.open(path) as journal:  # a connection of its own, as a process has
            start.wait()
            results.append(journal.bind_site(f"site-{n}.example.com", str(n), None, "k").domain)

    threads = [threading.Thread(target=bind, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4


def test_a_journal_of_the_previous_schema_gets_the_new_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    # The schema as it was just before the step that added the site table.
    before = next(i for i, step in enumerate(MIGRATIONS) if "CREATE TABLE site " in step[0])
    for step in MIGRATIONS[:before]:
        for statement in step:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        assert journal.site() is None
        assert journal.unconfirmed() == []


def test_unconfirmed_fields_follow_the_file_and_go_with_it(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        journal.observe_batch([LocalFile("/r/a.mp4", 10, 1000, 7)], "/r")
        journal.note_unconfirmed("/r/a.mp4", ["publish_date"], "publish_date 2020-01-01 sent")
        [entry] = journal.unconfirmed("/r")
        assert (entry.path, entry.fields) == ("/r/a.mp4", ("publish_date",))
        moved = journal.move("/r/a.mp4", LocalFile("/r/b.mp4", 10, 1000, 7), "/r", "renamed")
        assert moved is not None
        assert [u.path for u in journal.unconfirmed()] == ["/r/b.mp4"]
        journal.clear_unconfirmed("/r/b.mp4")
        assert journal.unconfirmed() == []
        journal.note_unconfirmed("/r/b.mp4", ["publish_date"], "again")
        assert journal.mark_vanished("/r/b.mp4")
        assert journal.unconfirmed() == []
