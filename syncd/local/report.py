"""What a scan found: counts, problems, and files that are not media."""

from __future__ import annotations

from dataclasses import dataclass, field

from syncd.text import printable


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
    hashed_bytes: int = 0  # bytes read to hash files
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
