"""Journal: CAS transitions, events, observe_batch, leases, sessions, albums, paths."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.journal import Journal, read_chunk_progress, read_state
from syncd.model import FileRow, LocalFile
from syncd.model import ItemState as S
from syncd.plan.local import LocalAction, plan_hashed

SHA = "ab" * 32


def add_ready(j: Journal, path: str, *, size: int = 10, sha: str = SHA) -> FileRow:
    j.observe_batch([LocalFile(path, size, 1000, 7)], "/r")
    assert j.mark_ready(path, sha, expect_size=size, expect_mtime_ns=1000)
    row = j.get(path)
    assert row is not None
    return row


def test_observe_batch_new_changed_unchanged(journal: Journal, clock: FakeClock) -> None:
    journal.observe_batch([LocalFile("/r/a.mp4", 10, 1000, 7)], "/r")
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.state, row.stable_since, row.root, row.attempts) == (
        S.PENDING,
        clock.time(),
        "/r",
        0,
    )
    assert [(e.from_state, e.to_state) for e in journal.events("/r/a.mp4")] == [(None, S.PENDING)]

    # unchanged: no write at all
    before = journal.total_changes()
    journal.observe_batch([LocalFile("/r/a.mp4", 10, 1000, 7)], "/r")
    assert journal.total_changes() == before

    # still pending but growing: new size, stability clock restarts, no state event
    clock.advance(5)
    journal.observe_batch([LocalFile("/r/a.mp4", 20, 2000, 7)], "/r")
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.size, row.mtime_ns, row.stable_since) == (20, 2000, clock.time())
    assert len(journal.events("/r/a.mp4")) == 1


def test_changed_synced_file_goes_back_to_pending_keeping_photo_id(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    owner = "h:1:1"
    assert journal.claim(owner, 60) is not None
    assert journal.transition("/r/a.mp4", S.UPLOADING, S.SYNCED, owner=owner, photo_id="42")
    journal.observe_batch([LocalFile("/r/a.mp4", 11, 1001, 7)], "/r")
    row = journal.get("/r/a.mp4")
    assert row is not None
    # photo_id and the content it holds are kept; attempts too (an earlier attempt
    # may have landed: the uploader asks the site first).
    assert (row.state, row.photo_id, row.sha256, row.attempts) == (S.PENDING, "42", None, 1)
    assert row.uploaded_sha256 == SHA
    last = journal.events("/r/a.mp4")[-1]
    assert (last.from_state, last.to_state) == (S.SYNCED, S.PENDING)
    assert last.detail.startswith("changed")


def test_changed_uploading_file_is_left_to_the_worker(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    journal.observe_batch([LocalFile("/r/a.mp4", 99, 9999, 7)], "/r")
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.state, row.size) == (S.UPLOADING, 10)


def test_mark_ready_checks_size_and_mtime(journal: Journal) -> None:
    journal.observe_batch([LocalFile("/r/a.mp4", 10, 1000, 7)], "/r")
    assert not journal.mark_ready("/r/a.mp4", SHA, expect_size=11, expect_mtime_ns=1000)
    assert not journal.mark_ready("/r/a.mp4", SHA, expect_size=10, expect_mtime_ns=1)
    assert journal.get("/r/a.mp4").state is S.PENDING  # type: ignore[union-attr]
    assert journal.mark_ready("/r/a.mp4", SHA, expect_size=10, expect_mtime_ns=1000)
    assert not journal.mark_ready("/r/a.mp4", SHA, expect_size=10, expect_mtime_ns=1000)
    assert journal.get("/r/a.mp4").sha256 == SHA  # type: ignore[union-attr]


def test_wrong_from_state_changes_nothing(journal: Journal) -> None:
    row = add_ready(journal, "/r/a.mp4")
    events = journal.event_count()
    assert not journal.transition("/r/a.mp4", S.UPLOADING, S.UPLOADED, photo_id="1")
    assert not journal.transition("/r/missing.mp4", S.READY, S.UPLOADING)
    assert not journal.mark_skipped("/r/a.mp4", "x", from_state=S.PENDING)
    assert journal.get("/r/a.mp4") == row
    assert journal.event_count() == events


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [(S.READY, S.UPLOADED), (S.READY, S.SYNCED), (S.FAILED, S.SYNCED), (S.SKIPPED, S.READY)],
)
def test_transitions_outside_the_table_are_refused(
    journal: Journal, from_state: S, to_state: S
) -> None:
    """A change the transition table does not allow is a bug: refused, nothing written."""
    row = add_ready(journal, "/r/a.mp4")
    events = journal.event_count()
    with pytest.raises(ValueError, match="not allowed"):
        journal.transition("/r/a.mp4", from_state, to_state)
    assert journal.get("/r/a.mp4") == row
    assert journal.event_count() == events


def test_every_transition_writes_one_event(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/a.mp4")
    owner = "h:1:1"
    claimed = journal.claim(owner, 60)
    assert claimed is not None and claimed.attempts == 1
    n = journal.event_count()
    clock.advance(1)
    assert journal.transition(
        "/r/a.mp4",
        S.UPLOADING,
        S.RETRY,
        owner=owner,
        detail="503",
        next_attempt_at=clock.time() + 9,
    )
    assert journal.event_count() == n + 1
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.lease_owner, row.lease_until) == (None, None)  # leaving uploading clears it
    events = journal.events("/r/a.mp4")
    assert (events[-1].from_state, events[-1].to_state, events[-1].detail) == (
        S.UPLOADING,
        S.RETRY,
        "503",
    )
    assert events[-1].at == clock.time()


def test_transition_owner_cas_and_unknown_field(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert not journal.transition("/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="h:2:2")
    with pytest.raises(ValueError, match="bogus"):
        journal.transition("/r/a.mp4", S.UPLOADING, S.UPLOADED, bogus=1)
    with pytest.raises(ValueError, match="state"):
        journal.transition("/r/a.mp4", S.UPLOADING, S.UPLOADED, state="synced")
    assert journal.transition(
        "/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="h:1:1", photo_id="7", upload_mode="direct"
    )
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.state, row.photo_id, row.upload_mode) == (S.UPLOADED, "7", "direct")


def test_claim_order_retry_due_and_next_wakeup(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    due = clock.time() + 100
    assert journal.transition("/r/a.mp4", S.UPLOADING, S.RETRY, next_attempt_at=due)
    assert journal.next_wakeup() == due
    assert journal.claim("h:1:1", 60) is None  # not due yet
    clock.advance(100)
    row = journal.claim("h:1:1", 60)
    assert row is not None
    assert (row.path, row.attempts, row.state, row.lease_until) == (
        "/r/a.mp4",
        2,
        S.UPLOADING,
        clock.time() + 60,
    )
    assert journal.next_wakeup() is None


def test_claim_oldest_ready_first(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/b.mp4")
    clock.advance(1)
    add_ready(journal, "/r/a.mp4")
    first = journal.claim("h:1:1", 60)
    assert first is not None and first.path == "/r/b.mp4"


def test_claim_ready_since_takes_only_rows_readied_since(
    journal: Journal, clock: FakeClock
) -> None:
    """While a scan runs, workers take only what it has just readied: not a row an earlier
    run left ready, nor a due retry (the scan has not checked those files yet)."""
    add_ready(journal, "/r/parked.mp4")
    parked = journal.claim("h:1:1", 60)
    assert parked is not None and parked.path == "/r/parked.mp4"
    assert journal.transition(parked.path, S.UPLOADING, S.RETRY, next_attempt_at=clock.time())
    clock.advance(1)
    add_ready(journal, "/r/old.mp4")
    clock.advance(10)
    run_started = clock.time()
    assert journal.claim("h:1:1", 60, ready_since=run_started) is None
    add_ready(journal, "/r/new.mp4")
    new = journal.claim("h:1:1", 60, ready_since=run_started)
    assert new is not None and new.path == "/r/new.mp4"
    assert journal.claim("h:1:1", 60, ready_since=run_started) is None
    # Once the scan is done, the due retry goes first, then the old ready row.
    later = [journal.claim("h:1:1", 60) for _ in range(3)]
    assert [r.path if r else None for r in later] == ["/r/parked.mp4", "/r/old.mp4", None]


def test_rows_in_updated_since(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/a.mp4")
    clock.advance(5)
    since = clock.time()
    add_ready(journal, "/r/b.mp4")
    assert [r.path for r in journal.rows_in([S.READY])] == ["/r/a.mp4", "/r/b.mp4"]
    assert [r.path for r in journal.rows_in([S.READY], updated_since=since)] == ["/r/b.mp4"]


def test_renew_lease(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 10) is not None
    clock.advance(5)
    assert journal.renew_lease("/r/a.mp4", "h:1:1", 10)
    assert journal.get("/r/a.mp4").lease_until == clock.time() + 10  # type: ignore[union-attr]
    assert not journal.renew_lease("/r/a.mp4", "h:9:9", 10)


def test_recover_abandoned_on_lease_expiry_and_dead_owner(
    journal: Journal, clock: FakeClock
) -> None:
    add_ready(journal, "/r/a.mp4")
    add_ready(journal, "/r/b.mp4")
    assert journal.claim("alive:1:1", 30) is not None
    assert journal.claim("dead:2:2", 30) is not None

    def alive(owner: str) -> bool:
        return owner.startswith("alive")

    assert journal.recover_abandoned(is_owner_alive=alive) == ["/r/b.mp4"]
    row = journal.get("/r/b.mp4")
    assert row is not None
    assert (row.state, row.attempts, row.next_attempt_at, row.lease_owner) == (
        S.RETRY,
        1,
        clock.time(),
        None,
    )
    assert "recovered from dead:2:2" in journal.events("/r/b.mp4")[-1].detail
    assert journal.get("/r/a.mp4").state is S.UPLOADING  # type: ignore[union-attr]

    clock.advance(31)  # lease of the live owner expires
    assert journal.recover_abandoned(is_owner_alive=alive) == ["/r/a.mp4"]
    # the late worker cannot complete a row it no longer holds
    assert not journal.transition("/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="alive:1:1")
    again = journal.claim("h:3:3", 30)
    assert again is not None and again.attempts == 2  # > 1: ask the site first


def test_a_metadata_claim_of_a_dead_process_is_released(journal: Journal, clock: FakeClock) -> None:
    """A process killed while it applied an item's metadata left the row `uploaded` under
    its lease: the item must not wait for the lease to run out (a push waited 300 s)."""
    for name in ("a", "b"):
        add_ready(journal, f"/r/{name}.mp4")
        row = journal.claim("h:9:9", 60)
        assert row is not None
        assert journal.transition(row.path, S.UPLOADING, S.UPLOADED, owner="h:9:9", photo_id="1")
    assert journal.claim_metadata("dead:2:2", 300) is not None
    assert journal.claim_metadata("alive:1:1", 300) is not None
    assert journal.claim_metadata("other:3:3", 300) is None  # both held

    def alive(owner: str) -> bool:
        return owner.startswith("alive")

    journal.recover_abandoned(is_owner_alive=alive)

    rows = {r.path: r for r in journal.rows_in([S.UPLOADED])}
    assert rows["/r/a.mp4"].lease_owner is None and rows["/r/a.mp4"].lease_until is None
    assert rows["/r/b.mp4"].lease_owner == "alive:1:1"  # a live process keeps its claim
    assert "metadata claim of dead:2:2 released (owner gone)" in [
        e.detail for e in journal.events("/r/a.mp4")
    ]
    again = journal.claim_metadata("other:3:3", 300)
    assert again is not None and again.path == "/r/a.mp4"


def test_reset_failed(journal: Journal) -> None:
    for name in ("a", "b", "c"):
        add_ready(journal, f"/r/{name}.mp4")
        assert journal.claim("h:1:1", 60) is not None
    assert journal.transition("/r/a.mp4", S.UPLOADING, S.FAILED, error_code="x", error_message="m")
    assert journal.transition("/r/b.mp4", S.UPLOADING, S.FAILED, error_code="x", error_message="m")
    assert journal.transition("/r/c.mp4", S.UPLOADING, S.RETRY, next_attempt_at=1e12)
    assert journal.reset_failed(["/r/a.mp4", "/r/nope.mp4"]) == 1
    row = journal.get("/r/a.mp4")
    assert row is not None
    assert (row.state, row.error_code, row.error_message, row.attempts) == (S.READY, None, None, 1)
    assert journal.reset_failed(None) == 2
    assert journal.counts()[S.READY] == 3


def test_mark_vanished(journal: Journal) -> None:
    journal.observe_batch([LocalFile("/r/p.mp4", 1, 1, 1)], "/r")
    add_ready(journal, "/r/s.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert journal.transition("/r/s.mp4", S.UPLOADING, S.SYNCED, photo_id="1")
    assert journal.mark_vanished("/r/p.mp4")
    assert journal.get("/r/p.mp4") is None
    last = journal.events("/r/p.mp4")[-1]
    assert (last.from_state, last.to_state) == (S.PENDING, None)
    assert not journal.mark_vanished("/r/s.mp4")  # synced: reconcile's business
    assert journal.get("/r/s.mp4") is not None
    # failed after the upload landed (photo_id known): the mapping is never dropped
    add_ready(journal, "/r/f.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert journal.transition("/r/f.mp4", S.UPLOADING, S.FAILED, photo_id="2", error_code="x")
    assert not journal.mark_vanished("/r/f.mp4")
    assert journal.get("/r/f.mp4") is not None


def test_promote_skips_duplicates_atomically(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    journal.observe_batch([LocalFile("/r/b.mp4", 10, 1000, 8)], "/r")
    state, twin = journal.promote(
        "/r/b.mp4", SHA, expect_size=10, expect_mtime_ns=1000, decide=dedupe
    )
    assert state is S.SKIPPED and twin == "/r/a.mp4"
    row = journal.get("/r/b.mp4")
    assert row is not None
    assert (row.duplicate_of, row.sha256) == ("/r/a.mp4", SHA)
    assert "duplicate of /r/a.mp4" in (row.error_message or "")
    assert [r.path for r in journal.find_by_sha(SHA, exclude_path="/r/a.mp4")] == ["/r/b.mp4"]


def dedupe(row: FileRow, sha256: str, twins: list[FileRow]) -> LocalAction:
    """The scanner's decision with duplicates skipped, every twin's file still present."""
    return plan_hashed(row, sha256, twins, {t.path: False for t in twins}, skip_duplicates=True)


def test_sessions_and_acks(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    kw = dict(chunk_size=4, total_size=10, total_chunks=3, valid_until=123.0)
    journal.save_session("/r/a.mp4", upload_token="t1", identifier="id1", **kw)  # type: ignore[arg-type]
    journal.ack_chunk("/r/a.mp4", 1)
    journal.ack_chunk("/r/a.mp4", 2)
    journal.ack_chunk("/r/a.mp4", 2)
    session = journal.session("/r/a.mp4")
    assert session is not None
    assert (session.upload_token, session.total_chunks, session.acked) == ("t1", 3, {1, 2})
    # same token: acks survive a re-save; a new token starts over
    journal.save_session("/r/a.mp4", upload_token="t1", identifier="id1", **kw)  # type: ignore[arg-type]
    assert journal.session("/r/a.mp4").acked == {1, 2}  # type: ignore[union-attr]
    journal.save_session("/r/a.mp4", upload_token="t2", identifier="id1", **kw)  # type: ignore[arg-type]
    assert journal.session("/r/a.mp4").acked == frozenset()  # type: ignore[union-attr]
    journal.ack_chunk("/r/a.mp4", 1)
    journal.drop_session("/r/a.mp4")
    assert journal.session("/r/a.mp4") is None
    assert journal.db.execute("SELECT COUNT(*) FROM chunk_acks").fetchone()[0] == 0


def test_read_only_peeks_at_progress_and_state(
    journal: Journal, tmp_path: Path, clock: FakeClock
) -> None:
    """What tests and benchmarks poll while another process writes the journal."""
    db = tmp_path / "journal.db"
    assert read_chunk_progress(tmp_path / "none.db", "/r/a.mp4") is None  # no journal yet
    assert read_state(tmp_path / "none.db", "/r/a.mp4") is None
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a file without the tables
    assert read_chunk_progress(empty, "/r/a.mp4") is None and read_state(empty, "/r/a.mp4") is None
    assert read_state(db, "/r/a.mp4") is None and read_chunk_progress(db, "/r/a.mp4") is None
    add_ready(journal, "/r/a.mp4")
    assert read_state(db, "/r/a.mp4") == "ready"
    kw = dict(chunk_size=4, total_size=10, total_chunks=3, valid_until=123.0)
    journal.save_session("/r/a.mp4", upload_token="t1", identifier="id1", **kw)  # type: ignore[arg-type]
    assert read_chunk_progress(db, "/r/a.mp4") == (0, 3)
    journal.ack_chunk("/r/a.mp4", 1)
    journal.ack_chunk("/r/a.mp4", 3)
    assert read_chunk_progress(db, "/r/a.mp4") == (2, 3)
    assert read_chunk_progress(db, "/r/b.mp4") is None
    add_ready(journal, "/r/b.mp4")
    journal.save_session("/r/b.mp4", upload_token="t2", identifier="id2", **kw)  # type: ignore[arg-type]
    journal.ack_chunk("/r/b.mp4", 2)
    assert read_chunk_progress(db, "/r/a.mp4") == (2, 3)  # each file's own acks
    assert read_chunk_progress(db, "/r/b.mp4") == (1, 3)


def test_session_goes_with_vanished_row(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    journal.save_session(
        "/r/a.mp4",
        upload_token="t",
        identifier="i",
        chunk_size=1,
        total_size=2,
        total_chunks=2,
        valid_until=None,
    )
    journal.ack_chunk("/r/a.mp4", 1)
    assert journal.mark_vanished("/r/a.mp4")
    assert journal.session("/r/a.mp4") is None


def test_albums_cache(journal: Journal) -> None:
    assert journal.album_id("Holidays") is None
    journal.remember_album("Holidays", "11")
    journal.remember_album("Holidays", "12")
    assert journal.album_id("Holidays") == "12"
    journal.forget_album("Holidays")
    assert journal.album_id("Holidays") is None


def test_paths_under_root_and_non_utf8(journal: Journal) -> None:
    odd = os.fsdecode(b"/r/caf\xe9.mp4")
    journal.observe_batch(
        [
            LocalFile("/r/a.mp4", 1, 1, 1),
            LocalFile("/r/sub/b.mp4", 1, 1, 2),
            LocalFile(odd, 1, 1, 3),
            LocalFile("/r2/c.mp4", 1, 1, 4),
            LocalFile("/r-x/d.mp4", 1, 1, 5),
        ],
        "/r",
        lambda path: "/" + path.split("/")[1],  # each row's root is the folder above it
    )
    under = journal.rows_under("/r")
    assert sorted(under) == sorted(["/r/a.mp4", "/r/sub/b.mp4", odd])
    assert sorted(journal.rows_under("/r/")) == sorted(under)
    assert list(journal.rows_under("/r/sub")) == ["/r/sub/b.mp4"]
    assert len(journal.rows_under("/")) == 5
    assert journal.get(odd) is not None and journal.events(odd)[0].path == odd
    assert journal.counts("/r")[S.PENDING] == 3
    assert journal.counts()[S.PENDING] == 5
    assert [r.path for r in journal.rows_in([S.PENDING], root="/r2")] == ["/r2/c.mp4"]
    # a non-UTF-8 path inside free text (reason) is stored printable, not rejected
    assert journal.mark_skipped(odd, f"duplicate of {odd}", from_state=S.PENDING)
    assert journal.get(odd).error_message == "duplicate of /r/caf\\xe9.mp4"  # type: ignore[union-attr]


def test_reopen_keeps_data(tmp_path: Path, clock: FakeClock) -> None:
    with Journal.open(tmp_path / "j.db", clock=clock) as j:
        j.observe_batch([LocalFile("/r/a.mp4", 1, 1, 1)], "/r")
    with Journal.open(tmp_path / "j.db", clock=clock) as j:
        assert j.get("/r/a.mp4") is not None


def test_claim_and_rows_in_limited_to_roots(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    journal.observe_batch([LocalFile("/other/b.mp4", 10, 1000, 9)], "/other")
    assert journal.mark_ready("/other/b.mp4", SHA, expect_size=10, expect_mtime_ns=1000)
    assert [r.path for r in journal.rows_in([S.READY], roots=["/other"])] == ["/other/b.mp4"]
    assert journal.claim("h:1:1", 60, roots=[]) is None
    row = journal.claim("h:1:1", 60, roots=["/other", "/elsewhere"])
    assert row is not None and row.path == "/other/b.mp4"
    assert journal.claim("h:1:1", 60, roots=["/other"]) is None


def _synced(j: Journal, path: str, photo_id: str = "42") -> None:
    add_ready(j, path)
    assert j.claim("h:1:1", 60) is not None
    assert j.transition(path, S.UPLOADING, S.SYNCED, owner="h:1:1", photo_id=photo_id)


def test_touched_synced_file_with_the_same_content_goes_back_to_synced(journal: Journal) -> None:
    _synced(journal, "/r/a.mp4")
    journal.observe_batch([LocalFile("/r/a.mp4", 10, 5555, 8)], "/r")  # touch + new inode
    state, _ = journal.promote("/r/a.mp4", SHA, expect_size=10, expect_mtime_ns=5555, decide=dedupe)
    row = journal.get("/r/a.mp4")
    assert state is S.SYNCED and row is not None and row.photo_id == "42"
    assert "content unchanged" in journal.events("/r/a.mp4")[-1].detail


def test_synced_file_with_new_content_is_ready_for_upload(journal: Journal) -> None:
    _synced(journal, "/r/a.mp4")
    journal.observe_batch([LocalFile("/r/a.mp4", 10, 5555, 7)], "/r")
    state, _ = journal.promote(
        "/r/a.mp4", "cd" * 32, expect_size=10, expect_mtime_ns=5555, decide=dedupe
    )
    assert state is S.READY


def test_vanished_row_reopens_the_copies_skipped_as_its_duplicates(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    journal.observe_batch([LocalFile("/r/b.mp4", 10, 1000, 9)], "/r")
    state, twin = journal.promote(
        "/r/b.mp4", SHA, expect_size=10, expect_mtime_ns=1000, decide=dedupe
    )
    assert state is S.SKIPPED and twin == "/r/a.mp4"
    assert journal.mark_vanished("/r/a.mp4")
    row = journal.get("/r/b.mp4")
    assert row is not None and (row.state, row.duplicate_of) == (S.PENDING, None)


def test_ack_into_a_dropped_session_is_ignored(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    journal.save_session(
        "/r/a.mp4",
        upload_token="t",
        identifier="i",
        chunk_size=4,
        total_size=10,
        total_chunks=2,
        valid_until=None,
        sha256=SHA,
    )
    session = journal.session("/r/a.mp4")
    assert session is not None and session.sha256 == SHA
    journal.drop_session("/r/a.mp4")
    journal.ack_chunk("/r/a.mp4", 1)  # a sibling chunk finishing after a cancel
    assert journal.session("/r/a.mp4") is None


def test_live_local_owner_keeps_its_claim_past_the_lease(
    journal: Journal, clock: FakeClock
) -> None:
    add_ready(journal, "/r/a.mp4")
    local = f"{socket.gethostname()}:1:1"
    assert journal.claim(local, 60) is not None
    clock.advance(3600)  # suspended for an hour
    assert journal.recover_abandoned(is_owner_alive=lambda owner: True) == []
    assert journal.recover_abandoned(is_owner_alive=lambda owner: False) == ["/r/a.mp4"]


def test_other_hosts_claim_lapses_with_its_lease(journal: Journal, clock: FakeClock) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("elsewhere.example:1:1", 60) is not None
    assert journal.recover_abandoned(is_owner_alive=lambda owner: True) == []
    clock.advance(61)
    assert journal.recover_abandoned(is_owner_alive=lambda owner: True) == ["/r/a.mp4"]


def test_counts_under_nested_roots_count_each_row_once(journal: Journal) -> None:
    add_ready(journal, "/r/a/x.mp4")
    add_ready(journal, "/r/b.mp4", sha="cd" * 32)
    assert journal.counts(roots=["/r", "/r/a"])[S.READY] == 2
    assert journal.counts(roots=["/r/a"])[S.READY] == 1


def test_applied_parts_are_recorded_only_under_our_metadata_lease(journal: Journal) -> None:
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert journal.transition(
        "/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="h:1:1", photo_id="42",
        applied_parts='{"fields": "f1"}',
    )  # fmt: skip
    row = journal.claim_metadata("h:1:2", 60)
    assert row is not None and row.applied_parts == '{"fields": "f1"}'

    assert not journal.record_parts(row, "h:1:9", '{"fields": "x"}')  # not the lease holder
    assert journal.record_parts(row, "h:1:2", '{"chapters": "c1", "fields": "f1"}')
    assert journal.finish_metadata(
        row, "h:1:2", digest="d", meta_sig="s", detail="done", parts='{"fields": "f2"}'
    )
    done = journal.get("/r/a.mp4")
    assert done is not None
    assert (done.state, done.applied_digest, done.applied_parts) == (
        S.SYNCED, "d", '{"fields": "f2"}',
    )  # fmt: skip
    assert not journal.record_parts(done, "h:1:2", "{}")  # the lease went with the finish


def test_a_desire_recorded_during_an_apply_is_kept_and_stays_due(journal: Journal) -> None:
    """A sidecar edited while its item's metadata is being applied: the watch feed records
    the new desire mid-apply, and the finish of the old apply must not overwrite it (the
    edit was lost until the next full rescan)."""
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert journal.transition(
        "/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="h:1:1", photo_id="7", desired_digest="A"
    )
    row = journal.claim_metadata("h:1:2", 60)
    assert row is not None and row.desired_digest == "A"
    assert journal.set_desired(row, "B", "sig-B")  # the edit arrives mid-apply
    assert journal.finish_metadata(row, "h:1:2", digest="A", meta_sig="sig-A", detail="done")
    done = journal.get("/r/a.mp4")
    assert done is not None
    assert (done.state, done.applied_digest, done.desired_digest, done.meta_sig) == (
        S.SYNCED, "A", "B", "sig-B",
    )  # fmt: skip
    again = journal.claim_metadata("h:1:3", 60)  # due again, for B
    assert again is not None and again.desired_digest == "B"
    assert journal.finish_metadata(again, "h:1:3", digest="B", meta_sig="sig-B", detail="done")
    assert journal.claim_metadata("h:1:4", 60) is None


def test_a_desire_read_before_an_apply_finished_is_recorded_after_it(journal: Journal) -> None:
    """The other order: the watch feed reads the row while its metadata is being applied
    (`uploaded`), the apply finishes (`synced`), then the feed records the edit it saw. The
    row is still the same file on the site, so the desire is recorded and due (it was
    refused for the state it no longer had, and the edit waited for the hourly rescan)."""
    add_ready(journal, "/r/a.mp4")
    assert journal.claim("h:1:1", 60) is not None
    assert journal.transition(
        "/r/a.mp4", S.UPLOADING, S.UPLOADED, owner="h:1:1", photo_id="7", desired_digest="A"
    )
    row = journal.claim_metadata("h:1:2", 60)
    assert row is not None
    seen_by_the_feed = journal.get("/r/a.mp4")
    assert seen_by_the_feed is not None and seen_by_the_feed.state is S.UPLOADED
    assert journal.finish_metadata(row, "h:1:2", digest="A", meta_sig="sig-A", detail="done")
    assert journal.set_desired(seen_by_the_feed, "B", "sig-B")
    done = journal.get("/r/a.mp4")
    assert done is not None
    assert (done.state, done.applied_digest, done.desired_digest, done.meta_sig) == (
        S.SYNCED, "A", "B", "sig-B",
    )  # fmt: skip
    again = journal.claim_metadata("h:1:3", 60)  # due, for B
    assert again is not None and again.desired_digest == "B"
