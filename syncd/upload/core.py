"""The upload executor's shared machinery: retry policy, transfer guard, outcomes.

A worker hands `Uploader.upload` a claimed journal row (state `uploading`),
the desired metadata and the album ids. The uploader streams the file (direct,
or through an upload token, whole or in chunks), retries transport faults, and
before any attempt whose predecessor may have landed asks the site whether it
did. It writes the outcome to the journal itself; nothing is handed on in
memory only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from syncd.api.body import MAX_READ_BLOCK, FileSlice
from syncd.api.client import Client
from syncd.clock import Clock
from syncd.errors import (
    ApiError,
    Held,
    Interrupted,
    LocalFileError,
    NotFound,
    SidecarError,
    SyncdError,
    TransportError,
)
from syncd.journal import Journal
from syncd.model import (
    BAD_SIDECAR,
    FileRow,
    FileVersion,
    ItemState,
    Metadata,
    RemoteItem,
)
from syncd.plan.identity import Expected
from syncd.plan.metadata import uploaded_parts
from syncd.plan.upload import UploadPlan
from syncd.progress import ProgressSink
from syncd.retry import Retrier, RetryPolicy
from syncd.text import printable
from syncd.throttle import RateMeter, Throttle
from syncd.upload.confirm import FieldCheck
from syncd.upload.landed import LandedCheck

log = logging.getLogger(__name__)

T = TypeVar("T")


def may_have_landed(exc: Exception) -> bool:
    """Could the request that failed with `exc` have created the item anyway?

    Only a transport fault known to have sent nothing (refused connection, a cut
    while the body was still going out, a 429) is safe to resend blindly. An
    answer we could not read, a timeout or a 5xx may follow a stored upload.
    """
    if isinstance(exc, TransportError):
        return exc.ambiguous
    return isinstance(exc, SyncdError) and exc.retryable


class TransferGuard:
    """Called for every block read from disk before it is sent.

    It stops a transfer when the run is stopping, when the file changed under
    us (size or mtime differ from what was hashed: never send half-old,
    half-new), applies the bandwidth limit and reports progress.
    """

    def __init__(
        self,
        row: FileRow,
        *,
        stop: threading.Event,
        throttle: Throttle,
        progress: ProgressSink,
    ) -> None:
        self.row = row
        self._stop = stop
        self._throttle = throttle
        self._progress = progress
        self.sent = 0

    def check_unchanged(self) -> None:
        try:
            st = os.stat(self.row.path)
        except FileNotFoundError:
            # Gone is a failure the operator should see, not a silent re-queue.
            raise LocalFileError(self.row.path, "file disappeared before it was uploaded") from None
        if not FileVersion.of(st).same_as(self.row.version):
            raise LocalFileError(
                self.row.path,
                "file changed while being uploaded (size, mtime or inode differ); re-queued",
                requeue=True,
            )

    def __call__(self, nbytes: int) -> None:
        if self._stop.is_set():
            raise Interrupted("stopping: transfer abandoned")
        self.check_unchanged()
        self._throttle.consume(nbytes)
        self.sent += nbytes
        self._progress.file_bytes(self.row.path, nbytes)

    def body(self, offset: int = 0, length: int | None = None) -> FileSlice:
        """The file (or one chunk of it) for one attempt, read through this guard, in
        blocks the bandwidth limit can pace smoothly."""
        return FileSlice(
            self.row.path,
            offset,
            length,
            on_read=self,
            block_size=self._throttle.block_size(MAX_READ_BLOCK),
        )

    def rollback(self) -> None:
        """The attempt failed: its bytes will be sent again."""
        if self.sent:
            self._progress.file_bytes(self.row.path, -self.sent)
            self.sent = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an upload left its row, and whether it found an earlier landed copy."""

    state: ItemState
    found_existing: bool = False


