"""Carrying out a reconcile plan: what the journal records, and the few changes reconcile
makes on the site itself (deleting and unpublishing items).

Uploads, replacements and metadata updates are not made here: an action that needs one
puts its row where the pipeline's workers claim it (`ready`, or metadata due), and the
run's burst of workers does it under the same claims as push and `syncd watch`. So a
reconcile beside a daemon never uploads a file the daemon is uploading, and the plans
followed are the ones push would follow (`on_change` included).

Every journal change is a compare-and-set on the row as the plan saw it; a row another
process changed meanwhile is left alone and reported as such. Deletions and unpublishing
hold the row's lease while they talk to the site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from syncd.api.client import Client
from syncd.errors import Interrupted, NotFound, SidecarError, SyncdError
from syncd.model import CONTENT_CHANGED, FileRow, ItemState, OnDrift
from syncd.pipeline.context import RunContext
from syncd.pipeline.pool import LEASE_SECONDS
from syncd.plan.metadata import AppliedParts, fields_digest, goal_parts
from syncd.plan.reconcile import Decision, Kind, ReconcileAction, SiteView, drift_of
from syncd.reconcile.report import ActionResult, Outcome
from syncd.text import printable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Actions done by the pipeline's workers after the comparison: their outcome is read from
# the journal once the workers are done.
BY_WORKERS = frozenset(
    {Decision.UPLOAD, Decision.REUPLOAD, Decision.REPLACE, Decision.NEW, Decision.REAPPLY}
)
# What a rebuild (--adopt) does: it links, and changes nothing else anywhere.
ADOPT_ONLY = frozenset({Decision.LINK})


class Executor:
    """Carries out one plan. `rows`: the journal rows the plan was made from, by path."""

    def __init__(
        self,
        ctx: RunContext,
        client: Client,
        rows: Mapping[str, FileRow],
        site: SiteView,
        *,
        adopt_only: bool,
    ) -> None:
        self.ctx = ctx
        self.journal = ctx.journal
        self.client = client
        self.rows = rows
        self.site = site
        self.adopt_only = adopt_only

    def execute(self, action: ReconcileAction) -> ActionResult:
        decision = action.decision
        if decision in (Decision.REPORT, Decision.BLOCKED):
            if action.kind is Kind.REMOTE_MISSING and not self.adopt_only:
                self._record_missing(action)
            return ActionResult(action, Outcome.REPORTED)
        if decision in (Decision.KEEP, Decision.FOLLOW):
            return ActionResult(action, Outcome.NOTHING)
        if self.adopt_only and decision not in ADOPT_ONLY:
            return ActionResult(action, Outcome.LEFT, "--adopt changes only the journal")
        handler = {
            Decision.LINK: self._link,
            Decision.REUPLOAD: self._reupload,
            Decision.REAPPLY: self._reapply,
            Decision.UNPUBLISH: self._unpublish,
            Decision.DELETE: self._delete,
            Decision.FORGET: self._forget,
            Decision.REPLACE: self._changed,
            Decision.NEW: self._changed,
            Decision.UPLOAD: self._upload,
        }[decision]
        try:
            return handler(action)
        except Interrupted:
            raise
        except SyncdError as exc:
            if exc.stops_run:
                raise
            log.warning("%s: %s failed: %s", printable(action.path), decision, exc)
            return ActionResult(action, Outcome.FAILED, str(exc))

    # --- helpers ------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return self.ctx.retrier(fn, what=what)

    def _row(self, action: ReconcileAction) -> FileRow | None:
        return self.rows.get(action.path)

    def _moved_on(self, action: ReconcileAction) -> ActionResult:
        return ActionResult(action, Outcome.MOVED_ON, "the journal row changed meanwhile")

    def _queued(self, action: ReconcileAction, message: str) -> ActionResult:
        # Settled after the workers' burst (see settle_queued).
        return ActionResult(action, Outcome.NOT_LANDED, message)

    # --- one decision each ----------------------------------------------------------------

    def _link(self, action: ReconcileAction) -> ActionResult:
        row, photo_id = self._row(action), action.photo_id
        if row is None or photo_id is None:
            return self._moved_on(action)
        ctx = self.ctx
        if row.state is ItemState.SYNCED or row.state is ItemState.UPLOADED:
            # Its own item is gone (confirmed by a fetch): say so, then link the other.
            if not self.journal.mark_remote_missing(row, f"photo {row.photo_id} is gone"):
                return self._moved_on(action)
            row = self.journal.get(row.path)
        elif row.state is ItemState.FAILED:
            if not self.journal.requeue(row, drop_item=True, detail="item gone; found another"):
                return self._moved_on(action)
            row = self.journal.get(row.path)
        if row is None:
            return self._moved_on(action)
        if row.state in (ItemState.READY, ItemState.RETRY):
            claimed = self.journal.claim_row(row, ctx.owner, LEASE_SECONDS)
            if claimed is None:
                return self._moved_on(action)
            row = claimed
        digest: str | None = None
        applied: str | None = None
        parts: str | None = None
        sig: str | None = None
        try:
            meta, sig = ctx.desired(row)
        except SidecarError as exc:
            log.info("%s: linked; metadata unreadable: %s", printable(row.path), exc)
        else:
            digest = meta.digest()
            item = self.site.items.get(photo_id)
            visible = item is not None and bool(drift_of(item, meta, self.site))
            # The fields a listing shows are in step (or drift is only reported): applied.
            # Chapters, coordinates and thumbnails no listing shows: the metadata stage
            # sends those the desired metadata has.
            if not visible or ctx.config.reconcile.on_drift is OnDrift.REPORT:
                record = AppliedParts(fields=fields_digest(meta))
                parts = record.dumps()
                applied = digest if record == goal_parts(meta) else None
        ok = self.journal.link(
            row,
            ctx.owner,
            photo_id,
            desired_digest=digest,
            applied_digest=applied,
            applied_parts=parts,
            meta_sig=sig,
            detail=f"photo_id {photo_id} (adopted: it carries the identity marker)",
        )
        if not ok:
            if row.state is ItemState.UPLOADING:
                self.journal.transition(
                    row.path,
                    ItemState.UPLOADING,
                    ItemState.READY,
                    owner=ctx.owner,
                    detail="adoption did not complete",
                )
            return self._moved_on(action)
        return ActionResult(action, Outcome.DONE)

    def _record_missing(self, action: ReconcileAction) -> None:
        row = self._row(action)
        if row is not None and row.state in (ItemState.SYNCED, ItemState.UPLOADED):
            self.journal.mark_remote_missing(row, f"photo {row.photo_id} is gone from the site")

    def _reupload(self, action: ReconcileAction) -> ActionResult:
        row = self._row(action)
        if row is None:
            return self._moved_on(action)
        if row.state in (ItemState.SYNCED, ItemState.UPLOADED):
            if not self.journal.mark_remote_missing(row, f"photo {row.photo_id} is gone"):
                return self._moved_on(action)
            row = self.journal.get(row.path)
            if row is None:
                return self._moved_on(action)
        if not self.journal.requeue(
            row, drop_item=True, detail=f"photo {action.photo_id} is gone: uploading again"
        ):
            return self._moved_on(action)
        return self._queued(action, "queued for upload")

    def _reapply(self, action: ReconcileAction) -> ActionResult:
        row = self._row(action)
        if row is None:
            return self._moved_on(action)
        # What drifted is what photo/update sets (the fields): that part is sent again.
        parts = replace(AppliedParts.parse(row.applied_parts), fields=None).dumps()
        if not self.journal.mark_drift(row, action.detail, applied_parts=parts):
            return self._moved_on(action)
        return self._queued(action, "queued for the metadata stage")

    def _unpublish(self, action: ReconcileAction) -> ActionResult:
        row, photo_id = self._row(action), action.photo_id
        if row is None or photo_id is None:
            return self._moved_on(action)
        ctx = self.ctx
        if not self.journal.hold(row, ctx.owner, LEASE_SECONDS):
            return self._moved_on(action)
        try:
            self._call(
                lambda: self.client.photo_update(photo_id, published_p="0"), f"unpublish {photo_id}"
            )
        except NotFound:
            return ActionResult(action, Outcome.DONE, "gone from the site meanwhile")
        finally:
            self.journal.release_lease(row.path, ctx.owner)
        return ActionResult(action, Outcome.DONE)

    def _delete(self, action: ReconcileAction) -> ActionResult:
        if action.kind is Kind.DUPLICATE:
            return self._delete_copy(action)
        row, photo_id = self._row(action), action.photo_id
        if row is None or photo_id is None:
            return self._moved_on(action)
        ctx = self.ctx
        if not self.journal.hold(row, ctx.owner, LEASE_SECONDS):
            return self._moved_on(action)
        try:
            self._delete_item(photo_id)
        except BaseException:
            self.journal.release_lease(row.path, ctx.owner)
            raise
        held = self.journal.get(row.path) or row
        if not self.journal.forget(
            held, ctx.owner, f"photo {photo_id} deleted: the file is gone from disk"
        ):
            self.journal.release_lease(row.path, ctx.owner)
        return ActionResult(action, Outcome.DONE)

    def _delete_copy(self, action: ReconcileAction) -> ActionResult:
        photo_id, kept = action.photo_id, action.other
        assert photo_id is not None and kept is not None
        row = self._row(action)
        if row is not None and row.photo_id == photo_id:
            # The row's own item is the younger copy: the row takes the oldest first.
            if not self.journal.relink(row, kept, f"photo {kept} kept (the oldest copy)"):
                return self._moved_on(action)
        elif photo_id in self.journal.photo_ids():
            return self._moved_on(action)  # adopted meanwhile: it is somebody's item now
        self._delete_item(photo_id)
        return ActionResult(action, Outcome.DONE)

    def _delete_item(self, photo_id: str) -> None:
        try:
            self._call(lambda: self.client.photo_delete(photo_id), f"delete {photo_id}")
        except NotFound as exc:
            if exc.code != "no_such_photo":
                raise
            log.info("photo %s was gone already", photo_id)

    def _forget(self, action: ReconcileAction) -> ActionResult:
        row = self._row(action)
        if row is None or not self.journal.forget(
            row, None, "gone from disk and from the site: forgotten"
        ):
            return self._moved_on(action)
        return ActionResult(action, Outcome.DONE)

    def _changed(self, action: ReconcileAction) -> ActionResult:
        row = self._row(action)
        if row is None:
            return self._moved_on(action)
        if row.state is ItemState.FAILED and row.error_code == CONTENT_CHANGED:
            # Held by on_change = "report" earlier; the policy says otherwise now.
            if not self.journal.requeue(row, drop_item=False, detail=f"on_change: {action}"):
                return self._moved_on(action)
        elif row.state is ItemState.FAILED:
            return ActionResult(
                action, Outcome.REPORTED, f"failed earlier: {row.error_message or row.error_code}"
            )
        return self._queued(action, "queued for upload")

    def _upload(self, action: ReconcileAction) -> ActionResult:
        return self._queued(action, "queued for upload")


def settle_queued(
    results: list[ActionResult], rows_now: Mapping[str, FileRow], started_at: float
) -> None:
    """After the workers' burst: actions they were to carry out are done when their row is
    synced with the content and metadata it should have."""
    for result in results:
        action = result.action
        if result.outcome is not Outcome.NOT_LANDED or action.decision not in BY_WORKERS:
            continue
        row = rows_now.get(action.path)
        if row is None:
            continue
        landed = (
            row.state is ItemState.SYNCED
            and row.uploaded_sha256 == row.sha256
            and row.applied_digest == row.desired_digest
        )
        if landed and row.updated_at >= started_at:
            result.outcome, result.message = Outcome.DONE, f"photo {row.photo_id}"
        elif row.state is ItemState.FAILED:
            result.message = row.error_message or row.error_code or "failed"
