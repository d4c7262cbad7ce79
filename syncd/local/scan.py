"""Walk trees, filter, wait for stability, hash, and record it all in the journal.

One pass of `scan()` per root:
1. one `rows_under(root)` query: what the journal already knows;
2. an `os.scandir` walk; files whose version (size, mtime_ns, inode) matches their row
   cost one stat and nothing else (no write, no hash);
3. what each observation means is decided by plan/local.py: a new path whose inode, size
   and mtime match a row whose path is gone is that file, renamed: its row follows it
   (`moved`, no upload); other new and changed files go to `observe_batch` in one
   transaction;
4. pending files that are stable get hashed and promoted: `ready`, `synced` (the remote
   item already holds these bytes), `skipped` as a duplicate or an empty file, or the
   row of a vanished path with the same content follows the file (`moved`);
   `on_ready` hears of each ready file at once, so a caller can upload while the scan
   goes on;
5. for files on the site, the signature of what their metadata is made of (sidecars,
   folder defaults, the config's layer, the name) is compared with the journal's; when it
   changed, the desired metadata is worked out again (the metadata stage then updates
   the item), and a file that failed on a broken sidecar is queued again;
6. rows under the root whose file is gone, and that never reached the site, are removed
   with `mark_vanished`.

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
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from syncd.clock import Clock
from syncd.config import ScanConfig
from syncd.errors import SidecarError
from syncd.journal import Journal
from syncd.model import BAD_SIDECAR, FileRow, FileVersion, ItemState, LocalFile
from syncd.plan.local import LocalAction, plan_hashed, plan_missing, plan_seen
from syncd.text import printable

# Read size for hashing: large enough that syscalls are noise next to disk
# throughput, small enough to keep memory flat with several scanners.
HASH_BLOCK_SIZE = 1024 * 1024

# Built-in media extensions (lower case, no dot), used when neither
# `include` nor `extensions` is configured.
VIDEO_EXTENSIONS = frozenset(
    [
        "mp4",
        "m4v",
        "mov",
        "mkv",
        "avi",
        "wmv",
        "flv",
        "webm",
        "mpg",
        "mpeg",
        "mts",
        "m2ts",
        "ts",
        "3gp",
        "mxf",
        "ogv",
    ]
)
AUDIO_EXTENSIONS = frozenset(
    ["mp3", "m4a", "aac", "wav", "flac", "ogg", "oga", "opus", "wma", "aif", "aiff"]
)
IMAGE_EXTENSIONS = frozenset(["jpg", "jpeg", "png", "gif", "tif", "tiff", "heic", "webp", "bmp"])
DEFAULT_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS | IMAGE_EXTENSIONS

# Names of files still being written by a downloader/editor, or OS litter.
TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download", "~")
JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
# NAS metadata / recycle-bin directories that never hold originals.
JUNK_DIRS = frozenset({"@eadir", "#recycle", "#snapshot", "$recycle.bin", "lost+found"})

HashFile = Callable[[str], str]
# Told about each file the moment it becomes `ready` (path, size), so uploads can start
# while the scan goes on.
OnReady = Callable[[str, int], None]
# Asked between files; True ends the scan early (a stopping run need not hash the rest).
ShouldStop = Callable[[], bool]


# The version of a metadata source (None: absent); see syncd.metadata.desired.
SourceVersion = tuple[int, ...] | None
SourceLookup = Callable[[Path], SourceVersion]
# Error codes of files that failed on their metadata sources (the older name included).
SIDECAR_FAILURES = frozenset({BAD_SIDECAR, "sidecar"})


class MetadataProbe(Protocol):
    """What the scan needs to know about metadata, supplied by the pipeline (the scan does
    not read sidecars itself): which names are metadata sources, the signature of a file's
    sources, and its desired-metadata digest."""

    dangling: tuple[int, ...]

    def is_source(self, name: str) -> bool: ...

    def version_of(self, st: os.stat_result) -> tuple[int, ...]: ...

    def source_version(self, path: Path) -> SourceVersion: ...

    def root_of(self, path: str, scan_root: str) -> str:
        """The root the file's metadata layers start from (its deepest [[watch]] root)."""
        ...

    def signature(
        self, path: str, root: str, lookup: SourceLookup, previous: str | None = None
    ) -> str:
        """`previous`: the file's last signature (it names the thumbnail image to cover)."""
        ...

    def digest(self, path: str, root: str) -> str:
        """The desired metadata's digest; raises SidecarError."""
        ...


