"""What a run tells the operator at the end, read from the journal (never from memory only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from syncd.errors import SyncdError
from syncd.journal import Journal, owner_is_alive
from syncd.local.scan import ScanProblem
from syncd.model import FileRow, ItemState

# States of a row that did not land (yet) by the end of a run.
NOT_LANDED = (
    ItemState.RETRY,
    ItemState.PENDING,
    ItemState.READY,
    ItemState.UPLOADING,
    ItemState.UPLOADED,
)


@dataclass
class RunReport:
    counts: dict[ItemState, int] = field(default_factory=dict)
    failed: list[FileRow] = field(default_factory=list)
    waiting: list[FileRow] = field(default_factory=list)  # did not land by the end
    # Uploading in another live syncd process on this journal: not this run's failure.
    elsewhere: list[FileRow] = field(default_factory=list)
    # On the site, but its metadata could not be brought in line (with why).
    metadata_behind: list[FileRow] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    # Not media (a FIFO, a device, a symlink loop): named once, not a failure.
    not_media: list[ScanProblem] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)  # --dry-run
    dry_run: bool = False
    stopped_by: SyncdError | None = None
    interrupted: bool = False
    synced_by_run: int = 0  # files this run's workers synced
    skipped: list[FileRow] = field(default_factory=list)  # skipped by this run, with why
    started_at: float = 0.0

    @property
    def synced_before(self) -> int:
        """Files under the roots that were synced without this run's help."""
        return max(0, self.counts.get(ItemState.SYNCED, 0) - self.synced_by_run)

    @property
    def all_landed(self) -> bool:
        return not (
            self.failed or self.waiting or self.metadata_behind or self.problems or self.stopped_by
        )


def fill_report(
    report: RunReport,
    journal: Journal,
    roots: Sequence[str],
    *,
    owner: str,
    synced_paths: set[str],
) -> RunReport:
    """Counts, failures, what did not land and what another process holds, from the journal."""
    # Files this run synced that are still synced now (one may have changed again): looked
    # up by path, not by loading every file synced since the run started.
    report.synced_by_run = journal.count_of(
        synced_paths, [ItemState.SYNCED], roots=roots, updated_since=report.started_at
    )
    report.counts = journal.counts(roots=roots)
    report.failed = journal.rows_in([ItemState.FAILED], roots=roots)
    for row in journal.rows_in(list(NOT_LANDED), roots=roots):
        if held_elsewhere(row, owner):
            report.elsewhere.append(row)
        elif row.state is not ItemState.UPLOADED:
            report.waiting.append(row)
    behind = journal.metadata_behind(roots=roots)
    report.metadata_behind = [r for r in behind if not held_elsewhere(r, owner)]
    report.skipped = skipped_since(journal, roots, report.started_at)
    return report


def skipped_since(journal: Journal, roots: Sequence[str], started_at: float) -> list[FileRow]:
    """Empty files and duplicates are not failures, but each is named once, by the run that
    decided it (a rerun does not repeat them)."""
    return journal.rows_in([ItemState.SKIPPED], roots=roots, updated_since=started_at)


def held_elsewhere(row: FileRow, owner: str) -> bool:
    """Claimed by another syncd process that is still running."""
    holder = row.lease_owner
    return bool(holder) and holder != owner and owner_is_alive(holder or "")
