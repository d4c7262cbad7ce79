"""The archive, read-only: the media files under some roots, with the scan's own filters,
yielded in the journal's order; and their content hashes on request. Nothing is written
anywhere (no journal, no file): the scan merges this walk with the journal, and
`syncd reconcile --dry-run` reads the local side through `list_local`, so both see
exactly the same files.

`walk()` lists each folder, sorts its entries by name (folders with "/" appended), and
goes depth-first, so full paths come out in the same byte order as the journal's
PRIMARY KEY on path BLOBs: "a.jpg" < "a/" < "a0.jpg", exactly as "a.jpg" < "a/x.jpg" <
"a0.jpg". The scanner can then merge the walk with the journal's rows like two sorted
lists, holding neither in memory. What it holds is the listing of each folder on the way
down (one folder's entries, not the tree's).

Decisions:
- Non-regular files (FIFOs, sockets, devices) and symlink loops are not media: named as
  skipped (not a failure) and never opened.
- A folder that cannot be listed, or an entry that cannot be stat'ed, is reported and
  yielded as `Unknown`: rows at or below it are not taken for vanished (we do not know).
- Metadata sources (sidecars, folder defaults) are never media, whatever the filters say;
  the walk notes their versions per folder, for the metadata signature.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, Protocol

from syncd.config import ScanConfig
from syncd.local.hashing import sha256_file
from syncd.local.report import ScanProblem, ScanReport
from syncd.model import LocalFile

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

SEP = os.sep.encode()
# The version of a metadata source as the signature sees it (see syncd.metadata.desired).
SourceVersion = tuple[int, ...]


class SourceNames(Protocol):
    """Which names are metadata sources, and their versions (the walk notes them)."""

    dangling: SourceVersion

    def is_source(self, name: str) -> bool: ...

    def version_of(self, st: os.stat_result) -> SourceVersion: ...


class Filter:
    """Include/exclude globs (on the path relative to the root, and on the name)."""

    def __init__(self, cfg: ScanConfig) -> None:
        self.include = _globs(cfg.include)
        self.exclude = _globs(cfg.exclude)
        exts = cfg.extensions or tuple(DEFAULT_EXTENSIONS)
        self.extensions = frozenset(e.lower().lstrip(".") for e in exts)
        self.needs_rel = bool(self.include or self.exclude)  # else rel is never looked at

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
        dot = lower.rfind(".")  # os.path.splitext's extension, for a name that is not hidden
        return dot > 0 and lower[dot + 1 :] in self.extensions

    def walks_into(self, folder: str, root: str) -> bool:
        """Would a walk of `root` go into `folder`? Every folder on the way must pass."""
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        if rel == ".":
            return True
        if rel == ".." or rel.startswith("../"):
            return False
        parts = rel.split("/")
        return not any(
            self.skip_dir(parts[depth], "/".join(parts[: depth + 1])) for depth in range(len(parts))
        )

    def wants_path(self, path: str, root: str) -> bool:
        """Would a walk of `root` yield `path` (were it a regular file)? Every folder on
        the way must be walked into, and the name wanted."""
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if rel.startswith("../") or rel in (".", ".."):
            return False
        folder, _, name = rel.rpartition("/")
        if folder and not self.walks_into(os.path.join(root, folder), root):
            return False
        return self.wants_file(name, rel)


def _globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # Globs are matched case-insensitively: archives come from every OS.
    return re.compile("|".join(fnmatch.translate(p) for p in patterns), re.IGNORECASE)


@dataclass(slots=True, eq=False)
class Folder:
    """A folder on the walk's way down. Files hold it until they are merged; it is
    dropped with the last of them."""

    raw: bytes  # the folder's path, as the file system's bytes
    rel: str  # relative to the root the filters apply to: "" or ending in "/"
    parent: Folder | None
    # Metadata sources listed in it (name -> version); None: not listed, ask the disk.
    sources: dict[str, SourceVersion] | None
    ancestors: frozenset[tuple[int, int]]  # (dev, ino) of it and the folders above

    @property
    def path(self) -> str:
        return os.fsdecode(self.raw)


class Entry(NamedTuple):
    """A media file (a regular file the filters want) as the walk saw it."""

    path: bytes
    size: int
    mtime_ns: int
    inode: int
    folder: Folder


class Unknown(NamedTuple):
    """Nothing is known at `path` or below it (ends in "/" for a folder)."""

    path: bytes


# Kinds of a folder's sorted entries: (key, kind, ...).
_FILE, _DIR, _UNKNOWN = 0, 1, 2
_by_key = itemgetter(0)


def walk(
    root: str,
    filt: Filter,
    report: ScanReport,
    *,
    follow_symlinks: bool,
    sources: SourceNames | None = None,
    rel: str = "",
    recursive: bool = True,
) -> Iterator[Entry | Unknown]:
    """Media files under `root` in byte order of their paths, and what could not be
    looked at. `rel` is `root` relative to the folder the filters apply to (for a walk of
    a sub-folder); without `recursive`, only `root`'s own files. Raises OSError when
    `root` itself cannot be stat'ed."""
    raw = os.fsencode(root)
    st = os.stat(raw)
    top = Folder(raw, rel, None, {}, frozenset({(st.st_dev, st.st_ino)}))
    listing = _list(top, filt, report, follow_symlinks, sources)
    if listing is None:
        yield Unknown(raw.rstrip(SEP) + SEP)
        return
    stack: list[tuple[Folder, Iterator[tuple]]] = [(top, iter(listing))]
    while stack:
        folder, items = stack[-1]
        for item in items:
            kind = item[1]
            if kind == _FILE:
                yield Entry(item[0], item[2], item[3], item[4], folder)
            elif kind == _DIR:
                if not recursive:
                    continue
                key, _, name, ident = item
                child = Folder(
                    key[:-1], f"{folder.rel}{name}/", folder, {}, folder.ancestors | {ident}
                )
                sub = _list(child, filt, report, follow_symlinks, sources)
                if sub is None:
                    yield Unknown(key)
                    continue
                stack.append((child, iter(sub)))
                break
            else:
                yield Unknown(item[0])
        else:
            stack.pop()


