"""Walk trees, filter, wait for stability, hash, and record it all in the journal.

A scan streams. For each root, the walk (syncd.local.folder: files in the byte order of
their paths) and the journal's rows under the root (`scan_rows`: the same order, read a
page at a time) are merged like two sorted lists, as b2sdk's zip_folders pairs a local and
a remote listing:
- a file and its row with the same version (size, mtime_ns, inode) cost the stat and a
  comparison: no hash, no write, no object kept once the merge has passed it;
- a file without a row is new; a row without a file is missing; a file whose version
  differs from its row's is changed. What each means is decided by plan/local.py;
- what needs writing goes into a batch that is recorded in one transaction (BATCH_FILES
  files, or READY_DELAY of hashing), each state change in it still a compare-and-set.

A batch, when full:
1. new files whose inode, size and mtime match a row whose path is gone are that file,
   renamed: its row follows it (`moved`, no upload);
2. pending files that are stable get hashed (outside any transaction);
3. one transaction records the moves, the new and changed files (`pending`), and what
   each hash means: `ready`, `synced` (the remote item already holds these bytes),
   `skipped` as a duplicate or an empty file, or the row of a vanished path with the
   same content follows the file (`moved`); then `on_ready` hears of each ready file, so
   a caller can upload while the scan goes on;
4. for files on the site, the signature of what their metadata is made of (sidecars,
   folder defaults, the config's layer, the name) was compared with the journal's during
   the merge; where it changed, the desired metadata is worked out again (the metadata
   stage then updates the item), and a file that failed on a broken sidecar is queued
   again.
Rows whose file is gone, and that never reached the site, are removed (`mark_vanished`)
once the whole root is merged, so that a file renamed to a later path is found as moved
first. Memory: one folder's listing per level of the walk, one batch, one page of rows,
and the paths of the rows that vanish.

Decisions worth knowing:
- Stable = `now - mtime >= stable_seconds` (writers bump mtime, so an old
  file is not being written) or size+mtime unchanged since `stable_since`
  for `stable_seconds`; and `now - mtime >= min_age`. `no_wait` skips both.
- Zero-byte files are `skipped` ("empty file"): the platform rejects them.
  If one grows later, the next scan sees the change and re-examines it.
- An unreadable file (hashing fails with a permission or I/O error) is
  recorded `failed` with error_code "unreadable" and reported; `syncd retry`
  re-queues it once fixed. A file that vanishes mid-scan is just dropped.
- A directory that cannot be listed (or an entry that cannot be stat'ed) is
  reported, and rows under it are not treated as vanished (we do not know).
- Non-regular files (FIFOs, sockets, devices) and symlink loops are not media: they are
  named once per run as skipped (not a failure) and never opened.
- Metadata files (sidecars, folder defaults) are never media, whatever the filters say.

`scan()` walks whole roots (push, and watch's start-up scan and periodic rescans);
`scan_scopes()` looks at parts of trees the same way (watch's file events: a folder's
own files, or a folder that appeared as a whole).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from syncd.clock import Clock
from syncd.config import ScanConfig
from syncd.errors import SidecarError
from syncd.journal import Journal
from syncd.journal.queries import ScanRow
from syncd.local.folder import (
    AUDIO_EXTENSIONS,
    DEFAULT_EXTENSIONS,
    IMAGE_EXTENSIONS,
    SEP,
    VIDEO_EXTENSIONS,
    Entry,
    Filter,
    Folder,
    SourceNames,
    Unknown,
    walk,
)
from syncd.local.hashing import (
    HASH_BLOCK_SIZE,
    HashFile,
    NotRegularFile,
    ScanStopped,
    ShouldStop,
    sha256_file,
)
from syncd.local.report import ScanProblem, ScanReport
from syncd.model import BAD_SIDECAR, FileRow, FileVersion, ItemState, LocalFile
from syncd.plan.local import LocalAction, plan_hashed, plan_missing, plan_seen

# Files recorded per transaction: a commit costs a WAL write of the pages it touched, so
# hundreds of files share one; small enough that other writers wait a few milliseconds.
BATCH_FILES = 256
# Bytes a batch hashes at most before it is recorded.
BATCH_BYTES = 64 * 1024 * 1024
# A batch whose hashing takes longer than this (big files, a slow disk) does not hold
# back the files it has hashed: they are recorded, and can be uploaded, meanwhile.
READY_DELAY = 0.1
# What a hash job found.
_HASHED, _CHANGING, _VANISHED, _UNREADABLE, _STOPPED = (
    "hashed",
    "changing",
    "vanished",
    "unreadable",
    "stopped",
)
# Progress is told after this many files (a power of two: a mask, not a division).
PROGRESS_EVERY = 1024

# Told about each file the moment it becomes `ready` (path, size), so uploads can start
# while the scan goes on.
OnReady = Callable[[str, int], None]

# The version of a metadata source (None: absent); see syncd.metadata.desired.
SourceVersion = tuple[int, ...] | None
SourceLookup = Callable[[Path], SourceVersion]
# Error codes of files that failed on their metadata sources (the older name included).
SIDECAR_FAILURES = frozenset({BAD_SIDECAR, "sidecar"})
# States whose metadata sources are compared with the journal's signature.
ON_SITE = frozenset({str(ItemState.SYNCED), str(ItemState.UPLOADED)})
_PENDING = str(ItemState.PENDING)
_FAILED = str(ItemState.FAILED)


class MetadataProbe(SourceNames, Protocol):
    """What the scan needs to know about metadata, supplied by the pipeline (the scan does
    not read sidecars itself): which names are metadata sources, the signature of a file's
    sources, and its desired-metadata digest."""

    def source_version(self, path: Path) -> SourceVersion: ...

    def root_of(self, path: str, scan_root: str) -> str:
        """The root the file's metadata layers start from (its deepest [[watch]] root)."""
        ...

    def signature(
        self, path: str, root: str, lookup: SourceLookup, previous: str | None = None
    ) -> str:
        """`previous`: the file's last signature (it names the thumbnail image to cover)."""
        ...

    def signer(
        self, folder: str, scan_root: str, lookup: SourceLookup, names: Collection[str] | None
    ) -> Callable[[str, str | None], str]:
        """`signature` for the files of one folder, `sign(name, previous)`, with what they
        share worked out once; `names` are the metadata sources listed in the folder (None:
        not listed)."""
        ...

    def digest(self, path: str, root: str) -> str:
        """The desired metadata's digest; raises SidecarError."""
        ...


