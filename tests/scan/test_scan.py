"""Scanner over real trees, a real journal file and a FakeClock."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.config import ScanConfig
from syncd.journal import Journal
from syncd.local.scan import ScanReport, scan, sha256_file
from syncd.model import ItemState as S
from syncd.model import LocalFile

CFG = ScanConfig(stable_seconds=10.0)
OLD = 3600.0  # seconds: a file this old is stable at first sight


class CountingHash:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: str) -> str:
        self.calls.append(path)
        return sha256_file(path)


def write(path: Path, data: bytes, clock: FakeClock, *, age: float | None = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age is not None:
        t = clock.time() - age
        os.utime(path, (t, t))
    return path


def run(
    root: Path, journal: Journal, clock: FakeClock, cfg: ScanConfig = CFG, **kw: object
) -> ScanReport:
    return scan([root], journal, cfg, clock=clock, **kw)  # type: ignore[arg-type]


def state(journal: Journal, path: Path) -> S | None:
    row = journal.get(str(path))
    return None if row is None else row.state


def test_old_files_become_ready_with_their_sha(root: Path, journal: Journal, clock: FakeClock):
    f = write(root / "a" / "clip.MP4", b"video", clock)
    report = run(root, journal, clock)
    assert (report.seen, report.new, report.became_ready, report.problems) == (1, 1, 1, [])
    row = journal.get(str(f))
    assert row is not None
    assert (row.state, row.sha256, row.root) == (
        S.READY,
        hashlib.sha256(b"video").hexdigest(),
        str(root),
    )


def test_filters_hidden_temp_and_globs(root: Path, journal: Journal, clock: FakeClock) -> None:
    keep = [root / "a.mov", root / "sub" / "b.JPG", root / "sub" / "c.flac"]
    drop = [
        root / "notes.txt",
        root / ".hidden.mp4",
        root / ".cache" / "d.mp4",
        root / "e.mp4.part",
        root / "f.mp4.crdownload",
        root / "g.tmp",
        root / "h.mp4~",
        root / ".DS_Store",
        root / "Thumbs.db",
        root / "@eaDir" / "i.jpg",
        root / "#recycle" / "j.mp4",
    ]
    for p in keep + drop:
        write(p, p.name.encode(), clock)
    report = run(root, journal, clock)
    assert sorted(journal.rows_under(str(root))) == sorted(map(str, keep))
    assert report.seen == 3 and report.skipped_filter >= 5

    # include replaces the extension list; exclude matches name or relative path
    cfg = ScanConfig(stable_seconds=10.0, include=("*.txt", "sub/*"), exclude=("*.flac",))
    other = Journal.open(root.parent / "other.db", clock=clock)
    run(root, other, clock, cfg)
    assert sorted(other.rows_under(str(root))) == sorted(
        [str(root / "notes.txt"), str(root / "sub" / "b.JPG")]
    )
    other.close()


def test_symlinks_not_followed_by_default(root: Path, journal: Journal, clock: FakeClock) -> None:
    outside = root.parent / "outside"
    write(outside / "o.mp4", b"o", clock)
    write(root / "real.mp4", b"r", clock)
    (root / "link.mp4").symlink_to(root / "real.mp4")
    (root / "linkdir").symlink_to(outside)
    report = run(root, journal, clock)
    assert list(journal.rows_under(str(root))) == [str(root / "real.mp4")]
    assert report.symlinks_skipped == 2


def test_follow_symlinks_with_loop_and_dangling_link(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    outside = root.parent / "outside"
    write(outside / "o.mp4", b"o", clock)
    write(root / "sub" / "z.mp4", b"z", clock)
    (root / "linkdir").symlink_to(outside)
    (root / "sub" / "loop").symlink_to(root)  # loops back to the root
    (root / "dangling.mp4").symlink_to(root / "nowhere.mp4")
    cfg = ScanConfig(stable_seconds=10.0, follow_symlinks=True)
    report = run(root, journal, clock, cfg)
    assert sorted(journal.rows_under(str(root))) == sorted(
        [str(root / "linkdir" / "o.mp4"), str(root / "sub" / "z.mp4")]
    )
    problems = {p.path: p.message for p in report.problems}
    assert "dangling symlink" in problems[str(root / "dangling.mp4")]
    # A symlink loop is not media: named as skipped, not a problem (a push exits 0).
    skipped = {p.path: p.message for p in report.skipped}
    assert "symlink loop" in skipped[str(root / "sub" / "loop")]
    assert str(root / "sub" / "loop") not in problems


def test_fifo_is_skipped_never_opened(root: Path, journal: Journal, clock: FakeClock) -> None:
    os.mkfifo(root / "pipe.mp4")
    write(root / "ok.mp4", b"ok", clock)
    report = run(root, journal, clock)
    assert [(p.path, "regular" in p.message) for p in report.skipped] == [
        (str(root / "pipe.mp4"), True)
    ]
    assert report.problems == []
    assert state(journal, root / "ok.mp4") is S.READY


def test_sha256_file_refuses_a_fifo(root: Path) -> None:
    os.mkfifo(root / "pipe.mp4")
    with pytest.raises(OSError, match="not a regular file"):
        sha256_file(str(root / "pipe.mp4"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_unreadable_dir_and_file_with_chmod(root: Path, journal: Journal, clock: FakeClock):
    write(root / "locked" / "x.mp4", b"x", clock)
    secret = write(root / "secret.mp4", b"s", clock)
    write(root / "ok.mp4", b"ok", clock)
    (root / "locked").chmod(0)
    secret.chmod(0)
    try:
        report = run(root, journal, clock)
    finally:
        (root / "locked").chmod(0o755)
        secret.chmod(0o644)
    paths = {p.path for p in report.problems}
    assert {str(root / "locked"), str(secret)} <= paths
    assert state(journal, secret) is S.FAILED
    assert state(journal, root / "ok.mp4") is S.READY


def test_unreadable_file_is_failed_and_walk_goes_on(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    """Root-proof: the read itself fails (EACCES from the hash), as on a broken disk."""
    bad = write(root / "a_bad.mp4", b"bad", clock)
    write(root / "b_ok.mp4", b"ok", clock)

    def hash_file(path: str) -> str:
        if path == str(bad):
            raise PermissionError(13, "Permission denied", path)
        return sha256_file(path)

    report = run(root, journal, clock, hash_file=hash_file)
    assert [p.path for p in report.problems] == [str(bad)]
    assert "unreadable" in report.problems[0].message
    row = journal.get(str(bad))
    assert row is not None and (row.state, row.error_code) == (S.FAILED, "unreadable")
    assert state(journal, root / "b_ok.mp4") is S.READY
    assert report.failed == 1


def test_directory_replaced_by_a_file_between_scans(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    write(root / "a.mp4", b"a", clock)
    write(root / "d" / "x.mp4", b"x", clock)
    run(root, journal, clock)
    assert state(journal, root / "d" / "x.mp4") is S.READY
    shutil.rmtree(root / "d")
    write(root / "d", b"not a dir any more", clock)
    report = run(root, journal, clock)
    assert state(journal, root / "d" / "x.mp4") is None  # only ready: gone with its dir
    assert (report.vanished, report.problems) == (1, [])


def make_too_deep_dir(root: Path) -> Path:
    """A directory whose path exceeds PATH_MAX: unreadable by path even for root."""
    fd = os.open(root, os.O_RDONLY)
    path = root
    try:
        for _ in range(18):  # 18 x 250 characters > 4096
            name = "n" * 250
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
            path = path / name
    finally:
        os.close(fd)
    return path


def test_unexaminable_directory_is_reported_and_its_rows_kept(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    """Root-proof: a path past PATH_MAX cannot be stat'ed or listed, whoever you are."""
    deep = make_too_deep_dir(root)
    write(root / "ok.mp4", b"ok", clock)
    known = str(deep / "x.mp4")  # recorded by an earlier scan, say with a shorter root
    journal.observe_batch([LocalFile(known, 1, 1, 1)], str(root))
    report = run(root, journal, clock)
    assert report.problems, "the too-long path must be reported"
    assert all("File name too long" in p.message for p in report.problems)
    assert state(journal, Path(known)) is S.PENDING  # not vanished: we could not look
    assert state(journal, root / "ok.mp4") is S.READY


