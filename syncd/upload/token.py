"""Uploads through an upload token: one whole-file redeem, or Resumable.js chunks.

The token, the Resumable identifier, the chunk size and the total are written
to the journal before the first byte is sent, and every acknowledged chunk is
committed as it is acknowledged. A restart therefore resumes with the same
token and identifier from the first chunk the site has not acknowledged.

No path leads to two items: a token is created with max_uploads=1, and before
a token is replaced (expired, refused) or an upload restarted, the site is
asked with photo/list?upload_token= whether the upload under it landed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from syncd.api.body import FileSlice
from syncd.api.client import Client
from syncd.errors import ApiError, ServerError, SyncdError, TransportError
from syncd.model import ChunkSession, FileRow, ItemState, Metadata, RemoteItem, UploadMode
from syncd.plan.upload import (
    Chunk,
    UploadPlan,
    chunk_count,
    chunk_layout,
    chunks_to_send,
    resumable_params,
    token_valid_minutes,
)
from syncd.upload.core import Outcome, Uploader, may_have_landed

log = logging.getLogger(__name__)

# A token this close to its end is not used for another chunk: a chunk sent
# with a token that expires in flight is refused and wasted.
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0


class ChunkRefused(TransportError):
    """A chunk answer other than 200 or 500: resend that chunk (spec section 6)."""

    def __init__(self, status: int, number: int) -> None:
        super().__init__(f"chunk {number} answered HTTP {status}; resending it")
        self.status = status


class UnsupportedFile(ApiError):
    """A chunk answered 500: the file type is unsupported; the upload is cancelled."""


class TokenLost(TransportError):
    """The token finished without an item, or expired: start over with a new token."""


# The redeem endpoint's answer to a token it no longer takes (unknown, expired, used up).
TOKEN_REFUSED_STATUS = 403
# What the redeem endpoint answers for a file (or chunk) it cannot take: cancel, not resend.
UNSUPPORTED_STATUS = 500


class TokenRefused(SyncdError):
    """The site refused the upload token itself: resending under it cannot help (not
    retryable); the caller asks whether it was used up by a landed upload, else replaces it."""

    def __init__(self, status: int, number: int) -> None:
        super().__init__(f"the site refused the upload token (chunk {number}: HTTP {status})")


def _parse_valid_until(value: object, fallback_minutes: int, now: float) -> float:
    """valid_until as epoch seconds; the platform's format is loosely documented."""
    text = str(value or "").strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return now + fallback_minutes * 60
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _new_identifier(sha256: str) -> str:
    """Unique per file and attempt, not guessable from size or path."""
    return f"syncd-{sha256[:16]}-{uuid.uuid4().hex}"


