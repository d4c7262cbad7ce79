"""Resumable.js upload sessions on disk: one preallocated (sparse) file per session that each
chunk is written into at its offset, and a sha256 kept over the contiguous prefix received.

A chunk that starts exactly where the hashed prefix ends is hashed while it streams in (the
common, in-order case), so completing the upload needs neither a copy nor a re-hash. Chunks
that arrive ahead of the prefix are hashed by reading them back once the gap before them
fills. The hash state lives in memory only: after a restart the prefix starts again at 0 and
is re-read from the file (correct first, fast in the common case).

Which request may write a chunk's region: only one at a time (a "claim"), and never once the
chunk is recorded as received, so a duplicate can neither change stored bytes nor the hash.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.sandbox.multipart import UploadedFile
from syncd.sandbox.state import Record, State

# Bytes per read when hashing back chunks that were not hashed while they streamed in, and
# per copy of a chunk that arrived in a temporary file.
READBACK_BLOCK = 4 << 20
# Seconds a copy of a chunk waits while another request is still writing that chunk.
CLAIM_WAIT_SECONDS = 60.0
# Key of the store in State.scratch (in-memory helpers, emptied by State.reset()).
SCRATCH_KEY = "chunk_store"


class ChunkBusy(Exception):
    """Another request kept writing the same chunk for longer than CLAIM_WAIT_SECONDS."""


class SessionGone(Exception):
    """The sandbox was reset while the chunk was being received; its bytes are gone."""


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk's place in its file, from the Resumable.js parameters."""

    ident: str
    number: int
    chunk_size: int
    total_size: int
    total_chunks: int
    expected: int  # this chunk's size in bytes

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.chunk_size


def _positive(params: Mapping[str, str], name: str, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise ValueError(f"parameter {name} is required for a chunk")
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"parameter {name} must be a positive integer, got {raw[:20]!r}")
    return int(raw)


def parse_spec(params: Mapping[str, str]) -> ChunkSpec:
    """Check the Resumable.js arithmetic; ValueError naming the contradiction."""
    number = _positive(params, "resumableChunkNumber")
    chunk_size = _positive(params, "resumableChunkSize")
    total_size = _positive(params, "resumableTotalSize")
    assert number is not None and chunk_size is not None and total_size is not None
    given_total = _positive(params, "resumableTotalChunks", required=False)
    given_current = _positive(params, "resumableCurrentChunkSize", required=False)
    ident = params.get("resumableIdentifier") or ""
    if not ident or len(ident) > 200:
        raise ValueError("parameter resumableIdentifier is required (1..200 characters)")
    total_chunks = max(1, total_size // chunk_size)
    if given_total is not None and given_total != total_chunks:
        raise ValueError(
            f"resumableTotalChunks={given_total} contradicts "
            f"max(1, floor({total_size}/{chunk_size}))={total_chunks}"
        )
    if number > total_chunks:
        raise ValueError(f"chunk number {number} is beyond the last chunk ({total_chunks})")
    last = total_size - (total_chunks - 1) * chunk_size
    expected = chunk_size if number < total_chunks else last
    if given_current is not None and given_current != expected:
        raise ValueError(
            f"resumableCurrentChunkSize={given_current} but chunk {number} must be {expected} bytes"
        )
    return ChunkSpec(ident, number, chunk_size, total_size, total_chunks, expected)


@dataclass
class Progress:
    """One session's in-memory state. `prefix` = (bytes hashed, hasher over them); it is
    replaced, never mutated, so a reader can copy the hasher without a lock."""

    path: Path
    prefix: tuple[int, Any] = field(default_factory=lambda: (0, hashlib.sha256()))
    # offset -> (end, hasher over [0, end)) of chunks hashed while streaming, not yet adopted.
    pending: dict[int, tuple[int, Any]] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)  # chunk numbers being written right now
    hash_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PlacedChunk(UploadedFile):
    """A chunk written straight into its session file (`path`); discard() never deletes it."""

    store: Any = None
    key: str = ""
    prog: Progress | None = None
    spec: ChunkSpec | None = None
    fd: int = -1
    hasher: Any = None  # over [0, offset + size) when the chunk streamed in at the prefix
    released: bool = False

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self.released:
            self.store.release(self)


