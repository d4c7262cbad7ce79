"""The archive, read-only: the media files under some roots, with the scan's own filters,
and their content hashes on request. Nothing is written anywhere (no journal, no file).

`syncd reconcile --dry-run` reads the local side through this, so that a dry run leaves
the journal byte-identical; a real reconcile uses it after its scan to see which files
are there. The walk is the scanner's (`syncd.local.scan`), so both see exactly the same
files: same filters, same symlink and loop rules, metadata sources never counted as media.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncd.config import ScanConfig
from syncd.local.scan import (
    MetadataProbe,
    ScanProblem,
    ScanReport,
    _Filter,
    _walk,
    sha256_file,
)
from syncd.model import LocalFile


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
    probe: MetadataProbe | None = None,
    on_file: Callable[[int], None] | None = None,
) -> LocalListing:
    """Every media file under `roots`, as the scan would see it; `on_file(n)` hears of
    progress (files found so far) once per folder."""
    listing = LocalListing()
    report = ScanReport()
    filt = _Filter(cfg)
    for root_path in roots:
        root = os.path.abspath(os.fsdecode(root_path))
        if not os.path.isdir(root):
            listing.unknown.append(root)
            report.problem(root, "root is not a directory (missing or unmounted?)")
            continue
        try:
            walk = _walk(root, filt, cfg, report, probe)
        except OSError as exc:
            listing.unknown.append(root)
            report.problem(root, f"cannot scan root: {exc.strerror or exc}")
            continue
        listing.unknown.extend(walk.unknown)
        for path, st in walk.files.items():
            listing.files[path] = LocalFile(path, st.st_size, st.st_mtime_ns, st.st_ino)
        if on_file is not None:
            on_file(len(listing.files))
    listing.problems = report.problems
    return listing


def hash_file(path: str, should_stop: Callable[[], bool] | None = None) -> str:
    """The file's SHA-256 (hex), read in blocks; raises OSError as reading does, and
    ScanStopped when `should_stop()` says so between blocks."""
    return sha256_file(path, should_stop)


__all__ = ["LocalListing", "hash_file", "list_local"]
