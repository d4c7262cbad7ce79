"""What a worker does with one claimed piece of work.

- An upload: work out the desired metadata and album ids, plan (`plan_upload`), and let
  the upload executor follow the plan; what happens is written to the journal by the
  executor itself.
- A metadata update: work out the desired metadata, plan (`plan_metadata`: only the parts
  the site lacks), and let the metadata executor send them; or record that the site
  already has it, or defer it with the reason.
"""

from __future__ import annotations

import logging

from syncd.api.client import Client
from syncd.errors import ApiError, Interrupted, NotFound, SidecarError, SyncdError
from syncd.metadata.apply import MetadataApplier
from syncd.model import BAD_SIDECAR, FileRow, ItemState
from syncd.pipeline.context import RunContext
from syncd.plan.metadata import fields_due, plan_metadata
from syncd.plan.upload import plan_upload
from syncd.text import printable
from syncd.upload import Uploader, upload_file

log = logging.getLogger(__name__)


class WorkerTools:
    """One worker's own client and executors (a Client serves one thread only)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.client: Client = ctx.client_factory()
        self.uploader = Uploader(
            ctx.journal,
            self.client,
            owner=ctx.owner,
            clock=ctx.clock,
            stop=ctx.lifecycle.stop,
            throttle=ctx.throttle,
            retrier=ctx.retrier,
            progress=ctx.progress,
            meter=ctx.meter,
            landed=ctx.landed,
            fields=ctx.fields,
            ask_first=ctx.ask_first,
            check_copies=ctx.check_copies,
        )
        self.applier = MetadataApplier(
            ctx.journal, self.client, owner=ctx.owner, progress=ctx.progress, retrier=ctx.retrier
        )

    def close(self) -> None:
        self.client.close()


def run_upload(tools: WorkerTools, row: FileRow) -> ItemState:
    """Upload one claimed row; returns where it left the row. Re-raises only what stops the
    worker (Interrupted) or the run (bad credentials), after releasing the row."""
    ctx, up = tools.ctx, tools.uploader
    sig: str | None = None
    try:
        view = ctx.sources()
        sig = ctx.signature(row, view)  # kept for the failure, should the metadata be unreadable
        meta, sig = ctx.desired(row, view, signed=sig)
        album_ids: dict[str, str] = {}
        if meta.albums:  # most files have none: no retry machinery, no shared lock
            album_ids = up.retry(row, lambda: ctx.albums.resolve(tools.client, meta.albums))
        plan = plan_upload(
            row, ctx.journal.session(row.path), meta, album_ids, ctx.upload_settings(row)
        )
        ctx.warn_joined_tags(meta)
        outcome = upload_file(
            up,
            row,
            plan,
            meta,
            sig,
            chunk_concurrency=ctx.config.upload.chunk_concurrency,
            client_factory=ctx.client_factory,
        )
    except Exception as exc:
        outcome = up.settle(row, exc, meta_sig=sig)
    return outcome.state


def run_metadata(tools: WorkerTools, row: FileRow) -> ItemState | None:
    """Bring one claimed item's metadata in line; returns its new state (None: deferred or
    taken by someone else meanwhile)."""
    ctx = tools.ctx
    policy = ctx.retrier.policy
    try:
        meta, sig = ctx.desired(row)
        digest = meta.digest()
        if row.state is ItemState.SYNCED and digest == row.applied_digest:
            # The scan's idea of the metadata was stale; the site already has this.
            ctx.journal.finish_metadata(
                row, ctx.owner, digest=digest, meta_sig=sig, detail="metadata already applied"
            )
            return ItemState.SYNCED
        album_ids: dict[str, str] = {}
        if meta.albums and fields_due(row, meta):  # a chapter edit asks nothing of albums
            album_ids = tools.uploader.retry(
                row, lambda: ctx.albums.resolve(tools.client, meta.albums)
            )
        plan = plan_metadata(row, meta, album_ids, tag_joiner=ctx.config.upload.tag_word_joiner)
        ctx.warn_joined_tags(meta)
        done = tools.applier.apply(row, plan, digest, sig)  # each call retried on its own
        if done and plan.fields is not None:
            # photo/update does not document publish_date: read back, or said plainly.
            ctx.fields.after_update(row, plan.fields, tools.uploader.read_back(row))
        if done:
            _keep_an_edit_made_meanwhile(ctx, row.path, digest, sig)
    except Interrupted:
        ctx.journal.release_lease(row.path, ctx.owner)
        raise
    except SidecarError as exc:
        # Nothing to send until the sidecar is fixed; the scan notices the fix and the
        # next try comes at once. Until then the item keeps its last applied metadata.
        _defer(ctx, row, policy.park_max, BAD_SIDECAR, str(exc), row.parks)
        return None
    except NotFound as exc:
        if exc.code != "no_such_photo":
            _defer(ctx, row, policy.park_max, exc.code, str(exc), row.parks + 1)
            return None
        ctx.journal.transition(
            row.path,
            row.state,
            ItemState.REMOTE_MISSING,
            owner=ctx.owner,
            detail=f"photo {row.photo_id} is gone from the site ({exc.code})",
            error_code=exc.code,
            error_message=str(exc),
        )
        ctx.progress.file_finished(row.path, "remote_missing", str(exc))
        return ItemState.REMOTE_MISSING
    except SyncdError as exc:
        if exc.stops_run:
            ctx.journal.release_lease(row.path, ctx.owner)
            raise
        rounds = row.parks + 1
        delay = policy.park_delay(rounds) if exc.retryable else policy.park_max
        code = exc.code if isinstance(exc, ApiError) else type(exc).__name__
        _defer(ctx, row, delay, code, str(exc), rounds)
        ctx.progress.note(f"metadata not applied for {printable(row.path)}: {exc}")
        return None
    except Exception as exc:  # a bug: this item waits, the run goes on
        log.exception("%s: internal error while applying metadata", printable(row.path))
        _defer(ctx, row, policy.park_max, "internal_error", f"internal error: {exc!r}", row.parks)
        return None
    if done:
        ctx.progress.file_finished(row.path, "updated", f"metadata of photo {row.photo_id}")
        return ItemState.SYNCED
    return None


def _keep_an_edit_made_meanwhile(ctx: RunContext, path: str, applied: str, sig: str) -> None:
    """A source edited while the update ran (a sidecar rewritten mid-apply): record the new
    desire now, so the row stays due and the edit is sent next. The watch feed records it
    too when it looks after the edit; this does not depend on the order of its look and
    the finish."""
    current = ctx.journal.get(path)
    if current is None or current.state is not ItemState.SYNCED:
        return
    try:
        meta, now_sig = ctx.desired(current)
    except SidecarError as exc:
        now_sig = ctx.signature(current)
        if now_sig != sig:
            ctx.journal.set_desired(current, None, now_sig, problem=str(exc))
        return
    if now_sig != sig and meta.digest() != applied:
        ctx.journal.set_desired(current, meta.digest(), now_sig)


def _defer(
    ctx: RunContext, row: FileRow, delay: float, code: str, message: str, parks: int
) -> None:
    if not ctx.journal.defer_metadata(
        row, ctx.owner, delay=delay, code=code, message=message, parks=parks
    ):
        log.debug("%s: changed while its metadata was applied", printable(row.path))