class _InPlaceSink:
    """Writes a chunk's bytes at its offset (never past its end), hashing them when the
    chunk starts where the hashed prefix ends."""

    def __init__(self, result: PlacedChunk) -> None:
        self.result = result
        assert result.prog is not None and result.spec is not None
        self._offset = result.spec.offset
        self._limit = result.spec.expected
        end, hasher = result.prog.prefix
        self._hasher = hasher.copy() if end == self._offset else None

    def write(self, data: memoryview) -> None:
        pos = self.result.size
        self.result.size += len(data)
        room = self._limit - pos
        if room <= 0:  # too long: the handler refuses it; never touch the next chunk
            return
        data = data[:room]
        if self._hasher is not None:
            self._hasher.update(data)
        _pwrite_all(self.result.fd, data, self._offset + pos)

    def close(self) -> None:
        os.close(self.result.fd)
        self.result.fd = -1
        if self.result.size == self._limit:
            self.result.hasher = self._hasher


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def _open_sized(path: Path, size: int) -> int:
    """Open (creating) a session file, extended to `size` (sparse); never shrunk here."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ChunkStore:
    """The chunk sessions of one State. Session records (sizes, received chunk numbers)
    persist in State's "sessions" table; files in chunks/; hash progress in memory."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.cond = threading.Condition(state.lock)  # guards progress and claims
        self.progress: dict[str, Progress] = {}

    def path(self, key: str) -> Path:
        return self.state.chunks_dir / (hashlib.sha1(key.encode()).hexdigest() + ".data")

    def _progress(self, key: str) -> Progress:
        prog = self.progress.get(key)
        if prog is None:
            prog = self.progress[key] = Progress(self.path(key))
        return prog

    # -- receiving ---------------------------------------------------------------------------
    def open_in_place(
        self, key: str, spec: ChunkSpec, part: str, filename: str, ctype: str
    ) -> _InPlaceSink | None:
        """A sink writing this chunk into its session file, or None when it must not (already
        received, being written by another request, or contradicting the session)."""
        with self.cond:
            session = self.state.get("sessions", key)
            if session is not None and (
                session["chunk_size"] != spec.chunk_size
                or session["total_size"] != spec.total_size
                or session["completed_photo_id"] is not None
                or spec.number in session["received"]
            ):
                return None
            prog = self._progress(key)
            if spec.number in prog.claimed:
                return None
            prog.claimed.add(spec.number)
        result = PlacedChunk(part, filename, prog.path, 0, "", ctype, None, self, key, prog, spec)
        try:
            result.fd = _open_sized(prog.path, spec.total_size)
            return _InPlaceSink(result)
        except BaseException:
            result.discard()
            raise

    def release(self, placed: PlacedChunk) -> None:
        with self.cond:
            placed.released = True
            if placed.prog is not None and placed.spec is not None:
                placed.prog.claimed.discard(placed.spec.number)
            self.cond.notify_all()

    def accept(
        self, key: str, spec: ChunkSpec, f: UploadedFile, new_session: Callable[[], Record]
    ) -> tuple[Record, bool]:
        """Record a chunk of the right size as received (a duplicate's bytes are ignored);
        returns (session, complete) where complete means this request must finish the file."""
        placed = f if isinstance(f, PlacedChunk) and f.spec == spec and f.key == key else None
        hasher = None
        if placed is None:
            placed, hasher = self._copy_in(key, spec, f)
            if placed is None:  # a duplicate of a received chunk
                with self.cond:
                    session = self.state.get("sessions", key) or new_session()
                    return session, self._complete(key, session)
        else:
            hasher = placed.hasher
        with self.cond:
            placed.released = True
            prog = placed.prog
            assert prog is not None
            prog.claimed.discard(spec.number)
            self.cond.notify_all()
            current = self.state.scratch.get(SCRATCH_KEY) is self
            if not current or self.progress.get(key) is not prog:
                raise SessionGone("the sandbox was reset while the chunk was being received")
            session = self.state.get("sessions", key) or new_session()
            if spec.number not in session["received"]:
                session["received"].append(spec.number)
                if hasher is not None:
                    prog.pending[spec.offset] = (spec.offset + spec.expected, hasher)
            complete = self._complete(key, session)
        self.advance(key)
        return session, complete

    def _complete(self, key: str, session: Record) -> bool:
        """Mark the session as assembling when every chunk is in. Caller holds the lock."""
        complete = (
            len(session["received"]) == session["total_chunks"]
            and not session["assembling"]
            and session["completed_photo_id"] is None  # a resend racing the completion
        )
        if complete:
            session["assembling"] = True
        self.state.put("sessions", key, session)
        return complete

    def _copy_in(
        self, key: str, spec: ChunkSpec, f: UploadedFile
    ) -> tuple[PlacedChunk | None, Any]:
        """Copy a chunk that arrived in a temporary file into its region, once no other
        request is writing that chunk. (None, None) when it is already received."""
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        with self.cond:
            while True:
                session = self.state.get("sessions", key)
                if session is not None and spec.number in session["received"]:
                    return None, None
                prog = self._progress(key)
                if spec.number not in prog.claimed:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChunkBusy(f"chunk {spec.number} is being received by another request")
                self.cond.wait(left)
            prog.claimed.add(spec.number)
            end, prefix = prog.prefix
        placed = PlacedChunk("file", f.filename, prog.path, f.size, "", "", None, self, key)
        placed.prog, placed.spec = prog, spec
        hasher = prefix.copy() if end == spec.offset else None
        try:
            fd = _open_sized(prog.path, spec.total_size)
            buf = bytearray(READBACK_BLOCK)
            view = memoryview(buf)
            offset = spec.offset
            try:
                with open(f.path, "rb", buffering=0) as src:
                    while n := src.readinto(buf):
                        if hasher is not None:
                            hasher.update(view[:n])
                        _pwrite_all(fd, view[:n], offset)
                        offset += n
            finally:
                os.close(fd)
        except BaseException:
            self.release(placed)
            raise
        return placed, hasher

    # -- hashing -----------------------------------------------------------------------------
    def advance(self, key: str) -> None:
        """Extend the hashed prefix over every received chunk that now follows it: adopt the
        hash of a chunk hashed while streaming, else read the chunk back from the file."""
        with self.cond:
            prog = self.progress.get(key)
        if prog is None:
            return
        with prog.hash_lock:
            while True:
                with self.cond:
                    session = self.state.get("sessions", key)
                    end, hasher = prog.prefix
                    if session is None or end >= session["total_size"]:
                        return
                    number = end // session["chunk_size"] + 1
                    if number not in session["received"]:
                        return
                    streamed = prog.pending.pop(end, None)
                last = number == session["total_chunks"]
                chunk_end = session["total_size"] if last else number * session["chunk_size"]
                if streamed is not None and streamed[0] == chunk_end:
                    prog.prefix = streamed
                else:
                    prog.prefix = (chunk_end, _hash_range(prog.path, hasher.copy(), end, chunk_end))

    def digest(self, key: str, total_size: int) -> tuple[Path, str]:
        """For a session with every chunk received: its file (cut to size) and sha256."""
        self.advance(key)
        with self.cond:
            prog = self._progress(key)
        with prog.hash_lock:
            end, hasher = prog.prefix
            if end != total_size:  # cannot happen when every chunk is in; be correct anyway
                hasher = _hash_range(prog.path, hashlib.sha256(), 0, total_size)
            os.truncate(prog.path, total_size)
            return prog.path, hasher.hexdigest()

    def forget(self, key: str) -> None:
        with self.cond:
            self.progress.pop(key, None)


def _hash_range(path: Path, hasher: Any, start: int, end: int) -> Any:
    buf = bytearray(READBACK_BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        while start < end:
            n = fh.readinto(view[: min(READBACK_BLOCK, end - start)])
            if not n:
                raise OSError(f"{path}: ends at {start}, expected {end} bytes")
            hasher.update(view[:n])
            start += n
    return hasher


def chunk_store(state: State) -> ChunkStore:
    """The State's chunk store (a fresh one after State.reset())."""
    with state.lock:
        store = state.scratch.get(SCRATCH_KEY)
        if store is None:
            store = state.scratch[SCRATCH_KEY] = ChunkStore(state)
        return store