class Uploader:
    """Uploads claimed rows. One instance per worker thread (it holds a Client); the run's
    throttle, retrier (with its rate gate and stop flag) and rate meter are shared."""

    def __init__(
        self,
        journal: Journal,
        client: Client,
        *,
        owner: str,
        clock: Clock,
        stop: threading.Event,
        throttle: Throttle,
        retrier: Retrier,
        progress: ProgressSink,
        meter: RateMeter,
        landed: LandedCheck,
        fields: FieldCheck,
        ask_first: bool = True,
        check_copies: bool = True,
    ) -> None:
        self.meter = meter
        self.landed = landed
        self.fields = fields
        # Ask the site before a file's first upload (see LandedCheck), and look for a copy
        # uploaded at the same moment by another host right after it.
        self.ask_first = ask_first
        self.check_copies = check_copies
        self.journal = journal
        self.client = client
        self.owner = owner
        self.clock = clock
        self.stop = stop
        self.throttle = throttle
        self.retrier = retrier
        self.progress = progress

    @property
    def policy(self) -> RetryPolicy:
        return self.retrier.policy

    # --- the remote side's truth ------------------------------------------

    def guard(self, row: FileRow) -> TransferGuard:
        """A transfer guard for one attempt (or one chunk) of `row`."""
        return TransferGuard(row, stop=self.stop, throttle=self.throttle, progress=self.progress)

    def find_landed(
        self, row: FileRow, *, earlier_attempt: bool, sent_title: str | None = None
    ) -> RemoteItem | None:
        """The item on the site that holds this row's content (by identity marker), or None.

        `earlier_attempt`: an attempt of ours may have stored it (then the item cannot be
        older than the row). `sent_title`: the title every such attempt sent, when that is
        certain (see syncd.plan.identity). Raises Held when the answer cannot be believed."""
        expected = Expected(
            row.size,
            row.created_at if earlier_attempt else None,
            sent_title if earlier_attempt else None,
        )
        return self.landed.by_marker(row, expected, earlier_attempt=earlier_attempt)

    def found_earlier(self, row: FileRow, item: RemoteItem, *, earlier_attempt: bool) -> None:
        """Say that the file's content was found on the site (not uploaded again)."""
        how = "earlier attempt landed as" if earlier_attempt else "already on the site as"
        log.info("%s: %s photo %s", printable(row.path), how, item.photo_id)
        self.progress.note(f"found earlier upload of {printable(row.path)}: photo {item.photo_id}")

    # --- retries --------------------------------------------------------------

    def retry(self, row: FileRow, fn: Callable[[], T]) -> T:
        """`fn()` under the run's retry engine (gate, back-off, stop flag)."""
        return self.retrier(fn, what=printable(os.path.basename(row.path)))

    # --- one file --------------------------------------------------------------

    def run_attempts(
        self,
        row: FileRow,
        plan: UploadPlan,
        attempt: Callable[[], tuple[RemoteItem, bool]],
        guard: TransferGuard,
        meta: Metadata,
        meta_sig: str | None,
        *,
        retry: bool = True,
    ) -> Outcome:
        """Run `attempt` (under the retry engine unless it retries its own steps), then the
        plan's follow-up update, and record the outcome in the journal."""
        self.progress.file_started(row.path, row.size)
        started = time.monotonic()
        try:
            item, found = self.retry(row, attempt) if retry else attempt()
        except Exception as exc:
            guard.rollback()
            return self.settle(row, exc)
        note = " (earlier attempt landed)" if found else ""
        if not found:
            self.meter.record(row.size, time.monotonic() - started)
            mine = item
            item = self._copies(row, item)
            if item is not mine:
                found, note = True, f" (an earlier copy; ours was photo {mine.photo_id})"
        # An upload that carried every piece of metadata is done in one step; a second
        # album follows at once as the plan says. An earlier copy found on the site gets
        # all of its metadata from the metadata stage (it may predate a sidecar edit).
        carried = not found and self.follow_up(row, plan, item)
        # Chapters, coordinates and a thumbnail have methods of their own: the metadata
        # stage sends them (an upload carrying none of them is done here).
        parts, complete = uploaded_parts(meta)
        done = carried and complete
        # What the upload sent but the site may have dropped (publish_date) is read back.
        unconfirmed = None
        if carried:
            unconfirmed = self.fields.after_upload(row, plan, item, self.read_back(row))
        if unconfirmed:
            note += f"; {unconfirmed}"
        to = self.record_landed(
            row,
            item,
            meta,
            meta_sig,
            done=done,
            applied_parts=parts.dumps() if carried else None,
            detail=f"photo_id {item.photo_id}{note}",
        )
        return Outcome(to, found_existing=found)

    def record_landed(
        self,
        row: FileRow,
        item: RemoteItem,
        meta: Metadata,
        meta_sig: str | None,
        *,
        done: bool,
        applied_parts: str | None,
        detail: str,
    ) -> ItemState:
        """The site holds the row's content as `item`: `uploading` -> `synced` when every
        part of `meta` went with it (`done`), else `uploaded` for the metadata stage.
        Returns the state recorded."""
        digest = meta.digest()
        to = ItemState.SYNCED if done else ItemState.UPLOADED
        self.journal.transition(
            row.path,
            ItemState.UPLOADING,
            to,
            owner=self.owner,
            detail=detail,
            photo_id=item.photo_id,
            desired_digest=digest,
            applied_digest=digest if done else None,
            applied_parts=applied_parts,
            meta_sig=meta_sig,
            parks=0,
            error_code=None,
            error_message=None,
        )
        if done:
            self.progress.file_finished(row.path, "synced", item.photo_id)
        return to

    def _copies(self, row: FileRow, own: RemoteItem) -> RemoteItem:
        """The item to record after uploading `own`: an older copy of the same content
        when another host uploaded it too (ours is then deleted). A failure to look (a
        stop included) is not the file's failure: ours is certainly ours."""
        if not self.check_copies:
            return own
        try:
            older = self.retry(row, lambda: self.landed.older_copy(row, own, Expected(row.size)))
        except SyncdError as exc:
            # Not even a stop or refused credentials may lose the record of what landed:
            # ours is recorded; the run stops (or fails again) at its next request.
            log.warning(
                "%s: uploaded as photo %s; could not look for copies from other hosts: %s",
                printable(row.path),
                own.photo_id,
                exc,
            )
            return own
        if older is None:
            return own
        # The older copy is recorded whatever happens to ours: a delete that fails leaves a
        # duplicate, never a record of an item that may be gone.
        try:
            self.retry(row, lambda: self._delete(own.photo_id))
        except SyncdError as exc:
            log.warning(
                "%s: photo %s holds the same content, uploaded earlier; our copy, photo %s, "
                "could not be deleted (%s): delete it on the site",
                printable(row.path),
                older.photo_id,
                own.photo_id,
                exc,
            )
            return older
        log.info(
            "%s: photo %s holds the same content, uploaded earlier (another host?); "
            "recorded it and deleted our copy, photo %s",
            printable(row.path),
            older.photo_id,
            own.photo_id,
        )
        return older

    def _delete(self, photo_id: str) -> None:
        try:
            self.client.photo_delete(photo_id)
        except NotFound as exc:
            if exc.code != "no_such_photo":
                raise
            # Gone already: an earlier try of this delete did it and its answer was lost.

    def read_item(self, photo_id: str) -> RemoteItem | None:
        """The item as photo/list shows it (None: not listed), signed, never from a cache."""
        page = self.client.photo_list(photo_id=photo_id, include_unpublished_p="1")
        # A site that ignores the photo_id filter answers other items: only ours counts.
        return next((i for i in page.items if i.photo_id == photo_id), None)

    def read_back(self, row: FileRow) -> Callable[[str], RemoteItem | None]:
        """read_item under the retry engine, for reading back what was sent."""
        return lambda photo_id: self.retry(row, lambda: self.read_item(photo_id))

    def follow_up(
        self, row: FileRow, plan: UploadPlan, item: RemoteItem, *, after: str = "uploaded"
    ) -> bool:
        """The plan's photo/update after the upload (or replacement: `after` says which, in
        the warning); False leaves it to the metadata stage (the item exists either way:
        nothing is uploaded again)."""
        follow_up = plan.follow_up
        if follow_up is None:
            return True
        try:
            self.retry(row, lambda: self.client.photo_update(item.photo_id, **follow_up))
        except SyncdError as exc:
            if exc.stops_run or isinstance(exc, Interrupted):
                raise
            log.warning("%s: %s; follow-up update failed: %s", printable(row.path), after, exc)
            return False
        return True

    def settle(self, row: FileRow, exc: Exception, *, meta_sig: str | None = None) -> Outcome:
        """Record in the journal what an error means for a claimed row.

        Re-raises what must stop this worker (a stop request) or the whole
        run (credentials), after putting the row back where it can resume.
        Anything else fails or parks this file only: one bad file never takes
        the run down.
        """
        if isinstance(exc, Interrupted):
            self.release(row, ItemState.READY, "interrupted; will resume")
            raise exc
        if isinstance(exc, SyncdError) and exc.stops_run:
            self.release(row, ItemState.READY, f"run stopped: {exc}")
            raise exc
        if isinstance(exc, LocalFileError):
            if exc.requeue:
                self.release(row, ItemState.PENDING, exc.message)
                return Outcome(ItemState.PENDING)
            return self.fail(row, "local_file", exc.message)
        if isinstance(exc, OSError):  # opening or reading the file failed
            return self.fail(
                row, "unreadable", f"{printable(row.path)}: cannot read: {exc.strerror or exc}"
            )
        if isinstance(exc, Held):
            log.warning("%s", exc)
            return self.fail(row, Held.code, str(exc))
        if isinstance(exc, SidecarError):
            # The signature of the sources lets the scan see the fix and queue it again.
            return self.fail(row, BAD_SIDECAR, str(exc), meta_sig=meta_sig)
        if isinstance(exc, ApiError):
            return self.fail(row, exc.code, str(exc))
        if isinstance(exc, SyncdError) and exc.retryable:
            return self.park(row, exc)
        if isinstance(exc, SyncdError):
            return self.fail(row, type(exc).__name__, str(exc))
        log.exception("%s: internal error", printable(row.path))
        return self.fail(row, "internal_error", f"internal error: {exc!r} (a bug; please report)")

    def park(self, row: FileRow, exc: SyncdError) -> Outcome:
        """Retryable, but this round's attempts are spent: wait in `retry`."""
        rounds = row.parks + 1
        delay = self.policy.park_delay(rounds)
        if exc.retry_after:
            delay = max(delay, self.policy.capped_retry_after(exc.retry_after, "parking"))
        self.journal.transition(
            row.path,
            ItemState.UPLOADING,
            ItemState.RETRY,
            owner=self.owner,
            detail=f"parked {delay:.0f} s after round {rounds}: {exc}",
            error_code=type(exc).__name__,
            error_message=str(exc),
            next_attempt_at=self.clock.time() + delay,
            parks=rounds,
        )
        self.progress.file_finished(row.path, "retry", str(exc))
        return Outcome(ItemState.RETRY)

    def release(self, row: FileRow, to: ItemState, detail: str) -> None:
        """Give a claimed row back (to `ready` or `pending`) without failing it."""
        # A stop error passes through settle() twice (uploader, then worker): report once.
        if self.journal.transition(
            row.path, ItemState.UPLOADING, to, owner=self.owner, detail=detail
        ):
            self.progress.file_finished(row.path, to.value, detail)

    def fail(
        self, row: FileRow, code: str, message: str, *, meta_sig: str | None = None
    ) -> Outcome:
        self.journal.transition(
            row.path,
            ItemState.UPLOADING,
            ItemState.FAILED,
            owner=self.owner,
            detail=message,
            error_code=code,
            error_message=message,
            meta_sig=meta_sig,
        )
        self.progress.file_finished(row.path, "failed", message)
        return Outcome(ItemState.FAILED)
