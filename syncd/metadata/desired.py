"""Desired metadata of a media file, from sidecars and folder defaults.

Layers, lowest first: the `base` Metadata from the config, the folder defaults
(`.syncd.json` / `.syncd.yaml`) of every folder from the root down to the file's
folder, then the per-file sidecar (`<filename>.<ext>` or `<stem>.<ext>`, in JSON,
YAML or XMP: see syncd.metadata.sidecar). Later layers override earlier ones key
by key; `tags` accumulate and `custom` merges per variable. The format is
described for users in docs/metadata.md.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from syncd.config import MetadataConfig
from syncd.errors import SidecarError
from syncd.metadata.sidecar import fields
from syncd.metadata.sidecar.fields import describe_type as _json_type
from syncd.metadata.sidecar.provenance import Provenance, Source, SourceKind, SourceTracker
from syncd.metadata.sidecar.reading import read_sidecar_bytes, read_sidecar_text
from syncd.metadata.sidecar.registry import (
    BY_NAME,
    FORMATS,
    JSON,
    TEXT_SIDECAR_CAP,
    YAML,
    SidecarFormat,
    folder_candidates,
    format_of,
    per_file_candidates,
)
from syncd.model import IDENTITY_NAMESPACE, Chapter, Coordinates, Metadata, Thumbnail

# The lowest layer when the config gives nothing (frozen, so safe to share).
NO_METADATA = Metadata()
# How sidecars are read when the config says nothing: every format, one per file.
DEFAULT_OPTIONS = MetadataConfig()


# The largest JSON or YAML sidecar (or folder defaults) read; see registry.TEXT_SIDECAR_CAP.
MAX_SIDECAR_BYTES = TEXT_SIDECAR_CAP

# Parsed folder defaults kept in memory. One entry per folder; 4096 folders is
# far more than one scan touches at once, and each entry is a few hundred bytes.
FOLDER_CACHE_SIZE = 4096

# `difflib` similarity needed before an unknown key gets a "did you mean" hint.
HINT_CUTOFF = 0.6

FOLDER_KEYS = frozenset(
    {
        "title",
        "description",
        "tags",
        "album",
        "albums",
        "publish",
        "publish_date",
        "custom",
        "coordinates",
        "thumbnail",
    }
)
SIDECAR_ONLY_KEYS = frozenset({"replace_tags", "chapters"})
SIDECAR_KEYS = FOLDER_KEYS | SIDECAR_ONLY_KEYS

_DATE_FORMATS = {
    re.compile(r"\d{4}-\d{2}-\d{2}"): "%Y-%m-%d",
    re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"): "%Y-%m-%d %H:%M:%S",
}
# Custom photo variables travel as form fields next to the upload's own.
_CUSTOM_KEY = re.compile(r"[A-Za-z0-9_]+")
_RESERVED_PREFIX = IDENTITY_NAMESPACE + ":"

# Names a custom variable must not take. Custom variables are sent as parameters named by
# their key, after the request's own, so a key equal to a parameter overrides it: `tags`
# drops the identity marker, `photo_id` retargets an update, `user_id` stops the run with
# permission_denied, `format` breaks the answer. Taken from the pages of photo/upload,
# photo/get-upload-token, photo/update-upload-token, photo/update, photo/redeem-upload-token
# (and the callback's parameters in browser-based-uploads), photo/replace and the replace
# token, the answer format, the cache breaker, and what syncd itself sends with them.
# Compared without regard to case: a site or proxy may fold it.
RESERVED_CUSTOM_KEYS = frozenset(
    {
        # photo/upload, photo/get-upload-token, photo/update-upload-token, photo/update
        "file", "user_id", "album_id", "title", "description", "tags", "publish",
        "publish_date", "absolute_url", "return_url", "background_return_p",
        "valid_minutes", "max_uploads", "upload_token", "photo_id", "published_p",
        # redeem callback (return_url) parameters
        "domain", "tree_id", "token", "error_message",
        # photo/replace and replace tokens
        "replace_token", "time", "crop_p",
        # answer format
        "format", "raw", "callback", "varname",
    }
)  # fmt: skip
# Prefixes of parameter families: OAuth 1.0a, and Resumable.js chunk fields (redeem and
# update-upload-token take resumableIdentifier and its siblings).
RESERVED_CUSTOM_PREFIXES = ("oauth_", "resumable")

# Builds the error for (key, problem) in the file being validated.
_Err = Callable[[str, str], SidecarError]


@dataclass(frozen=True, slots=True)
class _Layer:
    """One file's validated contribution. None means "not set here"."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    albums: tuple[str, ...] | None = None
    publish: bool | None = None
    publish_date: str | None = None
    custom: tuple[tuple[str, str], ...] = ()
    replace_tags: bool = False
    chapters: tuple[Chapter, ...] | None = None
    coordinates: Coordinates | None = None
    thumbnail: Thumbnail | None = None