def test_stability_waits_for_stable_seconds(root: Path, journal: Journal, clock: FakeClock) -> None:
    f = write(root / "fresh.mp4", b"1", clock, age=0)
    report = run(root, journal, clock)
    assert state(journal, f) is S.PENDING
    assert report.still_pending == 1
    assert report.pending_until == pytest.approx(clock.time() + 10, abs=0.01)

    clock.advance(6)
    assert run(root, journal, clock).became_ready == 0
    # it grows: the stability clock restarts from this observation
    f.write_bytes(b"12")
    t = clock.time()
    os.utime(f, (t, t))
    report = run(root, journal, clock)
    assert report.changed == 1 and state(journal, f) is S.PENDING
    clock.advance(6)
    assert run(root, journal, clock).became_ready == 0
    clock.advance(5)
    report = run(root, journal, clock)
    assert report.became_ready == 1 and report.pending_until is None
    assert journal.get(str(f)).size == 2  # type: ignore[union-attr]


def test_mtime_in_future_waits_on_stable_since(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    f = write(root / "future.mp4", b"1", clock, age=-1000)  # clock skew on a NAS
    run(root, journal, clock)
    clock.advance(11)
    run(root, journal, clock)
    assert state(journal, f) is S.READY


def test_min_age_and_no_wait(root: Path, journal: Journal, clock: FakeClock) -> None:
    f = write(root / "a.mp4", b"1", clock, age=20)
    cfg = ScanConfig(stable_seconds=10.0, min_age=60.0)
    report = run(root, journal, clock, cfg)
    assert state(journal, f) is S.PENDING
    assert report.pending_until == pytest.approx(clock.time() + 40, abs=0.01)
    g = write(root / "b.mp4", b"2", clock, age=0)
    run(root, journal, clock, cfg, no_wait=True)
    assert state(journal, f) is S.READY and state(journal, g) is S.READY


def test_unchanged_files_are_never_hashed_again(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    for i in range(5):
        write(root / f"{i}.mp4", bytes([i]) * 10, clock)
    counting = CountingHash()
    run(root, journal, clock, hash_file=counting)
    assert len(counting.calls) == 5
    report = run(root, journal, clock, hash_file=counting)
    assert len(counting.calls) == 5 and report.unchanged == 5
    write(root / "3.mp4", b"changed", clock, age=OLD - 1)
    report = run(root, journal, clock, hash_file=counting)
    assert counting.calls[5:] == [str(root / "3.mp4")] and report.changed == 1


def test_file_changing_while_hashed_stays_pending(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    f = write(root / "a.mp4", b"start", clock)

    def hash_file(path: str) -> str:
        digest = sha256_file(path)
        with open(path, "ab") as fh:  # a writer appends while we read
            fh.write(b"more")
        return digest

    report = run(root, journal, clock, hash_file=hash_file)
    assert state(journal, f) is S.PENDING and report.became_ready == 0
    assert report.pending_until is not None


def test_duplicates_skip_and_upload(root: Path, journal: Journal, clock: FakeClock) -> None:
    a = write(root / "a.mp4", b"same", clock)
    b = write(root / "b.mp4", b"same", clock)
    report = run(root, journal, clock)
    assert (report.became_ready, report.duplicates) == (1, 1)
    row = journal.get(str(b))
    assert row is not None
    assert (row.state, row.duplicate_of) == (S.SKIPPED, str(a))

    other = Journal.open(root.parent / "other.db", clock=clock)
    cfg = ScanConfig(stable_seconds=10.0, duplicates="upload")
    report = run(root, other, clock, cfg)
    assert (report.became_ready, report.duplicates) == (2, 0)
    other.close()


def test_zero_byte_file_is_skipped_until_it_grows(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    f = write(root / "empty.mp4", b"", clock)
    report = run(root, journal, clock)
    row = journal.get(str(f))
    assert row is not None and row.state is S.SKIPPED and row.error_message == "empty file"
    assert report.empty == 1
    write(f, b"now with content", clock, age=OLD - 5)
    run(root, journal, clock)
    assert state(journal, f) is S.READY


def test_non_utf8_file_name(root: Path, journal: Journal, clock: FakeClock) -> None:
    raw = os.fsencode(root) + b"/caf\xe9.mp4"
    with open(raw, "wb") as fh:
        fh.write(b"bytes")
    t = clock.time() - OLD
    os.utime(raw, (t, t))
    os.mkfifo(os.fsencode(root) + b"/p\xff.mp4")
    report = run(root, journal, clock)
    name = os.fsdecode(raw)
    assert state(journal, Path(name)) is S.READY
    assert report.skipped[0].path.endswith("p\\xff.mp4")
    report.skipped[0].path.encode("utf-8")  # printable: no surrogates left
    run(root, journal, clock)  # rescan: still the same row
    assert len(journal.rows_under(str(root))) == 1


def test_vanished_files(root: Path, journal: Journal, clock: FakeClock) -> None:
    pending = write(root / "p.mp4", b"p", clock, age=0)
    ready = write(root / "r.mp4", b"r", clock)
    synced = write(root / "s.mp4", b"s", clock)
    run(root, journal, clock)
    row = journal.claim("h:1:1", 60)
    assert row is not None
    claimed = Path(row.path)
    assert journal.transition(str(claimed), S.UPLOADING, S.SYNCED, photo_id="1")
    # whichever of r/s got claimed is now synced; the other stays ready
    assert {claimed, *(p for p in (ready, synced) if p != claimed)} == {ready, synced}
    for p in (pending, ready, synced):
        p.unlink()
    report = run(root, journal, clock)
    assert report.vanished == 2
    assert sorted(journal.rows_under(str(root))) == [str(claimed)]
    assert journal.events(str(pending))[-1].to_state is None


def test_missing_root_is_a_problem_not_a_mass_vanish(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    write(root / "a.mp4", b"a", clock)
    run(root, journal, clock)
    moved = root.parent / "unmounted"
    root.rename(moved)
    report = run(root, journal, clock)
    assert "not a directory" in report.problems[0].message
    assert state(journal, root / "a.mp4") is S.READY


def test_rescan_of_5000_files_writes_nothing(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    t = clock.time() - OLD
    for d in range(50):
        sub = root / f"d{d:02d}"
        sub.mkdir()
        for i in range(100):
            p = sub / f"f{i:03d}.jpg"
            p.write_bytes(b"%d-%d" % (d, i))
            os.utime(p, (t, t))
    report = run(root, journal, clock)
    assert (report.seen, report.became_ready) == (5000, 5000)
    events, changes = journal.event_count(), journal.total_changes()
    counting = CountingHash()
    report = run(root, journal, clock, hash_file=counting)
    assert (report.seen, report.unchanged, report.new, report.changed) == (5000, 5000, 0, 0)
    assert counting.calls == []
    assert journal.event_count() == events
    assert journal.total_changes() == changes


def test_on_ready_hears_of_each_ready_file_as_it_is_promoted(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    """The caller learns of a ready file while the scan goes on (uploads can start), and
    only of ready ones: not duplicates, empty files or files still settling."""
    a = write(root / "a.mp4", b"first", clock)
    write(root / "b-copy.mp4", b"first", clock)  # duplicate of a.mp4
    write(root / "c-empty.mp4", b"", clock)
    write(root / "d-fresh.mp4", b"settling", clock, age=1.0)
    e = write(root / "e.mp4", b"fifth!", clock)
    heard: list[tuple[str, int, S | None]] = []

    def on_ready(path: str, size: int) -> None:
        # Called after the promotion is committed: a worker can claim the row at once.
        heard.append((path, size, state(journal, Path(path))))

    run(root, journal, clock, on_ready=on_ready)
    assert heard == [(str(a), 5, S.READY), (str(e), 6, S.READY)]


def test_should_stop_ends_the_scan_between_files(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    """A stopping run does not hash the rest of the tree; what it did not reach stays
    pending for the next scan, and nothing is taken for vanished."""
    files = [write(root / f"clip{i}.mp4", b"x%d" % i, clock) for i in range(5)]
    hashed = CountingHash()
    report = run(root, journal, clock, hash_file=hashed, should_stop=lambda: len(hashed.calls) >= 2)
    assert hashed.calls == [str(files[0]), str(files[1])]
    assert [state(journal, f) for f in files] == [S.READY, S.READY] + [S.PENDING] * 3
    assert report.became_ready == 2 and report.vanished == 0
    again = run(root, journal, clock, hash_file=hashed)
    assert again.became_ready == 3
    assert all(state(journal, f) is S.READY for f in files)


def test_should_stop_before_the_walk_scans_nothing(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    write(root / "clip.mp4", b"x", clock)
    report = run(root, journal, clock, should_stop=lambda: True)
    assert report.seen == 0 and journal.get(str(root / "clip.mp4")) is None