def _list(
    folder: Folder,
    filt: Filter,
    report: ScanReport,
    follow_symlinks: bool,
    sources: SourceNames | None,
) -> list[tuple] | None:
    """One folder's entries, sorted by key; None (reported) if it cannot be listed."""
    try:
        with os.scandir(folder.raw) as it:
            entries = list(it)
    except OSError as exc:
        report.problem(folder.path, f"cannot list directory: {exc.strerror or exc}")
        return None
    items: list[tuple] = []
    needs_rel = filt.needs_rel
    for entry in entries:
        name = os.fsdecode(entry.name)
        if sources is not None and sources.is_source(name):
            _note_source(folder, entry, name, sources)
            continue
        try:
            if entry.is_symlink() and not follow_symlinks:
                if not name.startswith("."):
                    report.symlinks_skipped += 1
                continue
            st = entry.stat()
        except FileNotFoundError:
            if entry.is_symlink():
                report.problem(os.fsdecode(entry.path), "dangling symlink")
            continue  # vanished between listing and stat
        except OSError as exc:
            items.append((entry.path, _UNKNOWN))  # rows at or under it are not "vanished"
            report.problem(os.fsdecode(entry.path), f"cannot stat: {exc.strerror or exc}")
            continue
        rel = f"{folder.rel}{name}" if needs_rel else name
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            if filt.skip_dir(name, rel):
                report.skipped_filter += 1
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in folder.ancestors:
                report.not_media(
                    os.fsdecode(entry.path), "symlink loop: points to a directory above it"
                )
                continue
            items.append((entry.path + SEP, _DIR, name, ident))
            continue
        if not filt.wants_file(name, rel):
            report.skipped_filter += 1
            continue
        if not stat.S_ISREG(mode):
            report.not_media(os.fsdecode(entry.path), "not a regular file (FIFO, socket or device)")
            continue
        items.append((entry.path, _FILE, st.st_size, st.st_mtime_ns, st.st_ino))
    items.sort(key=_by_key)
    return items


def _note_source(
    folder: Folder, entry: os.DirEntry[bytes], name: str, sources: SourceNames
) -> None:
    """Record a metadata source's version as the signature sees it (symlinks followed)."""
    version: SourceVersion | None
    try:
        version = sources.version_of(entry.stat(follow_symlinks=True))
    except OSError:
        version = sources.dangling if os.path.lexists(entry.path) else None
    if version is not None and folder.sources is not None:
        folder.sources[name] = version


@dataclass(slots=True)
class LocalListing:
    """What a read-only walk found.

    `files`: path -> the file as seen (no hash). `unknown`: folders and entries that could
    not be examined, and roots that are not there: a journal row under one of them is not
    known to be gone. `problems`: what went wrong, as the scan would report it."""

    files: dict[str, LocalFile] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)

    def could_look(self, path: str) -> bool:
        """Whether the walk could have seen `path` (its folder was listed)."""
        return not any(
            path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in self.unknown
        )


def list_local(
    roots: Sequence[Path],
    cfg: ScanConfig,
    *,
    probe: SourceNames | None = None,
    on_file: Callable[[int], None] | None = None,
) -> LocalListing:
    """Every media file under `roots`, as the scan would see it; `on_file(n)` hears of
    progress (files found so far) once per folder."""
    listing = LocalListing()
    report = ScanReport()
    filt = Filter(cfg)
    for root_path in roots:
        root = os.path.abspath(os.fsdecode(root_path))
        if not os.path.isdir(root):
            listing.unknown.append(root)
            report.problem(root, "root is not a directory (missing or unmounted?)")
            continue
        folder: Folder | None = None
        try:
            for item in walk(
                root, filt, report, follow_symlinks=cfg.follow_symlinks, sources=probe
            ):
                if isinstance(item, Unknown):
                    listing.unknown.append(os.fsdecode(item.path.rstrip(SEP) or SEP))
                    continue
                if on_file is not None and item.folder is not folder and folder is not None:
                    on_file(len(listing.files))
                folder = item.folder
                path = os.fsdecode(item.path)
                listing.files[path] = LocalFile(path, item.size, item.mtime_ns, item.inode)
        except OSError as exc:
            listing.unknown.append(root)
            report.problem(root, f"cannot scan root: {exc.strerror or exc}")
            continue
        if on_file is not None:
            on_file(len(listing.files))
    listing.problems = report.problems
    return listing


def hash_file(path: str, should_stop: Callable[[], bool] | None = None) -> str:
    """The file's SHA-256 (hex), read in blocks; raises OSError as reading does, and
    ScanStopped when `should_stop()` says so between blocks."""
    return sha256_file(path, should_stop)