class TokenUpload:
    """One file's upload through a token; `run()` is one attempt (resumable)."""

    def __init__(
        self,
        up: Uploader,
        row: FileRow,
        plan: UploadPlan,
        meta: Metadata,
        meta_sig: str | None,
        *,
        chunk_concurrency: int,
        client_factory: Callable[[], Client],
    ) -> None:
        assert row.sha256, f"{row.path}: claimed without a hash"
        self.up = up
        self.row = row
        self.sha256 = row.sha256
        self.plan = plan
        self.meta = meta
        self.meta_sig = meta_sig
        self.chunked = plan.mode is UploadMode.CHUNKED
        self.chunk_size = plan.chunk_size
        self.chunk_concurrency = max(1, chunk_concurrency)
        self.client_factory = client_factory
        self.journal = up.journal
        self.filename = os.path.basename(row.path)

    # --- the site's truth ---------------------------------------------------

    def landed_by_token(self, client: Client, token: str) -> RemoteItem | None:
        page = client.photo_list(upload_token=token, include_unpublished_p="1")
        return page.items[0] if page.items else None

    def _retry(self, fn: Callable[[], object]) -> object:
        return self.up.retry(self.row, fn)

    # --- the session ----------------------------------------------------------

    def start_session(self) -> ChunkSession:
        fields = self.plan.fields
        minutes = token_valid_minutes(self.row.size, self.up.meter.rate)
        answer = self._retry(
            lambda: self.up.client.get_upload_token(
                **fields, valid_minutes=str(minutes), max_uploads="1"
            )
        )
        assert isinstance(answer, dict)
        token = str(answer["upload_token"])
        now = self.up.clock.time()
        size = self.chunk_size if self.chunked else max(1, self.row.size)
        self.journal.save_session(
            self.row.path,
            upload_token=token,
            identifier=_new_identifier(self.sha256),
            chunk_size=size,
            total_size=self.row.size,
            total_chunks=chunk_count(self.row.size, size),
            valid_until=_parse_valid_until(answer.get("valid_until"), minutes, now),
            sha256=self.sha256,
        )
        session = self.journal.session(self.row.path)
        assert session is not None
        log.info("%s: upload token valid for %d min", self.row.path, minutes)
        return session

    def expiring(self, session: ChunkSession) -> bool:
        if session.valid_until is None:
            return False
        return self.up.clock.time() > session.valid_until - TOKEN_EXPIRY_MARGIN_SECONDS

    # --- the whole upload ------------------------------------------------------

    def execute(self) -> Outcome:
        """Upload the row; each network step retries itself. Returns where it left the row."""
        up = self.up
        outer = up.guard(self.row)
        outcome = up.run_attempts(
            self.row, self.plan, self.run, outer, self.meta, self.meta_sig, retry=False
        )
        if outcome.state in (ItemState.UPLOADED, ItemState.SYNCED):
            self.journal.drop_session(self.row.path)
        return outcome

    # --- one attempt ----------------------------------------------------------

    def run(self) -> tuple[RemoteItem, bool]:
        client = self.up.client
        session = self.journal.session(self.row.path)
        if session is not None and session.sha256 not in (None, self.sha256):
            # The file changed since this session began: its token and acknowledged
            # chunks belong to other bytes. Whatever landed under it holds the old
            # content; the new content starts over.
            log.info("%s: content changed since the upload began; new upload", self.row.path)
            self.journal.drop_session(self.row.path)
            session = None
        if session is not None:
            # Resuming: the upload under this token may have completed already
            # (its answer lost, or we crashed after the last chunk).
            resumed_token = session.upload_token
            landed = self._retry(lambda: self.landed_by_token(client, resumed_token))
            if isinstance(landed, RemoteItem):
                return landed, True
            wanted_chunk = self.chunk_size if self.chunked else max(1, self.row.size)
            unsuited = not session.acked and session.chunk_size != wanted_chunk
            if self.expiring(session) or unsuited:
                # Nothing landed under it (checked above): a new token is safe.
                log.info("%s: token expired or unsuited; starting a new one", self.row.path)
                self.journal.drop_session(self.row.path)
                session = None
        elif self.row.attempts > 1:
            landed = self._retry(lambda: self.up.find_landed(self.sha256, path=self.row.path))
            if isinstance(landed, RemoteItem):
                return landed, True
        if session is None:
            session = self.start_session()
        else:
            self.up.progress.note(
                f"resuming {self.filename}: {len(session.acked)}/{session.total_chunks} chunks done"
            )
        try:
            self.send(session)
        except TokenRefused as exc:
            # Expired or used up on the site's side (our valid_until said otherwise).
            refused = session.upload_token
            landed = self._retry(lambda: self.landed_by_token(client, refused))
            if isinstance(landed, RemoteItem):
                return landed, True  # used up by our own upload whose answer was lost
            log.info("%s: %s; nothing landed under it, starting a new one", self.row.path, exc)
            self.journal.drop_session(self.row.path)
            session = self.start_session()
            try:
                self.send(session)
            except TokenRefused as again:
                self.journal.drop_session(self.row.path)
                raise TokenLost(f"{self.row.path}: {again}") from None
        landed = self._retry(lambda: self.landed_by_token(client, session.upload_token))
        if not isinstance(landed, RemoteItem):
            # Every chunk was acknowledged, yet no item: the token is no good.
            self.journal.drop_session(self.row.path)
            raise TokenLost(f"{self.row.path}: upload under token finished but no item appeared")
        return landed, False

    def send(self, session: ChunkSession) -> None:
        if self.chunked or session.acked:
            self.send_chunks(session)
        else:
            self.redeem_whole(session)

    def redeem_whole(self, session: ChunkSession) -> None:
        guard = self.up.guard(self.row)
        client = self.up.client
        state = {"maybe_landed": False}

        def attempt() -> None:
            if state["maybe_landed"] and self.landed_by_token(client, session.upload_token):
                return
            if self.expiring(session):
                raise TokenLost("upload token expired before the file was sent")
            guard.rollback()
            guard.check_unchanged()
            try:
                answer = client.redeem_upload_token(
                    session.upload_token, FileSlice(self.row.path, on_read=guard)
                )
            except ServerError as exc:
                if exc.status != UNSUPPORTED_STATUS:
                    state["maybe_landed"] = True
                    raise
                # The redeem endpoint answers 500 for a file it cannot take (as for a
                # chunk, spec section 6): resending the same bytes cannot help.
                if self.landed_by_token(client, session.upload_token):
                    return
                self.journal.drop_session(self.row.path)
                raise UnsupportedFile(
                    "error_processing_upload",
                    "the site could not process the file (HTTP 500 to the upload); not resent",
                    method="photo/redeem-upload-token",
                ) from None
            except SyncdError as exc:
                state["maybe_landed"] = state["maybe_landed"] or may_have_landed(exc)
                raise
            if answer.status == TOKEN_REFUSED_STATUS:
                raise TokenRefused(answer.status, 1)
            if answer.status != 200:
                raise ChunkRefused(answer.status, 1)

        self._retry(attempt)

    # --- chunks -----------------------------------------------------------------

    def _params(self, session: ChunkSession, chunk: Chunk) -> dict[str, str]:
        return resumable_params(
            chunk,
            chunk_size=session.chunk_size,
            total_size=session.total_size,
            total_chunks=session.total_chunks,
            identifier=session.identifier,
            filename=self.filename,
            relative_path=self.filename,
            content_type="application/octet-stream",
        )

    def send_chunks(self, session: ChunkSession) -> None:
        layout = chunk_layout(session.total_size, session.chunk_size)
        todo = chunks_to_send(layout, session.acked)
        done_bytes = sum(c.length for c in layout if c.number in session.acked)
        if done_bytes:
            self.up.progress.file_bytes(self.row.path, done_bytes)
        if session.acked and todo:
            todo = self.drop_stored(session, todo)
        if not todo:
            return
        if self.chunk_concurrency == 1:
            for chunk in todo:
                self.send_chunk(self.up.client, session, chunk)
            return
        self.send_parallel(session, todo)

    def drop_stored(self, session: ChunkSession, todo: list[Chunk]) -> list[Chunk]:
        """Ask the site (GET chunk test) about chunks that may have been in flight.

        Only the first `chunk_concurrency` unacknowledged chunks can have been
        sent without their acknowledgement reaching the journal. A site that
        does not answer the test costs one cheap request each.
        """
        stored: set[int] = set()
        for chunk in todo[: self.chunk_concurrency]:
            try:
                if self.up.client.test_chunk(session.upload_token, self._params(session, chunk)):
                    self.journal.ack_chunk(self.row.path, chunk.number)
                    self.up.progress.file_bytes(self.row.path, chunk.length)
                    stored.add(chunk.number)
            except TransportError as exc:
                log.debug("chunk test for %s failed (%s); sending it", chunk, exc)
        return [c for c in todo if c.number not in stored]

    def send_chunk(self, client: Client, session: ChunkSession, chunk: Chunk) -> None:
        guard = self.up.guard(self.row)
        params = self._params(session, chunk)

        def attempt() -> None:
            if self.expiring(session):
                raise TokenLost("upload token expired during the upload")
            guard.rollback()
            guard.check_unchanged()
            part = FileSlice(self.row.path, chunk.offset, chunk.length, on_read=guard)
            started = time.monotonic()
            status = client.redeem_chunk(session.upload_token, part, params)
            if status == 200:
                self.journal.ack_chunk(self.row.path, chunk.number)
                self.up.meter.record(chunk.length, time.monotonic() - started)
                return
            if status == UNSUPPORTED_STATUS:
                self.journal.drop_session(self.row.path)
                raise UnsupportedFile(
                    "unsupported_file",
                    f"the site refused chunk {chunk.number} with HTTP 500 (file type not"
                    " supported); upload cancelled",
                    method="photo/redeem-upload-token",
                )
            if status == TOKEN_REFUSED_STATUS:
                raise TokenRefused(status, chunk.number)
            raise ChunkRefused(status, chunk.number)

        try:
            self._retry(attempt)
        except BaseException:
            guard.rollback()
            raise

    def send_parallel(self, session: ChunkSession, todo: list[Chunk]) -> None:
        """`chunk_concurrency` chunks at once, each thread with its own client."""
        local = threading.local()
        clients: list[Client] = []
        lock = threading.Lock()

        def client() -> Client:
            if not hasattr(local, "client"):
                local.client = self.client_factory()
                with lock:
                    clients.append(local.client)
            return local.client

        def send(chunk: Chunk) -> None:
            # client() runs in the pool thread: a requests Session is not shared.
            self.send_chunk(client(), session, chunk)

        try:
            with ThreadPoolExecutor(self.chunk_concurrency, "syncd-chunk") as pool:
                futures = [pool.submit(send, c) for c in todo]
                wait(futures, return_when=FIRST_EXCEPTION)
                # After a failure, chunks not started yet are not started; those in
                # flight finish (their acknowledgements are kept for the resume).
                for f in futures:
                    f.cancel()
                for f in futures:
                    if not f.cancelled():
                        f.result()  # re-raises the first failure
        finally:
            for c in clients:
                c.close()


__all__ = ["ChunkRefused", "TokenLost", "TokenRefused", "TokenUpload", "UnsupportedFile"]
