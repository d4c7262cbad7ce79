"""What a reconcile tells the operator: every action with its outcome, a summary by class,
and the exit status a timer or cron job acts on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from syncd.errors import SyncdError
from syncd.local.scan import ScanProblem
from syncd.pipeline.report import RunReport
from syncd.plan.reconcile import Decision, Kind, ReconcileAction
from syncd.remote import WalkReport
from syncd.text import printable

# Exit statuses (see docs/reconcile.md): cron and systemd act on them.
EXIT_IN_STEP = 0  # nothing differs, or everything that did was repaired
EXIT_DRIFT_LEFT = 1  # differences reported, not repaired (policy, max_delete, not landed)
EXIT_ERRORS = 2  # the run or an action failed
EXIT_INTERRUPTED = 130


class Outcome(StrEnum):
    DONE = "done"  # repaired (or linked, forgotten, deleted) by this run
    PLANNED = "planned"  # --dry-run: what a run would do
    REPORTED = "reported"  # left as it is, by policy (or max_delete)
    NOTHING = "nothing to do"  # keep / follow: in step by policy
    LEFT = "left for push"  # --adopt makes no upload, deletion or update
    MOVED_ON = "changed meanwhile"  # another process changed the row first: not acted on
    NOT_LANDED = "not landed"  # queued for the upload or metadata workers, not done by the end
    FAILED = "failed"  # the action raised an error


# Outcomes that leave the site out of step (exit 1) and those that are errors (exit 2).
OUT_OF_STEP = frozenset({Outcome.REPORTED, Outcome.LEFT, Outcome.NOT_LANDED})


@dataclass(slots=True)
class ActionResult:
    action: ReconcileAction
    outcome: Outcome
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "class": a.kind.value,
            "decision": a.decision.value,
            "path": printable(a.path),
            "photo_id": a.photo_id,
            "other": None if a.other is None else printable(a.other),
            "detail": a.detail,
            "outcome": self.outcome.value,
            "message": self.message,
            "text": printable(str(a)),
        }


@dataclass
class ReconcileReport:
    results: list[ActionResult] = field(default_factory=list)
    blocked: str | None = None  # why no deletion was made (max_delete)
    untracked: int = 0  # items on the site the journal does not know
    remote_items: int = 0  # items listed
    rows: int = 0  # journal rows compared
    local_files: int = 0  # files found under the roots
    lookups: int = 0  # identity markers looked up
    requests: int = 0  # read requests to the site (listing, fetches, lookups)
    walk: WalkReport | None = None
    pipeline: RunReport | None = None  # the uploads and metadata updates that followed
    problems: list[ScanProblem] = field(default_factory=list)
    error: SyncdError | None = None  # what ended the run early
    dry_run: bool = False
    adopt: bool = False
    interrupted: bool = False
    started_at: float = 0.0

    def summary(self) -> dict[str, Counter[str]]:
        """Class -> outcome -> count, classes in a fixed order."""
        table: dict[str, Counter[str]] = {}
        for kind in Kind:
            found = Counter(r.outcome.value for r in self.results if r.action.kind is kind)
            if found:
                table[kind.value] = found
        return table

    @property
    def failed(self) -> list[ActionResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def out_of_step(self) -> list[ActionResult]:
        if self.dry_run:
            return [r for r in self.results if r.action.decision is not Decision.KEEP]
        return [r for r in self.results if r.outcome in OUT_OF_STEP]

    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.error is not None or self.failed:
            return EXIT_ERRORS
        pipeline = self.pipeline
        if pipeline is not None and pipeline.stopped_by is not None:
            return EXIT_ERRORS
        if self.out_of_step or self.blocked or self.problems:
            return EXIT_DRIFT_LEFT
        if pipeline is not None and not pipeline.all_landed:
            return EXIT_DRIFT_LEFT
        return EXIT_IN_STEP

    def as_dict(self) -> dict[str, Any]:
        walk = self.walk
        pipeline = self.pipeline
        return {
            "exit_status": self.exit_status(),
            "dry_run": self.dry_run,
            "adopt": self.adopt,
            "interrupted": self.interrupted,
            "error": None if self.error is None else str(self.error),
            "blocked": self.blocked,
            "summary": {kind: dict(counts) for kind, counts in self.summary().items()},
            "actions": [r.as_dict() for r in self.results],
            "compared": {
                "journal_rows": self.rows,
                "local_files": self.local_files,
                "remote_items": self.remote_items,
                "untracked_remote_items": self.untracked,
                "identity_lookups": self.lookups,
                "read_requests": self.requests,
                "listing_certified": None if walk is None else walk.certified,
            },
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
            "pipeline": None
            if pipeline is None
            else {
                "synced_by_run": pipeline.synced_by_run,
                "failed": [
                    {"path": printable(r.path), "error": r.error_message or r.error_code}
                    for r in pipeline.failed
                ],
                "waiting": [printable(r.path) for r in pipeline.waiting],
                "stopped_by": None if pipeline.stopped_by is None else str(pipeline.stopped_by),
            },
        }
