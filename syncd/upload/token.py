"""Uploads through an upload token: one whole-file redeem, or Resumable.js chunks.

The token, the Resumable identifier, the chunk size and the total are written
to the journal before the first byte is sent, and every acknowledged chunk is
committed as it is acknowledged. A restart therefore resumes with the same
token and identifier from the first chunk the site has not acknowledged.

No path leads to two items: a token is created with max_uploads=1, and before
a token is replaced (expired, refused) or an upload restarted, the site is
asked with photo/list?upload_token= whether the upload under it landed (an answer
checked before it is believed: see LandedCheck).

Every token carries a `return_url` (the page requires one): the answer that completes the
upload (a whole-file redeem, or the last chunk) is then a redirect whose `Location` names
the new item's `photo_id`, or the site's `error_message`. That is what decides, never the
HTTP status (upload/redeem.py).
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

from syncd.api.client import Client, RedeemAnswer
from syncd.errors import ApiError, SyncdError, TransportError
from syncd.model import ChunkSession, FileRow, ItemState, Metadata, RemoteItem, UploadMode
from syncd.plan.identity import Expected
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
from syncd.upload.redeem import read_redeem_answer, return_url

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


# The sandbox's answer to a chunk under a token it no longer takes (unknown, expired, used
# up); the pages give none, so other answers lead to the same question to the site.
TOKEN_REFUSED_STATUS = 403
# What the redeem endpoint answers for a chunk it cannot take: cancel, not resend.
UNSUPPORTED_STATUS = 500


class TokenRefused(SyncdError):
    """The site did not take the upload under this token: resending under it cannot help
    (not retryable); the caller asks whether it was used up by a landed upload, else
    replaces it."""


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
        self.completed: RemoteItem | None = None  # named by the answer to the last chunk
        # Tokens this claim asked for, with this plan's title: an item under one of them
        # carries that title (a token resumed from an earlier claim may carry another).
        self.started: set[str] = set()

    # --- the site's truth ---------------------------------------------------

    def landed_by_token(self, session: ChunkSession) -> RemoteItem | None:
        """The item uploaded under the session's token (checked before it is believed)."""
        # The item cannot be older than the token.
        title = self.plan.fields.get("title") if session.upload_token in self.started else None
        expected = Expected(self.row.size, session.created_at, title)
        return self.up.landed.by_token(self.row, session.upload_token, expected)

    def _retry(self, fn: Callable[[], object]) -> object:
        return self.up.retry(self.row, fn)

    # --- the session ----------------------------------------------------------

    def start_session(self) -> ChunkSession:
        fields = self.plan.fields
        minutes = token_valid_minutes(self.row.size, self.up.meter.rate)
        answer = self._retry(
            lambda: self.up.client.get_upload_token(
                **fields,
                valid_minutes=str(minutes),
                max_uploads="1",
                return_url=return_url(self.up.client.site.base_url),
            )
        )
        assert isinstance(answer, dict)
        token = str(answer["upload_token"])
        self.started.add(token)
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
            resumed = session
            landed = self._retry(lambda: self.landed_by_token(resumed))
            if isinstance(landed, RemoteItem):
                return landed, True
            wanted_chunk = self.chunk_size if self.chunked else max(1, self.row.size)
            unsuited = not session.acked and session.chunk_size != wanted_chunk
            if self.expiring(session) or unsuited:
                # Nothing landed under it (checked above): a new token is safe.
                log.info("%s: token expired or unsuited; starting a new one", self.row.path)
                self.journal.drop_session(self.row.path)
                session = None
        elif self.up.ask_first or self.row.attempts > 1:
            earlier = self.row.attempts > 1
            landed = self._retry(lambda: self.up.find_landed(self.row, earlier_attempt=earlier))
            if isinstance(landed, RemoteItem):
                self.up.found_earlier(self.row, landed, earlier_attempt=earlier)
                return landed, True
        if session is None:
            session = self.start_session()
        else:
            self.up.progress.note(
                f"resuming {self.filename}: {len(session.acked)}/{session.total_chunks} chunks done"
            )
        try:
            item = self.send(session)
        except TokenRefused as exc:
            # Expired or used up on the site's side (our valid_until said otherwise).
            refused = session
            landed = self._retry(lambda: self.landed_by_token(refused))
            if isinstance(landed, RemoteItem):
                return landed, True  # used up by our own upload whose answer was lost
            log.info("%s: %s; nothing landed under it, starting a new one", self.row.path, exc)
            self.journal.drop_session(self.row.path)
            session = self.start_session()
            try:
                item = self.send(session)
            except TokenRefused as again:
                self.journal.drop_session(self.row.path)
                raise TokenLost(f"{self.row.path}: {again}") from None
        if item is None:
            # Every chunk was acknowledged, but no answer named the item: ask the site.
            done = session
            landed = self._retry(lambda: self.landed_by_token(done))
            if not isinstance(landed, RemoteItem):
                self.journal.drop_session(self.row.path)
                raise TokenLost(
                    f"{self.row.path}: upload under token finished but no item appeared"
                )
            item = landed
        return item, False

    def send(self, session: ChunkSession) -> RemoteItem | None:
        """Send what the site does not have yet; the item when an answer named it."""
        if self.chunked or session.acked:
            return self.send_chunks(session)
        return self.redeem_whole(session)

    def _refused_file(self, error: str) -> UnsupportedFile:
        """The site took the upload and could not process the file: not resent."""
        self.journal.drop_session(self.row.path)
        return UnsupportedFile(
            "error_processing_upload",
            f"the site could not process the file: {error}; not resent",
            method="photo/redeem-upload-token",
        )

    def redeem_whole(self, session: ChunkSession) -> RemoteItem | None:
        guard = self.up.guard(self.row)
        client = self.up.client
        state = {"maybe_landed": False}

        def attempt() -> RemoteItem | None:
            if state["maybe_landed"]:
                landed = self.landed_by_token(session)
                if landed is not None:
                    return landed
            if self.expiring(session):
                raise TokenLost("upload token expired before the file was sent")
            guard.rollback()
            guard.check_unchanged()
            try:
                answer = client.redeem_upload_token(session.upload_token, guard.body())
            except SyncdError as exc:
                # A 5xx is a transport fault here (a proxy may answer it after the site
                # stored the upload): asked about, then resent; never taken as a refusal.
                state["maybe_landed"] = state["maybe_landed"] or may_have_landed(exc)
                raise
            return self._completed(session, answer)

        result = self._retry(attempt)
        assert result is None or isinstance(result, RemoteItem)
        return result

    def _completed(self, session: ChunkSession, answer: RedeemAnswer) -> RemoteItem | None:
        """The answer to a whole-file redeem, by what it documents."""
        outcome = read_redeem_answer(answer.status, answer.location, answer.text)
        if outcome.item is not None:
            return outcome.item
        if outcome.error is not None:
            raise self._refused_file(outcome.error)
        # No redirect: the "plain, unstyled error message" of a token the site no longer
        # takes, or an answer nobody documented. Whether the upload landed, the site says.
        landed = self.landed_by_token(session)
        if landed is not None:
            return landed
        raise TokenRefused(f"the site did not take the upload under its token ({outcome.text})")

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

    def send_chunks(self, session: ChunkSession) -> RemoteItem | None:
        """Send the chunks not acknowledged; the item when the last answer named it."""
        layout = chunk_layout(session.total_size, session.chunk_size)
        todo = chunks_to_send(layout, session.acked)
        done_bytes = sum(c.length for c in layout if c.number in session.acked)
        if done_bytes:
            self.up.progress.file_bytes(self.row.path, done_bytes)
        if session.acked and todo:
            todo = self.drop_stored(session, todo)
        self.completed = None
        if not todo:
            return None
        if self.chunk_concurrency == 1:
            for chunk in todo:
                self.send_chunk(self.up.client, session, chunk)
        else:
            self.send_parallel(session, todo)
        return self.completed

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
            part = guard.body(chunk.offset, chunk.length)
            started = time.monotonic()
            answer = client.redeem_chunk_answer(session.upload_token, part, params)
            status = answer.status
            if status == 200 or (300 <= status < 400 and answer.location):
                # The chunk that completes the file is answered like a whole-file redeem:
                # a redirect naming the item (or the site's error).
                outcome = read_redeem_answer(status, answer.location, answer.text)
                if outcome.error is not None:
                    raise self._refused_file(outcome.error)
                self.journal.ack_chunk(self.row.path, chunk.number)
                self.up.meter.record(chunk.length, time.monotonic() - started)
                if outcome.item is not None:
                    self.completed = outcome.item
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
                raise TokenRefused(
                    f"the site refused the upload token (chunk {chunk.number}: HTTP {status})"
                )
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