# --- public API -------------------------------------------------------------


def is_sidecar(path: Path) -> bool:
    """True for metadata files (`*.json`, `*.yaml`, `*.yml`, `*.xmp`, `.syncd.*`): never
    uploaded as media."""
    return format_of(path) is not None


def sidecar_files(
    media_path: Path, root: Path, options: MetadataConfig = DEFAULT_OPTIONS
) -> list[Path]:
    """Every existing file that contributes to `media_path`'s metadata, shallow first.

    Files that make the metadata ambiguous (two sidecars, no sidecar_order) are
    listed too (an error for read_metadata), so that fixing it counts as a change.
    """
    found = [p for d in _folders(media_path, root) for _, p in _folder_files(d, options)]
    return found + [p for _, p in _present_in(per_file_candidates(media_path), options)]


# A metadata source as the signature sees it: its version, or None when it is absent. A
# dangling symlink is present with the version DANGLING (an error read_metadata reports).
SourceVersion = tuple[int, ...] | None
SourceLookup = Callable[[Path], SourceVersion]
DANGLING: tuple[int, ...] = (-1,)


def source_version(path: Path) -> SourceVersion:
    """The version of one possible metadata source on disk (a SourceLookup): what it
    points to for a symlink, DANGLING for a symlink to nothing. One lstat for a name that
    is absent (most are) or not a symlink; a folder that cannot be searched raises
    SidecarError, as `_present` does."""
    st = _lstat(path)
    if st is None:
        return None
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)  # follows the link: an edit to the target must be seen
        except OSError:
            return DANGLING
    return version_of(st)


# A folder's listing stands in for a stat of each absent sidecar name only for a version of
# the folder (its dev, inode, mtime and ctime) first seen at least this long ago, on this
# host's monotonic clock, and the listing is made then. An entry added after the listing
# is stamped by the file system's own clock at least this much later than the version was,
# so it moves the folder's timestamps even when they are as coarse as FAT's 2 s, and even
# when the file system's clock is off from this host's (NFS, a NAS without NTP). No clock
# is compared with another: a folder that keeps changing is asked name by name.
SETTLED_FOLDER_SECONDS = 3.0
# The same for a folder whose timestamps have a fraction of a second (a file system that
# stamps in ns, us or ms): one such tick passes long before this.
SETTLED_FINE_FOLDER_SECONDS = 0.1
# Folders whose listings FolderListings keeps (least recently used dropped first). One
# entry is a folder's path, its version, when that was first seen and the names of the
# metadata sources in it.
LISTINGS_KEPT = 1024
# Name endings of metadata sources, lower case (folder defaults end in them too).
_SOURCE_SUFFIXES = tuple(suffix for fmt in FORMATS for suffix in fmt.suffixes)


@dataclass(slots=True)
class _Seen:
    version: tuple[int, ...]
    since: float  # monotonic
    settle: float  # seconds the version must stay before it is listed
    names: frozenset[str] | None = None  # listed once the version had settled


