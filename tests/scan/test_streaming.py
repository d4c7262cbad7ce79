"""The streaming scan: the walk and the journal's rows merged in one byte order, batched
writes, nothing written for an unchanged tree, metadata signatures per folder."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest

from syncd.clock import FakeClock
from syncd.config import ScanConfig, parse_config
from syncd.journal import Journal
from syncd.local import scan as scan_module
from syncd.local.folder import Filter, walk
from syncd.local.report import ScanReport
from syncd.local.scan import ScanScope, scan, scan_scopes
from syncd.metadata.desired import folder_signer, metadata_signature
from syncd.model import ItemState as S
from syncd.model import Metadata
from syncd.pipeline.context import RunContext, RunOptions
from syncd.pipeline.lifecycle import Lifecycle
from syncd.progress import NullProgress
from syncd.retry import RetryPolicy

CFG = ScanConfig(stable_seconds=10.0)
OLD = 3600.0  # seconds: a file this old is stable at first sight


def write(path: Path, data: bytes, clock: FakeClock, *, age: float = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = clock.time() - age
    os.utime(path, (t, t))
    return path


def paths_in(journal: Journal, root: Path) -> set[str]:
    return set(journal.rows_under(str(root)))


def test_walk_yields_paths_in_the_journals_byte_order(root: Path, clock: FakeClock) -> None:
    """Names whose bytes sort around "/" ("a-b" < "a.mp4" < "a/" < "a0"), non-UTF-8 names
    and nested folders: the walk's order is the order of the paths' bytes."""
    names = [
        "a.mp4",
        "a-b.mp4",
        "a0.mp4",
        "a/b.mp4",
        "a/b/c.mp4",
        "a/b.mp4.d/x.mp4",
        "a b/z.mp4",
        "A.mp4",
        "zz/yy/xx.mp4",
        "é.mp4",
    ]
    for name in names:
        write(root / name, name.encode(), clock)
    odd = os.fsencode(root) + b"/caf\xe9.mp4"
    with open(odd, "wb") as fh:
        fh.write(b"odd")
    got = [e.path for e in walk(str(root), Filter(CFG), ScanReport(), follow_symlinks=False)]
    assert got == sorted([os.fsencode(root / n) for n in names] + [odd])


def test_every_kind_of_change_between_two_scans_is_found_exactly(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    """A tree changed in every way between two scans: the second scan finds exactly the
    new, changed, vanished and moved files, and leaves the rest alone."""
    unchanged = [write(root / f"keep/{i:02d}.mp4", b"keep%d" % i, clock) for i in range(20)]
    unchanged += [write(root / name, name.encode(), clock) for name in ("a.mp4", "a0.mp4")]
    change = write(root / "keep/change.mp4", b"before", clock)
    touch = write(root / "touch.mp4", b"touched", clock)
    gone = [write(root / "gone.mp4", b"gone", clock), write(root / "old/deep.mp4", b"d", clock)]
    renamed = write(root / "z-rename-me.mp4", b"renamed", clock)  # moves to a lower path
    renamed_up = write(root / "0-rename-me.mp4", b"renamed up", clock)  # to a higher path
    album = [write(root / f"album/{i}.mp4", b"album%d" % i, clock) for i in range(3)]
    copied = write(root / "copied.mp4", b"copied over", clock)  # copy + delete: new inode
    first = scan([root], journal, CFG, clock=clock)
    assert first.became_ready == first.seen == 32
    ids = {p: journal.get(str(p)).created_at for p in [renamed, renamed_up, copied, *album]}  # type: ignore[union-attr]

    # Every kind of change.
    write(change, b"after, longer", clock)
    t = clock.time() - 10 * OLD
    os.utime(touch, (t, t))
    for path in gone:
        path.unlink()
    (root / "old").rmdir()
    renamed.rename(root / "b-renamed.mp4")
    renamed_up.rename(root / "y-renamed.mp4")
    (root / "album").rename(root / "album-2019")
    shutil.copy2(copied, root / "keep/copied-here.mp4")
    copied.unlink()
    new = [write(root / "new.mp4", b"new", clock)]
    new += [write(root / f"fresh/{i}.mp4", b"fresh%d" % i, clock) for i in range(4)]
    new += [write(root / "a/inside.mp4", b"between a.mp4 and a0.mp4", clock)]

    second = scan([root], journal, CFG, clock=clock)
    # The copy is first seen as new, then found to be the vanished file by its content:
    # 6 new files and the copy; 5 renames found by inode and the copy by content.
    assert (second.new, second.changed, second.vanished, second.moved) == (7, 2, 2, 6)
    assert second.unchanged == len(unchanged)
    assert second.seen == len(unchanged) + 2 + 7 + 5
    on_disk = {str(p) for p in root.rglob("*.mp4")}
    assert paths_in(journal, root) == on_disk
    # The rows that followed their files are the same rows (created when first seen).
    assert journal.get(str(root / "b-renamed.mp4")).created_at == ids[renamed]  # type: ignore[union-attr]
    assert journal.get(str(root / "y-renamed.mp4")).created_at == ids[renamed_up]  # type: ignore[union-attr]
    for i, old in enumerate(album):
        assert journal.get(str(root / f"album-2019/{i}.mp4")).created_at == ids[old]  # type: ignore[union-attr]
    here = journal.get(str(root / "keep/copied-here.mp4"))
    assert here is not None and here.created_at == ids[copied] and here.state is S.READY
    assert all(journal.get(str(p)).state is S.READY for p in new)  # type: ignore[union-attr]
    assert journal.get(str(change)).sha256 == hashlib.sha256(b"after, longer").hexdigest()  # type: ignore[union-attr]

    third = scan([root], journal, CFG, clock=clock)
    assert (third.new, third.changed, third.vanished, third.moved) == (0, 0, 0, 0)
    assert third.unchanged == third.seen == len(on_disk)


def _snapshot(db: Path) -> dict[str, tuple[int, int, str]]:
    """Size, mtime and content hash of the journal file and its WAL."""
    found = {}
    for part in (db, db.with_name(db.name + "-wal")):
        if part.exists():
            st = part.stat()
            found[part.name] = (
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha256(part.read_bytes()).hexdigest(),
            )
    return found


def _probe_context(tmp_path: Path, journal: Journal, clock: FakeClock) -> RunContext:
    config, _ = parse_config(
        {
            "site": {
                "domain": "127.0.0.1:9",
                "scheme": "http",
                "consumer_key": "k",
                "consumer_secret": "s",
                "access_token": "t",
                "access_token_secret": "ts",
            },
            "journal": {"path": str(journal.path)},
        },
        source=tmp_path / "syncd.toml",
    )
    return RunContext(
        config,
        journal,
        clock=clock,
        progress=NullProgress(),
        policy=RetryPolicy(),
        lifecycle=Lifecycle(),
        options=RunOptions(),
    )


def test_a_rescan_of_an_unchanged_tree_writes_nothing(
    tmp_path: Path, root: Path, journal: Journal, clock: FakeClock
) -> None:
    """Neither the journal file nor its WAL changes (size, mtime, bytes) when nothing on
    disk did: not for ready rows, and not for synced ones whose metadata signatures are
    compared; a sidecar added later changes exactly its file's desired metadata."""
    for d in range(6):
        for i in range(60):
            write(root / f"d{d}/f{i:02d}.jpg", b"%d-%d" % (d, i), clock)
    write(root / "d1/.syncd.json", b'{"tags": ["folder"]}', clock)
    ctx = _probe_context(tmp_path, journal, clock)
    report = scan([root], journal, CFG, clock=clock, probe=ctx.probe())
    assert report.became_ready == 360
    db = journal.path
    before = _snapshot(db)
    again = scan([root], journal, CFG, clock=clock, probe=ctx.probe())
    assert (again.unchanged, again.new, again.changed) == (360, 0, 0)
    assert _snapshot(db) == before

    # Synced rows, with the signature a worker records: still nothing to write.
    for path in list(journal.rows_under(str(root))):
        row = journal.get(path)
        assert row is not None
        assert journal.transition(path, S.READY, S.UPLOADING)
        assert journal.transition(
            path, S.UPLOADING, S.SYNCED, photo_id="p", meta_sig=ctx.signature(row)
        )
    before = _snapshot(db)
    again = scan([root], journal, CFG, clock=clock, probe=ctx.probe())
    assert (again.unchanged, again.metadata_changed) == (360, 0)
    assert _snapshot(db) == before

    write(root / "d4/f07.jpg.json", b'{"title": "seven"}', clock)
    later = scan([root], journal, CFG, clock=clock, probe=ctx.probe())
    assert later.metadata_changed == 1
    assert journal.get(str(root / "d4/f07.jpg")).desired_digest is not None  # type: ignore[union-attr]