class ScanProgress(Protocol):
    """Told how far a scan is, every PROGRESS_EVERY files and after each batch."""

    def scanned(self, files: int, hashed_bytes: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ScanScope:
    """A part of a tree to look at: the folder `path` under the watch `root` it belongs to
    (the filters and the metadata layers start there); only the folder's own entries
    unless `recursive`. A whole root is ScanScope(root, root)."""

    path: str
    root: str
    recursive: bool = True


def scan(
    roots: Sequence[Path],
    journal: Journal,
    cfg: ScanConfig,
    *,
    clock: Clock,
    no_wait: bool = False,
    hash_file: HashFile = sha256_file,
    on_ready: OnReady | None = None,
    should_stop: ShouldStop | None = None,
    probe: MetadataProbe | None = None,
    progress: ScanProgress | None = None,
) -> ScanReport:
    """Scan every root once; see the module docstring. Never raises for one bad file.
    Stopped early by `should_stop`, the files not looked at yet stay as they were. Without
    a `probe`, metadata sources are not looked at (and rows are rooted at the scan root)."""
    scopes = []
    for root_path in roots:
        root = os.path.abspath(os.fsdecode(root_path))
        scopes.append(ScanScope(root, root))
    return scan_scopes(
        scopes,
        journal,
        cfg,
        clock=clock,
        no_wait=no_wait,
        hash_file=hash_file,
        on_ready=on_ready,
        should_stop=should_stop,
        probe=probe,
        progress=progress,
    )


def scan_scopes(
    scopes: Sequence[ScanScope],
    journal: Journal,
    cfg: ScanConfig,
    *,
    clock: Clock,
    no_wait: bool = False,
    hash_file: HashFile = sha256_file,
    on_ready: OnReady | None = None,
    should_stop: ShouldStop | None = None,
    probe: MetadataProbe | None = None,
    progress: ScanProgress | None = None,
) -> ScanReport:
    """scan() over parts of trees: what a file-system event touched (its folder), or a
    folder that appeared (recursively). See ScanScope."""
    report = ScanReport()
    hooks = _hooks(hash_file, on_ready, should_stop, probe, progress)
    filt = Filter(cfg)
    for scope in scopes:
        if hooks.should_stop():
            break
        run = _Scan(scope.root, journal, cfg, report, clock=clock, no_wait=no_wait, hooks=hooks)
        try:
            if not os.path.isdir(scope.path):
                _scope_gone(scope, run, journal)
                continue
            rel_base = _rel_base(scope, filt)
            if rel_base is None:
                continue  # inside a hidden, junk or excluded folder: never looked at
            local = walk(
                scope.path,
                run.filt,
                report,
                follow_symlinks=cfg.follow_symlinks,
                sources=probe,
                rel=rel_base,
                recursive=scope.recursive,
            )
            run.merge(local, journal.scan_rows(scope.path, recursive=scope.recursive))
            run.finish()
        except OSError as exc:
            report.problem(scope.path, f"cannot scan root: {exc.strerror or exc}")
        finally:
            run.close()
    hooks.tell(report)
    return report


def _rel_base(scope: ScanScope, filt: Filter) -> str | None:
    """The scope's folder relative to its root, as the filters see it ("" or "a/b/"); None
    when a folder on the way is one a walk from the root would skip."""
    rel = os.path.relpath(scope.path, scope.root)
    if rel == ".":
        return ""
    base = ""
    for name in rel.split(os.sep):
        if name == ".." or filt.skip_dir(name, base + name):
            return None
        base += name + "/"
    return base


def _scope_gone(scope: ScanScope, run: _Scan, journal: Journal) -> None:
    """A root that is not a folder is a problem (unmounted?) and nothing under it is known
    to be gone. A folder below a root that is gone while its parent is there was deleted
    (or moved away): its rows go as vanished files do."""
    if scope.path == scope.root or not os.path.isdir(os.path.dirname(scope.path)):
        run.report.problem(scope.path, "root is not a directory (missing or unmounted?)")
        return
    if os.path.lexists(scope.path):
        return  # not a folder any more, but something is there: the parent's scan decides
    run.merge(iter([]), journal.scan_rows(scope.path))
    run.finish()


@dataclass(frozen=True, slots=True)
class _Hooks:
    """What the caller plugs into a scan: how to hash, whom to tell, when to stop, and
    what it knows about metadata."""

    hash_file: HashFile
    on_ready: OnReady
    should_stop: ShouldStop
    probe: MetadataProbe | None
    progress: ScanProgress | None

    def tell(self, report: ScanReport) -> None:
        if self.progress is not None:
            self.progress.scanned(report.seen, report.hashed_bytes)


def _hooks(
    hash_file: HashFile,
    on_ready: OnReady | None,
    should_stop: ShouldStop | None,
    probe: MetadataProbe | None,
    progress: ScanProgress | None,
) -> _Hooks:
    if hash_file is sha256_file and should_stop is not None:
        hash_file = functools.partial(sha256_file, should_stop=should_stop)
    return _Hooks(hash_file, on_ready or _ignore_ready, should_stop or _never, probe, progress)


def _ignore_ready(path: str, size: int) -> None:
    pass


def _never() -> bool:
    return False


def _gone(path: str) -> bool:
    return not os.path.lexists(path)


@dataclass(slots=True)
class _Batch:
    """What the merge found to record, waiting for the next commit."""

    new: list[tuple[LocalFile, Folder]] = field(default_factory=list)
    changed: list[LocalFile] = field(default_factory=list)
    # Pending rows to look at again: (file, stable_since; None: since now).
    settle: list[tuple[LocalFile, float | None]] = field(default_factory=list)
    # Files on the site whose metadata sources' signature changed: (path, signature).
    sources: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0  # files in it
    nbytes: int = 0  # bytes it may hash

    def full(self) -> bool:
        return self.size >= BATCH_FILES or self.nbytes >= BATCH_BYTES


@dataclass(slots=True)
class _Commit:
    """One transaction's worth of writes, prepared outside it."""

    moves: list[tuple[str, LocalFile, Folder]] = field(default_factory=list)
    observe: list[LocalFile] = field(default_factory=list)
    hashed: list[tuple[LocalFile, str]] = field(default_factory=list)
    zero_bytes: list[LocalFile] = field(default_factory=list)
    vanished: list[LocalFile] = field(default_factory=list)
    unreadable: list[tuple[LocalFile, str]] = field(default_factory=list)
    # (row, signature, digest or None, problem or None); digest and problem both None:
    # a file that failed on its sidecar, queued again.
    sources: list[tuple[FileRow, str, str | None, str | None]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.moves
            or self.observe
            or self.hashed
            or self.zero_bytes
            or self.vanished
            or self.unreadable
            or self.sources
        )


class _Scan:
    """The merge of walks with the journal's rows under one root, and its batches."""

    def __init__(
        self,
        root: str,
        journal: Journal,
        cfg: ScanConfig,
        report: ScanReport,
        *,
        clock: Clock,
        no_wait: bool,
        hooks: _Hooks,
    ) -> None:
        self.root = root
        self.journal = journal
        self.cfg = cfg
        self.filt = Filter(cfg)
        self.report = report
        self.clock = clock
        self.no_wait = no_wait
        self.hooks = hooks
        self.batch = _Batch()
        self.unknown: list[bytes] = []  # nothing is known at or under these (raw) paths
        self.vanish: list[bytes] = []  # rows whose files are gone, removed at the end
        self.stopped = False
        self._signer: tuple[Folder | None, Callable[[str, str | None], str] | None] = (None, None)
        self._root_of: tuple[str, str] = ("", "")  # (folder, the root of its files)
        self._disk: dict[Path, SourceVersion] = {}  # sources of folders not listed
        self._pool: ThreadPoolExecutor | None = None  # the hashing thread, when needed

    # --- the merge ------------------------------------------------------------------------

    def merge(self, local: Iterator[Entry | Unknown], rows: Iterator[ScanRow]) -> None:
        """Pair the walk's files with the journal's rows; both come in path byte order."""
        report = self.report
        item = next(local, None)
        row = next(rows, None)
        while item is not None or row is not None:
            if isinstance(item, Unknown):
                self.unknown.append(item.path)
                item = next(local, None)
                continue
            if row is None or (item is not None and item.path < row[0]):
                assert item is not None
                report.seen += 1
                self._new(item)
                item = next(local, None)
            elif item is None or row[0] < item.path:
                self._missing(row)
                row = next(rows, None)
                continue
            else:
                report.seen += 1
                _, size, mtime_ns, inode, state, _, meta_sig, error_code, since = row
                if size == item.size and mtime_ns == item.mtime_ns and inode == item.inode:
                    # plan_seen's "unchanged" (or "settling", when still pending): the same
                    # version, seen without building the row.
                    report.unchanged += 1
                    if state == _PENDING:
                        self._settle(item, since)
                    elif state in ON_SITE or (state == _FAILED and error_code in SIDECAR_FAILURES):
                        self._compare_sources(item, meta_sig)
                else:
                    self._differs(item)
                item = next(local, None)
                row = next(rows, None)
            if report.seen & (PROGRESS_EVERY - 1) == 0:
                self.hooks.tell(report)
                if self.hooks.should_stop():
                    self.stopped = True
            if self.stopped or self.batch.full():
                self.flush()
                if self.stopped:
                    return
        self.flush()

    def _new(self, item: Entry) -> None:
        batch = self.batch
        batch.new.append((_local(item), item.folder))
        batch.size += 1
        batch.nbytes += item.size

    def _settle(self, item: Entry, since: float | None) -> None:
        batch = self.batch
        batch.settle.append((_local(item), since or self.clock.time()))
        batch.size += 1
        batch.nbytes += item.size

    def _differs(self, item: Entry) -> None:
        """A known path whose version is not its row's: plan_seen decides on the full row."""
        local = _local(item)
        row = self.journal.get(local.path)
        if row is None:  # dropped since the page was read: new after all
            self._new(item)
            return
        action = plan_seen(local.path, local.version, row, [], {})
        if action.kind != "changed":
            self.report.unchanged += 1  # an upload in flight re-checks the file itself
            return
        self.report.changed += 1
        batch = self.batch
        batch.changed.append(local)
        batch.size += 1
        batch.nbytes += item.size

    def _missing(self, values: ScanRow) -> None:
        """A row whose file the walk did not find: vanished, or kept (on the site, in
        flight, or under a folder that could not be looked at)."""
        raw = values[0]
        if values[4] == str(ItemState.UPLOADING) or values[5] is not None:
            return  # a worker's, or it knows its remote item: plan_missing keeps it
        row = self.journal.get(os.fsdecode(raw))
        if row is None:
            return
        could_look = not any(_at_or_under(raw, u) for u in self.unknown)
        if plan_missing(row, could_look=could_look).kind == "vanished":
            self.vanish.append(raw)

    def _compare_sources(self, item: Entry, meta_sig: str | None) -> None:
        """A file on the site (or failed on its sidecar): has anything its metadata is made
        of changed? Costs a copy of a hash per file; sidecars are parsed only when
        something changed."""
        sign = self._sign_for(item.folder)
        if sign is None:
            return
        sig = sign(os.fsdecode(item.path.rpartition(SEP)[2]), meta_sig)
        if sig != meta_sig:
            batch = self.batch
            batch.sources.append((os.fsdecode(item.path), sig))
            batch.size += 1

    def _sign_for(self, folder: Folder) -> Callable[[str, str | None], str] | None:
        probe = self.hooks.probe
        if probe is None:
            return None
        cached, sign = self._signer
        if cached is not folder or sign is None:
            names = None if folder.sources is None else folder.sources.keys()
            sign = probe.signer(folder.path, self.root, self._lookup_for(folder), names)
            self._signer = (folder, sign)
        return sign

    def _lookup_for(self, folder: Folder) -> SourceLookup:
        """Metadata sources' versions as the walk listed them; the disk for folders it did
        not list (above the root), asked once per scan."""
        probe = self.hooks.probe
        assert probe is not None

        def lookup(path: Path) -> SourceVersion:
            parent = os.fsencode(path.parent)
            at: Folder | None = folder
            while at is not None:
                if at.raw == parent:
                    if at.sources is None:
                        break
                    return at.sources.get(path.name)
                at = at.parent
            if path not in self._disk:
                self._disk[path] = probe.source_version(path)
            return self._disk[path]

        return lookup

    def _file_root(self, path: str) -> str:
        """The root column of a new row: its deepest [[watch]] root, else the scan root
        (the same for every file of a folder: asked once per folder)."""
        probe = self.hooks.probe
        if probe is None:
            return self.root
        folder = os.path.dirname(path)
        if self._root_of[0] != folder:
            self._root_of = (folder, probe.root_of(path, self.root))
        return self._root_of[1]

    # --- batches ----------------------------------------------------------------------

    def flush(self) -> None:
        """Record the batch, and what recording it brought up (a renamed file that is
        still pending is looked at in a batch of its own)."""
        while self.batch.size and not self.stopped:
            self._flush_once()

    def _flush_once(self) -> None:
        """Record the batch: moves, new and changed files, hashes, metadata signatures."""
        batch, self.batch = self.batch, _Batch()
        work = _Commit()
        todo: list[tuple[LocalFile, float | None]] = []
        self._find_renamed(batch.new, work, todo)
        for local in batch.changed:
            work.observe.append(local)
            todo.append((local, None))
        todo.extend(batch.settle)
        self._prepare_sources(batch.sources, work)
        now = self.clock.time()
        to_hash = [
            local
            for local, since in todo
            if self._stable(local, now if since is None else since, now, work)
        ]
        results: list[tuple[LocalFile, str, str | None]] = []  # appended by the hasher
        job = self._hasher().submit(self._hash_all, to_hash, results)
        taken = 0
        while not self.stopped:
            try:
                job.result(timeout=READY_DELAY)
                finished = True
            except FutureTimeout:
                finished = False
            fresh = results[taken:]
            taken += len(fresh)
            for local, kind, value in fresh:
                if kind == _STOPPED:
                    self.stopped = True  # it and the rest stay pending: the next scan's
                    break
                self._hashed(local, kind, value, now, work)
            if finished:
                break
            # A slow hash: what is hashed so far is recorded (and can be uploaded) now.
            self._commit(work)
            work = _Commit()
        self._commit(work)
        self.hooks.tell(self.report)

    def _find_renamed(
        self,
        new: list[tuple[LocalFile, Folder]],
        work: _Commit,
        todo: list[tuple[LocalFile, float | None]],
    ) -> None:
        """New paths whose inode, size and mtime match a row whose path is gone: that file,
        renamed (plan_seen decides). One query for the whole batch."""
        if not new:
            return
        twins = self.journal.find_same_versions(local.version for local, _ in new)
        for local, folder in new:
            same = twins.get(local.version, [])
            if same:
                gone = {t.path: _gone(t.path) for t in same}
                action = plan_seen(local.path, local.version, None, same, gone)
                if action.kind == "moved" and action.other is not None:
                    work.moves.append((action.other, local, folder))
                    continue
            self.report.new += 1
            work.observe.append(local)
            todo.append((local, None))

    def _prepare_sources(self, changed: list[tuple[str, str]], work: _Commit) -> None:
        """Work out the desired metadata of files whose sources changed (parsing sidecars,
        outside any transaction)."""
        probe = self.hooks.probe
        if probe is None:
            return
        for path, sig in changed:
            row = self.journal.get(path)
            if row is None:
                continue
            if row.state is ItemState.FAILED:
                if row.error_code in SIDECAR_FAILURES:
                    work.sources.append((row, sig, None, None))
                continue
            if row.state not in (ItemState.SYNCED, ItemState.UPLOADED):
                continue
            try:
                digest: str | None = probe.digest(path, probe.root_of(path, self.root))
                problem = None
            except SidecarError as exc:
                digest, problem = None, str(exc)
            work.sources.append((row, sig, digest, problem))

    def _stable(self, local: LocalFile, stable_since: float, now: float, work: _Commit) -> bool:
        """Is a pending file ready to hash? Else note when to look again (an empty file is
        skipped without reading it)."""
        cfg = self.cfg
        mtime = local.mtime_ns / 1e9
        if not self.no_wait:
            stable_at = min(mtime + cfg.stable_seconds, stable_since + cfg.stable_seconds)
            # min_age only when asked for: a file stamped in the future (a NAS with a
            # skewed clock) must not wait for that future; stable_since covers it.
            ready_at = max(stable_at, mtime + cfg.min_age) if cfg.min_age > 0 else stable_at
            if now < ready_at:
                self.report.note_pending(ready_at)
                return False
        if local.size == 0:
            work.zero_bytes.append(local)
            return False
        return True

    def _hasher(self) -> ThreadPoolExecutor:
        """One thread hashes while this one records: reading and hashing release the GIL,
        and a slow hash does not hold back the files hashed before it."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncd-hash")
        return self._pool

    def _hash_all(
        self, files: list[LocalFile], out: list[tuple[LocalFile, str, str | None]]
    ) -> None:
        """In the hashing thread: hash `files` in order, each outcome appended to `out` as
        it is known (the scanner polls it); the first stop ends the job."""
        for local in files:
            kind, value = self._hash(local)
            out.append((local, kind, value))
            if kind == _STOPPED:
                return

    def _hash(self, local: LocalFile) -> tuple[str, str | None]:
        """In the hashing thread: (outcome, digest or message). A stop is heard before each
        file (and between blocks of a big one); a hash that started is finished."""
        if self.hooks.should_stop():
            return _STOPPED, None
        try:
            digest = self.hooks.hash_file(local.path)
            after = os.stat(local.path)
        except ScanStopped:
            return _STOPPED, None
        except FileNotFoundError:
            return _VANISHED, None
        except OSError as exc:
            return _UNREADABLE, f"unreadable: {exc.strerror or exc}"
        if not FileVersion.of(after).same_as(local.version):
            return _CHANGING, None
        return _HASHED, digest

    def _hashed(
        self, local: LocalFile, kind: str, value: str | None, now: float, work: _Commit
    ) -> None:
        """What a hash job found, into the commit being prepared."""
        report = self.report
        if kind == _VANISHED:
            work.vanished.append(local)
            return
        if kind == _UNREADABLE:
            message = value or "unreadable"
            report.problem(local.path, message)
            work.unreadable.append((local, message))
            return
        report.hashed_bytes += local.size
        if kind == _CHANGING or value is None:
            # Changed while we read it: still being written. The next scan records
            # the new size/mtime and restarts the stability clock.
            report.note_pending(now + self.cfg.stable_seconds)
            return
        work.hashed.append((local, value))

    def close(self) -> None:
        """Stop the hashing thread (a stopped scan's queued jobs are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _commit(self, work: _Commit) -> None:
        """One transaction for everything prepared; then tell who listens what is ready."""
        if work.is_empty():
            return
        journal, report = self.journal, self.report
        ready: list[LocalFile] = []
        with journal.batch():
            for old, local, folder in work.moves:
                self._move(old, local, folder)
            journal.observe_batch(work.observe, self.root, self._file_root)
            for local, digest in work.hashed:
                if self._promote(local, digest):
                    ready.append(local)
            for local in work.zero_bytes:
                if journal.mark_skipped(local.path, "empty file", from_state=ItemState.PENDING):
                    report.empty += 1
            for local in work.vanished:
                if journal.mark_vanished(local.path, detail="vanished while hashing"):
                    report.vanished += 1
            for local, message in work.unreadable:
                if journal.transition(
                    local.path,
                    ItemState.PENDING,
                    ItemState.FAILED,
                    detail=message,
                    error_code="unreadable",
                    error_message=message,
                ):
                    report.failed += 1
            for row, sig, desired, problem in work.sources:
                if desired is None and problem is None:
                    if journal.requeue_after_metadata_change(row, sig):
                        report.requeued += 1
                elif journal.set_desired(row, desired, sig, problem=problem):
                    report.metadata_changed += 1
        for local in ready:
            self.hooks.on_ready(local.path, local.size)

    def _move(self, old: str, local: LocalFile, folder: Folder) -> None:
        """The row of `old` follows its file to `local.path` (found by inode)."""
        moved = self.journal.move(old, local, self._file_root(local.path), "renamed")
        if moved is None:  # new after all
            self.report.new += 1
            self.journal.observe_batch([local], self.root, self._file_root)
            self.batch.settle.append((local, None))
            self.batch.size += 1
            return
        self.report.moved += 1
        if moved.state is ItemState.PENDING:
            self.batch.settle.append((local, moved.stable_since))
            self.batch.size += 1
            return
        sign = self._sign_for(folder)
        if sign is not None:  # its signature was dropped with its old path
            sig = sign(os.path.basename(local.path), moved.meta_sig)
            self.batch.sources.append((local.path, sig))
            self.batch.size += 1

    def _promote(self, local: LocalFile, digest: str) -> bool:
        """What a hash means (plan_hashed); True if the file is now ready to upload."""
        skip_duplicates = self.cfg.duplicates == "skip"

        def decide(row: FileRow, sha256: str, twins: list[FileRow]) -> LocalAction:
            gone = {t.path: _gone(t.path) for t in twins}
            return plan_hashed(row, sha256, twins, gone, skip_duplicates=skip_duplicates)

        state, other = self.journal.promote(
            local.path,
            digest,
            expect_size=local.size,
            expect_mtime_ns=local.mtime_ns,
            decide=decide,
        )
        report = self.report
        if state is None:
            return False
        if other is not None and state is not ItemState.SKIPPED:
            report.moved += 1  # the row of `other` followed its content here
            return state is ItemState.READY
        if state is ItemState.READY:
            report.became_ready += 1
            return True
        if state is ItemState.SKIPPED:
            report.duplicates += 1
        return False

    # --- the end --------------------------------------------------------------------

    def finish(self) -> None:
        """Rows whose files are gone go, unless the scan was stopped (then the rest waits
        for the next scan: it did not look everywhere)."""
        self.flush()
        if self.stopped:
            return
        vanish, self.vanish = self.vanish, []
        for start in range(0, len(vanish), BATCH_FILES):
            if self.hooks.should_stop():
                return
            part = [os.fsdecode(raw) for raw in vanish[start : start + BATCH_FILES]]
            # Still there and wanted (a stat error this time): not vanished.
            gone = [
                p for p in part if not (os.path.lexists(p) and self.filt.wants_path(p, self.root))
            ]
            with self.journal.batch():
                for path in gone:
                    if self.journal.mark_vanished(path):
                        self.report.vanished += 1


def _local(item: Entry) -> LocalFile:
    return LocalFile(
        path=os.fsdecode(item.path), size=item.size, mtime_ns=item.mtime_ns, inode=item.inode
    )


def _at_or_under(path: bytes, top: bytes) -> bool:
    """`path` is `top` or below it (`top` may end in the separator: a folder)."""
    if top.endswith(SEP):
        return path.startswith(top) or path == top[:-1]
    return path == top or path.startswith(top + SEP)


__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_EXTENSIONS",
    "HASH_BLOCK_SIZE",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "MetadataProbe",
    "NotRegularFile",
    "ScanProblem",
    "ScanProgress",
    "ScanReport",
    "ScanScope",
    "ScanStopped",
    "scan",
    "scan_scopes",
    "sha256_file",
]