class NotRegularFile(OSError):
    """The path is a FIFO, socket or device: never read it."""


class ScanStopped(Exception):
    """`should_stop` said stop while a file was being hashed (a 50 GB file takes minutes)."""


def sha256_file(path: str, should_stop: ShouldStop | None = None) -> str:
    """SHA-256 of a regular file, streamed in HASH_BLOCK_SIZE blocks; ScanStopped between
    blocks once `should_stop()` is true."""
    # O_NONBLOCK: opening a FIFO that replaced the file must not hang the scan.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{printable(path)}: not a regular file")
        digest = hashlib.sha256()
        buffer = bytearray(HASH_BLOCK_SIZE)
        view = memoryview(buffer)
        while n := fh.readinto(buffer):
            digest.update(view[:n])
            if should_stop is not None and should_stop():
                raise ScanStopped(path)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ScanProblem:
    path: str  # printable
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class ScanReport:
    seen: int = 0  # media files found (after filters)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    became_ready: int = 0
    duplicates: int = 0  # skipped as a copy of another path
    empty: int = 0  # skipped as zero-byte
    skipped_filter: int = 0  # hidden, temporary, excluded or not media
    symlinks_skipped: int = 0  # links not followed
    still_pending: int = 0  # seen but not yet stable
    vanished: int = 0  # rows removed because the file is gone
    moved: int = 0  # rows that followed their file to a new path
    metadata_changed: int = 0  # files on the site whose desired metadata changed
    requeued: int = 0  # failed on a broken sidecar, queued again after it changed
    failed: int = 0  # unreadable files recorded as failed
    problems: list[ScanProblem] = field(default_factory=list)
    skipped: list[ScanProblem] = field(default_factory=list)  # not media: named, not failed
    pending_until: float | None = None  # earliest time a pending file may be stable

    def note_pending(self, at: float) -> None:
        self.still_pending += 1
        if self.pending_until is None or at < self.pending_until:
            self.pending_until = at

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ScanProblem(printable(path), message))

    def not_media(self, path: str, message: str) -> None:
        self.skipped.append(ScanProblem(printable(path), message))


class _Filter:
    """Include/exclude globs (on the path relative to the root, and on the name)."""

    def __init__(self, cfg: ScanConfig) -> None:
        self.include = _globs(cfg.include)
        self.exclude = _globs(cfg.exclude)
        exts = cfg.extensions or tuple(DEFAULT_EXTENSIONS)
        self.extensions = frozenset(e.lower().lstrip(".") for e in exts)

    def skip_dir(self, name: str, rel: str) -> bool:
        if name.startswith(".") or name.lower() in JUNK_DIRS:
            return True
        return bool(self.exclude and (self.exclude.match(rel) or self.exclude.match(name)))

    def wants_file(self, name: str, rel: str) -> bool:
        lower = name.lower()
        if name.startswith(".") or lower in JUNK_NAMES or lower.endswith(TEMP_SUFFIXES):
            return False
        if self.exclude and (self.exclude.match(rel) or self.exclude.match(name)):
            return False
        if self.include:
            return bool(self.include.match(rel) or self.include.match(name))
        return os.path.splitext(lower)[1][1:] in self.extensions


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # Globs are matched case-insensitively: archives come from every OS.
    return re.compile("|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE)


@dataclass(slots=True)
class _Walk:
    """What one root's walk found."""

    files: dict[str, os.stat_result] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # dirs/files we could not examine
    # Metadata sources by folder: name -> version (a few per folder at most).
    sources: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)  # folders whose listing was read