def test_writes_go_in_batches_not_a_commit_per_file(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    for i in range(700):
        write(root / f"d{i // 100}/f{i:03d}.mp4", b"%d" % i, clock)
    begins: list[str] = []
    journal._conn.set_trace_callback(  # the journal's own connection: every statement
        lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None
    )
    report = scan([root], journal, CFG, clock=clock)
    journal._conn.set_trace_callback(None)
    assert report.became_ready == 700
    # 700 files in batches of 256 (one transaction each, a commit now and then while
    # hashing), not 700 or 1400 transactions.
    assert 3 <= len(begins) < 100, len(begins)


def test_a_scope_of_one_folder_looks_at_its_own_files_only(
    root: Path, journal: Journal, clock: FakeClock
) -> None:
    own = [write(root / f"f/{n}.mp4", n.encode(), clock) for n in ("a", "b-c", "z")]
    below = [write(root / f"f/{n}/x.mp4", n.encode(), clock) for n in ("b", "sub", "y")]
    scan([root], journal, CFG, clock=clock)
    for path in [own[1], below[1]]:
        path.unlink()
    report = scan_scopes(
        [ScanScope(str(root / "f"), str(root), recursive=False)], journal, CFG, clock=clock
    )
    assert (report.seen, report.vanished) == (2, 1)
    assert journal.get(str(below[1])) is not None  # a sub-folder's row: not looked at
    rows = list(journal.scan_rows(str(root / "f"), recursive=False))
    assert [os.fsdecode(r[0]) for r in rows] == [str(own[0]), str(own[2])]


def test_folder_signer_signs_as_metadata_signature_does(tmp_path: Path) -> None:
    """The per-folder signer gives exactly the signature workers record, with folder
    defaults at several levels, per-file sidecars present or not, and a dangling link."""
    root = tmp_path / "root"
    folder = root / "a" / "b"
    folder.mkdir(parents=True)
    (root / ".syncd.json").write_text("{}")
    (root / "a" / ".syncd.yaml").write_text("tags: [x]\n")
    for name in ("one.mp4", "two.mp4", "three.mp4"):
        (folder / name).write_bytes(b"x")
    (folder / "one.mp4.json").write_text("{}")
    (folder / "two.xmp").write_text("<x/>")
    os.symlink(folder / "nowhere", folder / "three.mp4.yaml")
    base = Metadata(tags=("t",), albums=("A",))
    sign = folder_signer(folder, root, base)
    listed = folder_signer(folder, root, base, names=["one.mp4.json", "two.xmp", "three.mp4.yaml"])
    for name in ("one.mp4", "two.mp4", "three.mp4", "four.mp4"):
        expected = metadata_signature(folder / name, root, base)
        assert sign(name) == listed(name) == expected, name
    # With only folder defaults listed, per-file candidates are not looked up at all.
    (folder / "one.mp4.json").unlink()
    (folder / "two.xmp").unlink()
    (folder / "three.mp4.yaml").unlink()
    quick = folder_signer(folder, root, base, names=[])
    assert quick("one.mp4") == metadata_signature(folder / "one.mp4", root, base)


def test_memory_per_file_is_not_kept_across_folders(
    root: Path, journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge holds one batch at a time: the biggest batch it ever flushed is bounded
    by BATCH_FILES, whatever the tree's size."""
    monkeypatch.setattr(scan_module, "BATCH_FILES", 16)
    sizes: list[int] = []
    real = scan_module._Scan._flush_once

    def flush_once(self: scan_module._Scan) -> None:
        sizes.append(self.batch.size)
        real(self)

    monkeypatch.setattr(scan_module._Scan, "_flush_once", flush_once)
    rng = random.Random(7)
    for i in range(300):
        write(root / f"d{rng.randrange(20)}/f{i}.mp4", b"%d" % i, clock)
    report = scan([root], journal, CFG, clock=clock)
    assert report.became_ready == 300
    assert sizes and max(sizes) <= 16 and sum(sizes) == 300