class FolderListings:
    """Which metadata sources each folder holds, from one listing per settled version of
    the folder, shared by a run's workers: a file's sidecar and folder-defaults names (14
    for a file one folder below its root) are looked up in memory instead of by a failing
    lstat each. A folder is stat'ed on every use, so an entry added or removed since it was
    listed is seen (see SETTLED_FOLDER_SECONDS). The uploads use them; the metadata stage
    and the scan ask the disk, so what a listing could miss (a file system that never
    moves a folder's timestamps) still reaches the site through the metadata stage."""

    def __init__(
        self, kept: int = LISTINGS_KEPT, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kept = kept
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def names(self, folder: Path) -> frozenset[str] | None:
        """The case-folded names of the metadata sources in `folder`; None when they
        cannot be known from a listing (the caller asks the disk name by name, which also
        reports a folder it cannot search)."""
        where = os.fspath(folder)
        try:
            # Through "." : the folder must be searchable, as looking up a name in it is.
            st = os.stat(os.path.join(where, "."))
        except OSError:
            return None
        version = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(where)
            if seen is None or seen.version != version:
                whole_seconds = not (st.st_mtime_ns % 10**9 or st.st_ctime_ns % 10**9)
                settle = SETTLED_FOLDER_SECONDS if whole_seconds else SETTLED_FINE_FOLDER_SECONDS
                self._remember(where, _Seen(version, now, settle))
                return None
            self._seen.move_to_end(where)
            if seen.names is not None:
                return seen.names
            if now - seen.since < seen.settle:
                return None
        try:
            listed = os.listdir(where)
        except OSError:
            return None
        # Listed after the stat: an entry added meanwhile is in it, or moves the folder's
        # version (and the next use starts over with the new one).
        names = frozenset(n.casefold() for n in listed if n.lower().endswith(_SOURCE_SUFFIXES))
        with self._lock:
            if seen is self._seen.get(where):
                seen.names = names
        return names

    def _remember(self, where: str, seen: _Seen) -> None:
        self._seen[where] = seen
        self._seen.move_to_end(where)
        while len(self._seen) > self._kept:
            self._seen.popitem(last=False)


class SourceView:
    """One look at a file's metadata sources: `version` (a SourceLookup) and `present`
    ask the disk only for names its folder's listing holds, and `holds` says that a folder
    holds none at all (FolderListings; each folder looked up once per view). What they
    answer is what `source_version` and `_present` would. Without listings, every name is
    asked of the disk."""

    def __init__(self, listings: FolderListings | None = None) -> None:
        self._listings = listings
        self._names: dict[str, frozenset[str] | None] = {}

    def _names_in(self, folder: Path) -> frozenset[str] | None:
        assert self._listings is not None
        key = str(folder)
        if key in self._names:
            return self._names[key]
        names = self._names[key] = self._listings.names(folder)
        return names

    def holds(self, folder: Path) -> bool:
        """False when `folder` certainly holds no metadata source (its candidates need
        not be looked at: each would be absent)."""
        return self._listings is None or self._names_in(folder) != frozenset()

    def _may_exist(self, path: Path) -> bool:
        if self._listings is None:
            return True
        names = self._names_in(path.parent)
        # Case-folded: on a case-insensitive file system the disk finds X.JSON for x.json.
        return names is None or path.name.casefold() in names

    def version(self, path: Path) -> SourceVersion:
        return source_version(path) if self._may_exist(path) else None

    def present(self, path: Path) -> bool:
        return self._may_exist(path) and _present(path)


def version_of(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a source is rewritten (ctime catches an edit that kept mtime)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def source_paths(
    media_path: Path, root: Path, holds: Callable[[Path], bool] | None = None
) -> list[Path]:
    """Every path whose presence or content can change `media_path`'s metadata, shallow
    first, whether it exists or not: each folder's defaults, then the per-file sidecars,
    in every format. Those of folders `holds` says hold no metadata source are left out."""
    folders = [
        p
        for d in _folders(media_path, root)
        if holds is None or holds(d)
        for _, p in folder_candidates(d)
    ]
    if holds is not None and not holds(media_path.parent):
        return folders
    return folders + [p for _, p in per_file_candidates(media_path)]


# In a signature, what follows this is the name of the thumbnail image it covers (a file
# name never holds a "/").
_IMAGE_MARK = "/"


def metadata_signature(
    media_path: Path,
    root: Path,
    base: Metadata,
    options: MetadataConfig = DEFAULT_OPTIONS,
    lookup: SourceLookup = source_version,
    image: str | None = None,
    holds: Callable[[Path], bool] | None = None,
) -> str:
    """A fingerprint of everything `read_metadata(media_path, root, base)` depends on: the
    config's layer, the file's name (the default title), each source's version, and the
    version of the thumbnail `image` (a name in the media's folder) a sidecar names.

    When it is unchanged, so is the metadata: the scan compares it without parsing
    anything. The scan passes a lookup over its directory listing, workers the real
    stat; both give the same versions. Compute it before reading the metadata, so an edit
    made while reading shows as a change next time rather than being missed.

    Which image a sidecar names is known only by reading it, so the signature carries the
    name (`<hex>/<name>`; `signed_image` reads it back) and the next one is taken with the
    name the last one had (see `desired_metadata`).

    `holds(folder)` False: the folder holds no metadata source (SourceView.holds), so its
    candidates are not looked up (each would be absent: the signature is the same).
    """
    h = hashlib.blake2b(digest_size=12)
    h.update(base.digest().encode())
    h.update(repr(options).encode())  # which formats are read, and how
    h.update(os.fsencode(media_path.name))
    for path in source_paths(media_path, root, holds):
        version = lookup(path)
        if version is not None:
            h.update(b"\0" + os.fsencode(path) + b"\0" + repr(version).encode())
    if image is None:
        return h.hexdigest()
    # A real stat: the scan's listing keeps the versions of sidecars only.
    version = source_version(media_path.parent / image)
    h.update(b"\0image\0" + os.fsencode(image) + b"\0" + repr(version).encode())
    return f"{h.hexdigest()}{_IMAGE_MARK}{image}"


def signed_image(signature: str | None) -> str | None:
    """The thumbnail image a signature covers (None: none)."""
    if signature is None or _IMAGE_MARK not in signature:
        return None
    return signature.split(_IMAGE_MARK, 1)[1]


def thumbnail_image(meta: Metadata) -> str | None:
    """The name of the thumbnail image `meta` names, if any."""
    return None if meta.thumbnail is None else meta.thumbnail.file


def desired_metadata(
    media_path: Path,
    root: Path,
    base: Metadata,
    options: MetadataConfig = DEFAULT_OPTIONS,
    previous: str | None = None,
    *,
    view: SourceView | None = None,
    signed: str | None = None,
) -> tuple[Metadata, str]:
    """The metadata and the signature of what it was made of, the signature taken first.

    `previous` is the file's last signature, whose thumbnail image is covered again. When
    the sidecar names another image now, the signature is taken again with it and the
    metadata read again, so that an edit of the new image is never missed. `signed`: that
    first signature, when the caller took it already (with the same `previous`); `view`:
    how the sources are looked up (the disk, name by name, when None)."""
    view = view or SourceView()
    sig = signed or metadata_signature(
        media_path, root, base, options, view.version, signed_image(previous), view.holds
    )
    meta = read_metadata(media_path, root, base, options, view=view)
    image = thumbnail_image(meta)
    if image != signed_image(sig):
        sig = metadata_signature(media_path, root, base, options, view.version, image, view.holds)
        meta = read_metadata(media_path, root, base, options, view=view)
    return meta, sig


def folder_signer(
    folder: Path,
    root: Path,
    base: Metadata,
    options: MetadataConfig = DEFAULT_OPTIONS,
    lookup: SourceLookup = source_version,
    names: Collection[str] | None = None,
) -> Callable[[str, str | None], str]:
    """metadata_signature for the files of one folder, with what they share worked out
    once: `sign(name, image)` equals `metadata_signature(folder / name, root, base,
    options, lookup, image)`. `names` are the metadata sources present in the folder
    (None: not known); when none of them can be a per-file sidecar, a file's own
    candidates are not looked up (each would be absent). A rescan of a synced archive
    signs every file: this keeps it a copy of a hash and two updates per file."""
    start = hashlib.blake2b(digest_size=12)
    start.update(base.digest().encode())
    start.update(repr(options).encode())
    shared = b"".join(
        b"\0" + os.fsencode(path) + b"\0" + repr(version).encode()
        for folder_path in _folders(folder / "_", root)
        for _, path in folder_candidates(folder_path)
        if (version := lookup(path)) is not None
    )
    folder_names = {path.name for _, path in folder_candidates(folder)}
    per_file = names is None or any(name not in folder_names for name in names)

    def sign(name: str, image: str | None = None) -> str:
        h = start.copy()
        h.update(os.fsencode(name))
        h.update(shared)
        if per_file:
            for _, path in per_file_candidates(folder / name):
                version = lookup(path)
                if version is not None:
                    h.update(b"\0" + os.fsencode(path) + b"\0" + repr(version).encode())
        if image is None:
            return h.hexdigest()
        # As metadata_signature: the thumbnail image's own version, by a real stat.
        version = source_version(folder / image)
        h.update(b"\0image\0" + os.fsencode(image) + b"\0" + repr(version).encode())
        return f"{h.hexdigest()}{_IMAGE_MARK}{image}"

    return sign


def read_metadata(
    media_path: Path,
    root: Path,
    base: Metadata = NO_METADATA,
    options: MetadataConfig = DEFAULT_OPTIONS,
    *,
    view: SourceView | None = None,
) -> Metadata:
    """The desired metadata of `media_path`, a file under the watch/push `root`, its
    sources looked up through `view` (the disk, name by name, when None).

    Raises SidecarError ("<file>: <key>: <problem>") when any contributing
    file is unreadable or malformed.
    """
    return read_metadata_with_sources(media_path, root, base, options, view=view)[0]


def read_metadata_with_sources(
    media_path: Path,
    root: Path,
    base: Metadata = NO_METADATA,
    options: MetadataConfig = DEFAULT_OPTIONS,
    base_sources: Provenance | None = None,
    *,
    view: SourceView | None = None,
) -> tuple[Metadata, Provenance]:
    """read_metadata, and where each final value came from.

    `base_sources` says where `base`'s values came from (see
    syncd.metadata.base.config_base); without it they are credited to the config.
    """
    sources = SourceTracker(base_sources or _credited_to_config(base))
    meta = base
    for source, layer in _layers(media_path, root, options, view or SourceView()):
        meta = _apply(meta, layer)
        sources.record(layer, source)
    meta = _thumbnail_for(media_path, meta, sources)
    if meta.title is None:
        # A non-UTF-8 name's odd bytes become the text \xNN: a title must be real text.
        stem = media_path.stem.encode("utf-8", "surrogateescape")
        meta = replace(meta, title=stem.decode("utf-8", "backslashreplace"))
        sources.set_field("title", Source(SourceKind.DEFAULT, detail="the file name"))
    return meta, sources.result()


def _thumbnail_for(media_path: Path, meta: Metadata, sources: SourceTracker) -> Metadata:
    """The thumbnail checked against the media: only a video takes one (a folder default
    does not reach the photos and sounds beside the videos; a sidecar that gives one to a
    photo is an error). An image thumbnail gets its content's digest, so that editing the
    image changes the metadata."""
    thumb = meta.thumbnail
    if thumb is None:
        return meta
    source = sources.fields.get("thumbnail")
    if media_path.suffix.lower().lstrip(".") in fields.NOT_VIDEO_EXTENSIONS:
        if source is not None and source.kind is SourceKind.SIDECAR:
            raise SidecarError(
                f"{source.path}: thumbnail: {media_path.name} is not a video; only a video "
                "takes a thumbnail (for a photo, photo/replace would replace the photo itself)"
            )
        sources.fields.pop("thumbnail", None)
        return replace(meta, thumbnail=None)
    if thumb.file is None:
        return meta
    where = source.path if source is not None and source.path else str(media_path)
    image = media_path.parent / thumb.file
    try:
        size = os.stat(image).st_size
    except OSError as exc:
        raise SidecarError(f"{where}: thumbnail: {image}: {exc.strerror or exc}") from None
    if size > fields.MAX_THUMBNAIL_BYTES:
        raise SidecarError(
            f"{where}: thumbnail: {image} is {size} bytes; a thumbnail image may be at most "
            f"{fields.MAX_THUMBNAIL_BYTES // 1024**2} MiB"
        )
    content = read_sidecar_bytes(image, fields.MAX_THUMBNAIL_BYTES)
    digest = hashlib.sha256(content).hexdigest()
    return replace(meta, thumbnail=replace(thumb, image_sha256=digest))


def _credited_to_config(base: Metadata) -> Provenance:
    config = Source(SourceKind.CONFIG)
    set_fields = [f for f in ("title", "description", "publish_date") if getattr(base, f)]
    return Provenance(
        fields={f: config for f in [*set_fields, "albums", "publish"]},
        tags={t: config for t in base.tags},
        custom={name: config for name, _ in base.custom},
    )


def _layers(
    media_path: Path, root: Path, options: MetadataConfig, view: SourceView
) -> list[tuple[Source, _Layer]]:
    """Every contributing file's validated layer, lowest first."""
    layers: list[tuple[Source, _Layer]] = []
    for folder in _folders(media_path, root):
        if not view.holds(folder):
            continue
        for fmt, path in _folder_files(folder, options, check=True, present=view.present):
            layer = _folder_layer(path)
            if layer is not None:
                layers.append((Source(SourceKind.FOLDER, str(path), fmt.name), layer))
    if not view.holds(media_path.parent):
        return layers
    for fmt, path in _per_file_sidecars(media_path, options, view.present):
        layer = _parse_sidecar(path, SIDECAR_KEYS, options)
        layers.append((Source(SourceKind.SIDECAR, str(path), fmt.name), layer))
    return layers


# --- finding files ----------------------------------------------------------


def _present(path: Path) -> bool:
    """Whether a sidecar name exists (a dangling symlink does: a broken sidecar to report,
    not an absent one). A folder that cannot be searched is named as the problem: whether
    it holds a sidecar cannot be known, and the file must not go up without it."""
    return _lstat(path) is not None


def _lstat(path: Path) -> os.stat_result | None:
    """lstat of a sidecar name; None when there is nothing by that name. Raises
    SidecarError as `_present` says."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise SidecarError(f"{path.parent}: cannot read folder: {exc.strerror}") from None
        raise SidecarError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _folders(media_path: Path, root: Path) -> list[Path]:
    """The root and every folder below it down to the file's folder, shallow first."""
    root_abs, parent = Path(os.path.abspath(root)), Path(os.path.abspath(media_path)).parent
    try:
        rel = parent.relative_to(root_abs)
    except ValueError:
        # The same tree seen through a symlink: compare the real locations.
        root_abs, parent = root_abs.resolve(), parent.resolve()
        try:
            rel = parent.relative_to(root_abs)
        except ValueError:
            raise ValueError(f"media_path {media_path} is not under root {root}") from None
    folders = [root]  # spelled as the caller spelled it, like the sidecar path
    for part in rel.parts:
        folders.append(folders[-1] / part)
    return folders


def _read_formats(options: MetadataConfig) -> tuple[SidecarFormat, ...]:
    """The formats read, lowest layer first: all of them unless sidecar_order says."""
    if options.sidecar_order is None:
        return FORMATS
    return tuple(BY_NAME[name] for name in options.sidecar_order)


def _present_in(
    candidates: list[tuple[SidecarFormat, Path]],
    options: MetadataConfig,
    present: Callable[[Path], bool] = _present,
) -> list[tuple[SidecarFormat, Path]]:
    """The candidates that exist and whose format is read, in sidecar_order's order."""
    order = _read_formats(options)
    found = [(f, p) for f, p in candidates if f in order and present(p)]
    return sorted(found, key=lambda fp: order.index(fp[0]))


def _per_file_sidecars(
    media_path: Path, options: MetadataConfig, present: Callable[[Path], bool]
) -> list[tuple[SidecarFormat, Path]]:
    """The per-file sidecars to layer, lowest first; SidecarError when that is a guess."""
    found = _present_in(per_file_candidates(media_path), options, present)
    _one_of_each(media_path, "sidecars", found, options)
    return found


def _folder_files(
    folder: Path,
    options: MetadataConfig,
    *,
    check: bool = False,
    present: Callable[[Path], bool] = _present,
) -> list[tuple[SidecarFormat, Path]]:
    """The folder-defaults files of `folder` to layer, lowest first."""
    found = _present_in(folder_candidates(folder), options, present)
    if check:
        _one_of_each(folder, "folder-defaults files", found, options)
    return found


def _one_of_each(
    subject: Path, what: str, present: list[tuple[SidecarFormat, Path]], options: MetadataConfig
) -> None:
    """Two files of one format (x.mp4.json and x.json) are always ambiguous; two formats
    are, unless [metadata] sidecar_order layers them."""
    for fmt in FORMATS:
        same = [p for f, p in present if f is fmt]
        if len(same) > 1:
            raise SidecarError(
                f"{subject}: {_count_of(same)} {what}, {_listed(same)}: "
                "keep only one (which one applies would be a guess)"
            )
    if options.sidecar_order is None and len(present) > 1:
        paths = [p for _, p in present]
        raise SidecarError(
            f"{subject}: {_count_of(paths)} {what}, {_listed(paths)}: keep only one, "
            "or set [metadata] sidecar_order to layer them"
        )


def _count_of(paths: list[Path]) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(len(paths), str(len(paths)))


def _listed(paths: list[Path]) -> str:
    names = [str(p) for p in paths]
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- folder defaults, cached ------------------------------------------------


def _folder_layer(path: Path) -> _Layer | None:
    try:
        st = os.stat(path)  # follows symlinks: an edit to the target must be seen
    except FileNotFoundError:
        if _present(path):  # a dangling symlink: report it, do not ignore it
            _parse_sidecar(path, FOLDER_KEYS)
        return None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            # stat needs no permission on the file itself, only search permission on the
            # folders above it: the folder is what cannot be read, not a `.syncd.json`.
            raise SidecarError(f"{path.parent}: cannot read folder: {exc.strerror}") from None
        raise SidecarError(f"{path}: cannot read: {exc.strerror}") from None
    # The stat fields change whenever the file is rewritten, so an edit is
    # always seen while an unchanged file is parsed once for a whole folder.
    key = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
    result = _cached_folder_layer(os.path.abspath(path), key)
    if isinstance(result, SidecarError):
        raise SidecarError(result.message)
    return result


@lru_cache(maxsize=FOLDER_CACHE_SIZE)
def _cached_folder_layer(path: str, stat_key: tuple[int, ...]) -> _Layer | SidecarError:
    """Errors are cached too: one broken `.syncd.json` is parsed once, not once per file."""
    try:
        return _parse_sidecar(Path(path), FOLDER_KEYS)
    except SidecarError as exc:
        return exc


def folder_cache_clear() -> None:
    """Forget parsed folder defaults (tests; long-running processes need not call it)."""
    _cached_folder_layer.cache_clear()


def folder_parse_count() -> int:
    """How many times folder defaults were actually parsed (cache misses)."""
    return _cached_folder_layer.cache_info().misses


# --- parsing and validation -------------------------------------------------


def _parse_sidecar(
    path: Path, allowed: frozenset[str], options: MetadataConfig = DEFAULT_OPTIONS
) -> _Layer:
    """Read any format into the common vocabulary, then validate it like JSON."""
    fmt = format_of(path)
    if fmt is None or fmt is JSON:
        return _parse(path, allowed)
    text = read_sidecar_text(path, fmt.cap)
    # Each format's parser (PyYAML, defusedxml) is imported when a sidecar of that format
    # is read: a tree of JSON sidecars, or none, does not pay ~10 ms of start-up for them.
    if fmt is YAML:
        from syncd.metadata.sidecar.yml import load_yaml

        data = load_yaml(path, text)
    else:
        from syncd.metadata.sidecar.xmp import load_xmp

        data = load_xmp(path, text, options.xmp_rating_variable)
    return _validate(path, data, allowed)


def _parse(path: Path, allowed: frozenset[str]) -> _Layer:
    text = read_sidecar_text(path, JSON.cap)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise SidecarError(f"{path}: {exc.key}: given twice") from None
    except json.JSONDecodeError as exc:
        raise SidecarError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise SidecarError(f"{path}: expected a JSON object {{...}}, got {_json_type(data)}")
    return _validate(path, data, allowed)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _validate(path: Path, data: dict[str, Any], allowed: frozenset[str]) -> _Layer:
    for key in data:
        if key not in allowed:
            raise SidecarError(f"{path}: {key}: {_unknown_key_problem(key, allowed)}")
    if "album" in data and "albums" in data:
        raise SidecarError(f"{path}: album: give either album or albums, not both")

    def err(key: str, problem: str) -> SidecarError:
        return SidecarError(f"{path}: {key}: {problem}")

    per_file = allowed >= SIDECAR_ONLY_KEYS  # a sidecar, not folder defaults

    def typed(key: str, kind: type, kind_name: str) -> Any:
        value = data.get(key)
        if key in data and not _is(value, kind):
            raise err(key, f"expected {kind_name}, got {_json_type(value)}")
        return value

    title = typed("title", str, "a string")
    description = typed("description", str, "a string")
    publish = typed("publish", bool, "true or false")
    replace_tags = typed("replace_tags", bool, "true or false")

    albums: tuple[str, ...] | None = None
    if "album" in data:
        albums = (_album(err, "album", typed("album", str, "a string")),)
    elif "albums" in data:
        names = _string_list(err, "albums", data["albums"])
        albums = tuple(dict.fromkeys(_album(err, "albums", n) for n in names))

    return _Layer(
        title=_stripped(title),
        description=_stripped(description),
        tags=_tags(err, data["tags"]) if "tags" in data else (),
        albums=albums,
        publish=publish,
        publish_date=_date(err, typed("publish_date", str, "a string")),
        custom=_custom(err, data["custom"]) if "custom" in data else (),
        replace_tags=bool(replace_tags),
        chapters=fields.chapters(err, data["chapters"]) if "chapters" in data else None,
        coordinates=(
            fields.coordinates(err, data["coordinates"]) if "coordinates" in data else None
        ),
        thumbnail=(
            fields.thumbnail(err, data["thumbnail"], path.parent if per_file else None)
            if "thumbnail" in data
            else None
        ),
    )


def _unknown_key_problem(key: str, allowed: frozenset[str]) -> str:
    if key in SIDECAR_ONLY_KEYS:
        return "only allowed in a per-file sidecar, not in folder defaults (.syncd.*)"
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=HINT_CUTOFF)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}known keys: {', '.join(sorted(allowed))}"