def _walk(
    root: str,
    filt: _Filter,
    cfg: ScanConfig,
    report: ScanReport,
    probe: MetadataProbe | None,
    *,
    rel_base: str = "",
    recursive: bool = True,
) -> _Walk:
    """Walk `root` (a folder `rel_base` below its watch root, for the filters)."""
    found = _Walk()
    root_st = os.stat(root)
    # Each stack entry carries the (dev, ino) of the dirs above it, for loop detection.
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (root, rel_base, frozenset({(root_st.st_dev, root_st.st_ino)}))
    ]
    while stack:
        directory, rel_dir, ancestors = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            found.unknown.append(directory)
            report.problem(directory, f"cannot list directory: {exc.strerror or exc}")
            continue
        found.listed.add(directory)
        subdirs: list[tuple[str, str, frozenset[tuple[int, int]]]] = []
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if probe is not None and probe.is_source(entry.name):
                _note_source(found, directory, entry, probe)
                continue
            try:
                is_link = entry.is_symlink()
                if is_link and not cfg.follow_symlinks:
                    if not entry.name.startswith("."):
                        report.symlinks_skipped += 1
                    continue
                st = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                if entry.is_symlink():
                    report.problem(entry.path, "dangling symlink")
                continue  # vanished between listing and stat
            except OSError as exc:
                found.unknown.append(entry.path)  # rows under it are not "vanished"
                report.problem(entry.path, f"cannot stat: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(st.st_mode):
                if filt.skip_dir(entry.name, rel):
                    report.skipped_filter += 1
                    continue
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    report.not_media(entry.path, "symlink loop: points to a directory above it")
                    continue
                if recursive:
                    subdirs.append((entry.path, rel + "/", ancestors | {key}))
                continue
            if not filt.wants_file(entry.name, rel):
                report.skipped_filter += 1
                continue
            if not stat.S_ISREG(st.st_mode):
                report.not_media(entry.path, "not a regular file (FIFO, socket or device)")
                continue
            found.files[entry.path] = st
        stack.extend(reversed(subdirs))  # depth-first, in name order
    return found


def _note_source(
    found: _Walk, directory: str, entry: os.DirEntry[str], probe: MetadataProbe
) -> None:
    """Record a metadata source's version as the signature sees it (symlinks followed)."""
    version: tuple[int, ...] | None
    try:
        version = probe.version_of(entry.stat(follow_symlinks=True))
    except OSError:
        version = probe.dangling if os.path.lexists(entry.path) else None
    if version is not None:
        found.sources.setdefault(directory, {})[entry.name] = version


def _is_under(path: str, directories: Sequence[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in directories)


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
) -> ScanReport:
    """scan() over parts of trees: what a file-system event touched (its folder), or a
    folder that appeared (recursively). See ScanScope."""
    report = ScanReport()
    filt = _Filter(cfg)
    if hash_file is sha256_file and should_stop is not None:
        hash_file = functools.partial(sha256_file, should_stop=should_stop)
    hooks = _Hooks(hash_file, on_ready or _ignore_ready, should_stop or _never, probe)
    for scope in scopes:
        if hooks.should_stop():
            break
        if not os.path.isdir(scope.path):
            _scope_gone(scope, journal, report)
            continue
        rel_base = _rel_base(scope, filt)
        if rel_base is None:
            continue  # inside a hidden, junk or excluded folder: never looked at
        _scan_root(
            scope, rel_base, journal, cfg, filt, report, clock=clock, no_wait=no_wait, hooks=hooks
        )
    return report


def _rel_base(scope: ScanScope, filt: _Filter) -> str | None:
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


def _scope_gone(scope: ScanScope, journal: Journal, report: ScanReport) -> None:
    """A root that is not a folder is a problem (unmounted?) and nothing under it is known
    to be gone. A folder below a root that is gone while its parent is there was deleted
    (or moved away): its rows go as vanished files do."""
    if scope.path == scope.root or not os.path.isdir(os.path.dirname(scope.path)):
        report.problem(scope.path, "root is not a directory (missing or unmounted?)")
        return
    if os.path.lexists(scope.path):
        return  # not a folder any more, but something is there: the parent's scan decides
    for path, row in journal.rows_under(scope.path).items():
        if plan_missing(row, could_look=True).kind == "vanished" and journal.mark_vanished(path):
            report.vanished += 1


@dataclass(frozen=True, slots=True)
class _Hooks:
    """What the caller plugs into a scan: how to hash, whom to tell, when to stop, and
    what it knows about metadata."""

    hash_file: HashFile
    on_ready: OnReady
    should_stop: ShouldStop
    probe: MetadataProbe | None


def _ignore_ready(path: str, size: int) -> None:
    pass


def _never() -> bool:
    return False


def _gone(path: str) -> bool:
    return not os.path.lexists(path)


def _scan_root(
    scope: ScanScope,
    rel_base: str,
    journal: Journal,
    cfg: ScanConfig,
    filt: _Filter,
    report: ScanReport,
    *,
    clock: Clock,
    no_wait: bool,
    hooks: _Hooks,
) -> None:
    root = scope.root
    known = journal.rows_under(scope.path)
    if not scope.recursive:  # the folder's own files only
        known = {p: r for p, r in known.items() if os.path.dirname(p) == scope.path}
    try:
        walk = _walk(
            scope.path,
            filt,
            cfg,
            report,
            hooks.probe,
            rel_base=rel_base,
            recursive=scope.recursive,
        )
    except OSError as exc:
        report.problem(scope.path, f"cannot scan root: {exc.strerror or exc}")
        return
    probe = hooks.probe

    def root_of(path: str) -> str:
        return root if probe is None else probe.root_of(path, root)

    to_observe: list[LocalFile] = []
    candidates: list[tuple[LocalFile, float]] = []  # (file, stable_since) pending ones
    on_site: list[FileRow] = []  # rows whose metadata sources are compared
    for path, st in walk.files.items():
        report.seen += 1
        local = LocalFile(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)
        row = known.get(path)
        twins = journal.find_same_version(local.version) if row is None else []
        gone = {t.path: _gone(t.path) for t in twins}
        action = plan_seen(path, local.version, row, twins, gone)
        if action.kind == "moved" and action.other is not None:
            moved = journal.move(action.other, local, root_of(path), "renamed")
            if moved is not None:
                report.moved += 1
                known.pop(action.other, None)
                if moved.state is ItemState.PENDING:
                    candidates.append((local, moved.stable_since or clock.time()))
                else:
                    on_site.append(moved)
                continue
            action = plan_seen(path, local.version, None, [], {})  # new, after all
        if action.kind == "new":
            report.new += 1
            to_observe.append(local)
            candidates.append((local, -1.0))  # stable_since = now, filled in below
        elif action.kind == "changed":
            report.changed += 1
            to_observe.append(local)
            candidates.append((local, -1.0))
        else:
            report.unchanged += 1
            if row is not None and action.kind == "settling":
                candidates.append((local, row.stable_since or clock.time()))
            elif row is not None:
                on_site.append(row)
    journal.observe_batch(to_observe, root, root_of)

    now = clock.time()
    for local, since in candidates:
        if hooks.should_stop():
            return  # and no vanished-row cleanup either: the rest waits for the next scan
        _promote(local, now if since < 0 else since, journal, cfg, report, now, no_wait, hooks)

    if probe is not None:
        _check_metadata_sources(on_site, walk, root, journal, report, probe)

    for path, row in known.items():
        if path in walk.files:
            continue
        could_look = not _is_under(path, walk.unknown)
        if plan_missing(row, could_look=could_look).kind != "vanished":
            continue  # present, on the site (reconcile's business), or unknown
        if os.path.lexists(path) and _still_wanted(path, root, filt):
            continue  # e.g. a stat error this time: not vanished
        if journal.mark_vanished(path):
            report.vanished += 1


def _check_metadata_sources(
    rows: list[FileRow],
    walk: _Walk,
    scan_root: str,
    journal: Journal,
    report: ScanReport,
    probe: MetadataProbe,
) -> None:
    """For files on the site (and files that failed on a sidecar): has anything their
    metadata is made of changed? Costs a hash of a few stat results per file; sidecars are
    parsed only when something changed."""

    def lookup(path: Path) -> SourceVersion:
        listed = walk.sources.get(str(path.parent))
        if listed is not None or str(path.parent) in walk.listed:
            return None if listed is None else listed.get(path.name)
        return probe.source_version(path)  # a folder above the scan root

    for row in rows:
        failed_on_sidecar = row.state is ItemState.FAILED and row.error_code in SIDECAR_FAILURES
        if row.state not in (ItemState.SYNCED, ItemState.UPLOADED) and not failed_on_sidecar:
            continue
        meta_root = probe.root_of(row.path, scan_root)
        sig = probe.signature(row.path, meta_root, lookup, row.meta_sig)
        if sig == row.meta_sig:
            continue
        if failed_on_sidecar:
            if journal.requeue_after_metadata_change(row, sig):
                report.requeued += 1
            continue
        try:
            digest: str | None = probe.digest(row.path, meta_root)
            problem = None
        except SidecarError as exc:
            digest, problem = None, str(exc)
        if journal.set_desired(row, digest, sig, problem=problem):
            report.metadata_changed += 1


def _still_wanted(path: str, root: str, filt: _Filter) -> bool:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return filt.wants_file(os.path.basename(path), rel)


def _promote(
    local: LocalFile,
    stable_since: float,
    journal: Journal,
    cfg: ScanConfig,
    report: ScanReport,
    now: float,
    no_wait: bool,
    hooks: _Hooks,
) -> None:
    """Hash a pending file that is stable and move it on; else note when to look again."""
    mtime = local.mtime_ns / 1e9
    if not no_wait:
        stable_at = min(mtime + cfg.stable_seconds, stable_since + cfg.stable_seconds)
        # min_age only when asked for: a file stamped in the future (a NAS with a
        # skewed clock) must not wait for that future; stable_since covers it.
        ready_at = max(stable_at, mtime + cfg.min_age) if cfg.min_age > 0 else stable_at
        if now < ready_at:
            report.note_pending(ready_at)
            return
    if local.size == 0:
        if journal.mark_skipped(local.path, "empty file", from_state=ItemState.PENDING):
            report.empty += 1
        return
    try:
        digest = hooks.hash_file(local.path)
        after = os.stat(local.path)
    except ScanStopped:
        return  # still pending: the next scan hashes it
    except FileNotFoundError:
        if journal.mark_vanished(local.path, detail="vanished while hashing"):
            report.vanished += 1
        return
    except OSError as exc:
        message = f"unreadable: {exc.strerror or exc}"
        report.problem(local.path, message)
        if journal.transition(
            local.path,
            ItemState.PENDING,
            ItemState.FAILED,
            detail=message,
            error_code="unreadable",
            error_message=message,
        ):
            report.failed += 1
        return
    if not FileVersion.of(after).same_as(local.version):
        # Changed while we read it: still being written. The next scan records
        # the new size/mtime and restarts the stability clock.
        report.note_pending(now + cfg.stable_seconds)
        return
    skip_duplicates = cfg.duplicates == "skip"

    def decide(row: FileRow, sha256: str, twins: list[FileRow]) -> LocalAction:
        gone = {t.path: _gone(t.path) for t in twins}
        return plan_hashed(row, sha256, twins, gone, skip_duplicates=skip_duplicates)

    state, other = journal.promote(
        local.path,
        digest,
        expect_size=local.size,
        expect_mtime_ns=local.mtime_ns,
        decide=decide,
    )
    if state is None:
        return
    if other is not None and state is not ItemState.SKIPPED:
        report.moved += 1  # the row of `other` followed its content here
        if state is ItemState.READY:
            hooks.on_ready(local.path, local.size)
        return
    if state is ItemState.READY:
        report.became_ready += 1
        hooks.on_ready(local.path, local.size)
    elif state is ItemState.SKIPPED:
        report.duplicates += 1


__all__ = [
    "DEFAULT_EXTENSIONS",
    "HASH_BLOCK_SIZE",
    "ScanProblem",
    "ScanReport",
    "scan",
    "sha256_file",
]