def _is(value: Any, kind: type) -> bool:
    # bool is an int subclass in Python; JSON keeps them apart, so do we.
    if kind is not bool and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _stripped(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None  # empty after stripping = not given


def _string_list(err: _Err, key: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise err(key, f"expected an array of strings, got {_json_type(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise err(f"{key}[{i}]", f"expected a string, got {_json_type(item)}")
    return value


def _album(err: _Err, key: str, name: str) -> str:
    name = name.strip()
    if not name:
        raise err(key, 'album title is empty; use "albums": [] for no album')
    return name


def _tags(err: _Err, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list):
        items = [item.strip() for item in _string_list(err, "tags", value)]
    else:
        raise err("tags", f"expected an array of strings or a string, got {_json_type(value)}")
    tags = [t for t in items if t]
    for tag in tags:
        if '"' in tag:
            raise err(
                "tags",
                f"tag {tag!r} contains a double quote, which cannot be sent safely "
                "(the site reads tags space-separated); remove it",
            )
        if tag.lower().startswith(_RESERVED_PREFIX):
            raise err(
                "tags",
                f"tag {tag!r} uses the reserved {_RESERVED_PREFIX!r} prefix "
                "(syncd's identity marker); rename it",
            )
    return tuple(dict.fromkeys(tags))


def _date(err: _Err, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    for pattern, fmt in _DATE_FORMATS.items():
        if pattern.fullmatch(value):
            try:
                datetime.strptime(value, fmt)
            except ValueError as exc:
                raise err("publish_date", f"{value!r} is not a real date/time ({exc})") from None
            return value
    raise err(
        "publish_date", f"{value!r} is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS (e.g. 2024-05-31)"
    )


def _custom(err: _Err, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise err("custom", f"expected an object of string values, got {_json_type(value)}")
    for name, item in value.items():
        if not _CUSTOM_KEY.fullmatch(name):
            raise err(f"custom.{name}", "variable names use only letters, digits and _")
        if _reserved_custom_key(name):
            raise err(
                f"custom.{name}",
                f"{name!r} is an API parameter name; as a custom variable it would replace "
                "the upload's own value: rename the variable",
            )
        if not isinstance(item, str):
            raise err(f"custom.{name}", f"expected a string, got {_json_type(item)}")
    return tuple(sorted(value.items()))


def _reserved_custom_key(name: str) -> bool:
    folded = name.lower()
    return folded in RESERVED_CUSTOM_KEYS or folded.startswith(RESERVED_CUSTOM_PREFIXES)


# --- layering ---------------------------------------------------------------


def _apply(meta: Metadata, layer: _Layer) -> Metadata:
    tags = layer.tags if layer.replace_tags else tuple(dict.fromkeys(meta.tags + layer.tags))
    custom = dict(meta.custom)
    custom.update(layer.custom)
    return Metadata(
        title=layer.title if layer.title is not None else meta.title,
        description=layer.description if layer.description is not None else meta.description,
        tags=tags,
        albums=layer.albums if layer.albums is not None else meta.albums,
        publish=layer.publish if layer.publish is not None else meta.publish,
        publish_date=layer.publish_date if layer.publish_date is not None else meta.publish_date,
        custom=tuple(sorted(custom.items())),
        chapters=layer.chapters if layer.chapters is not None else meta.chapters,
        coordinates=layer.coordinates if layer.coordinates is not None else meta.coordinates,
        thumbnail=layer.thumbnail if layer.thumbnail is not None else meta.thumbnail,
    )
