"""HTTP plumbing: a threaded HTTP/1.1 keep-alive server that tracks its connections (so stop()
can close idle ones), a request-body reader (Content-Length or chunked), and hard resets."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import threading
from collections.abc import Callable
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

# Idle keep-alive connections are closed after this many seconds without a request.
IDLE_TIMEOUT = 120.0
# Bodies of refused requests are read and discarded up to this size to keep the connection;
# beyond it the connection is closed instead (cheaper than reading a refused 2 GiB upload).
DRAIN_LIMIT = 64 * 1024 * 1024
# Longest accepted line of chunked transfer-encoding framing.
MAX_CHUNK_LINE = 1024


# The request's socket file: BaseHTTPRequestHandler.rfile (a BufferedReader).
Readable = io.BufferedIOBase


class BodyError(ValueError):
    """The request body framing is broken (bad Content-Length, bad chunked encoding)."""


class BodyReader:
    """Reads exactly the request body, never past it; counts bytes received."""

    def __init__(self, rfile: Readable, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._remaining = length or 0  # bytes left in the body (or current chunk)
        self._chunked = chunked
        self._done = not chunked and not length
        self.received = 0

    @classmethod
    def for_request(cls, rfile: Readable, headers: Any) -> BodyReader:
        te = (headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return cls(rfile, None, True)
        raw = headers.get("Content-Length")
        if raw is None:
            return cls(rfile, 0, False)
        if not raw.strip().isdigit():
            raise BodyError(f"Content-Length {raw!r} is not a number")
        return cls(rfile, int(raw), False)

    @property
    def done(self) -> bool:
        return self._done

    @property
    def remaining_hint(self) -> int | None:
        """Bytes still unread for a Content-Length body; None for chunked."""
        return None if self._chunked else self._remaining

    def read(self, n: int) -> bytes:
        """Up to n bytes (fewer only at a chunk boundary or the end); b"" at the end."""
        if not self._before_read():
            return b""
        data = self._rfile.read(min(n, self._remaining))
        self._after_read(len(data))
        return data

    def readinto(self, view: memoryview) -> int:
        """read() into the caller's buffer (no new bytes object per block); 0 at the end."""
        if not self._before_read():
            return 0
        n = self._rfile.readinto(view[: min(len(view), self._remaining)]) or 0
        self._after_read(n)
        return n

    def _before_read(self) -> bool:
        """False at the end of the body; moves to the next chunk of a chunked body."""
        if self._done:
            return False
        if self._chunked and self._remaining == 0:
            self._next_chunk()
        return not self._done

    def _after_read(self, n: int) -> None:
        if not n:
            raise BodyError("connection closed inside the request body")
        self._remaining -= n
        self.received += n
        if self._remaining == 0:
            if self._chunked:
                if self._rfile.read(2) != b"\r\n":
                    raise BodyError("chunked body: chunk not followed by CRLF")
            else:
                self._done = True

    def _next_chunk(self) -> None:
        line = self._rfile.readline(MAX_CHUNK_LINE)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise BodyError(f"chunked body: bad chunk size line {line[:40]!r}") from exc
        if size == 0:
            while True:  # trailers up to the blank line
                trailer = self._rfile.readline(MAX_CHUNK_LINE)
                if trailer in (b"\r\n", b"\n", b""):
                    break
            self._done = True
        self._remaining = size

    def read_all(self, limit: int) -> bytes:
        """The whole body; BodyError when longer than limit."""
        parts: list[bytes] = []
        total = 0
        while block := self.read(1 << 20):
            total += len(block)
            if total > limit:
                raise BodyError(f"request body larger than {limit} bytes")
            parts.append(block)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        """Read and discard up to n bytes."""
        while n > 0 and (block := self.read(min(n, 1 << 20))):
            n -= len(block)

    def drain(self, limit: int = DRAIN_LIMIT) -> bool:
        """Discard the rest of the body; False when it is too large (close the connection)."""
        hint = self.remaining_hint
        if hint is not None and hint > limit:
            return False
        try:
            while not self._done:
                if not self.read(1 << 20):
                    break
                limit -= 1 << 20
                if limit < 0:
                    return False
        except (BodyError, OSError):
            return False
        return True


class RequestHeaders(HTTPMessage):
    """A request's header block, read as headers only.

    http.server hands the block to the email package's MIME parser, which, seeing
    `Content-Type: multipart/...`, compiles a regex for that request's (unique) boundary to
    look for parts that a header block never has: ~90 us per upload request, a cost no real
    web server has, paid once per small file and per chunk. Saying the block is not
    multipart skips that; the headers read the same (the handlers only ever `.get()` them).
    """

    def get_content_maintype(self) -> str:
        return "text"


class App(Protocol):
    clock: Callable[[], float]  # the sandbox's (shiftable) clock

    def handle(self, handler: Handler) -> None: ...


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the app; the app writes the answer."""

    protocol_version = "HTTP/1.1"  # keep-alive
    MessageClass = RequestHeaders
    server: SandboxHTTPServer
    timeout = IDLE_TIMEOUT
    rbufsize = 1 << 20  # fewer, larger recv() calls for big uploads

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)
        self.was_reset = False

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self.server.app.handle(self)

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log lives in Sandbox.requests."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header by the sandbox's clock: a shifted clock shows as clock skew,
        as a real server's would."""
        return super().date_time_string(self.server.app.clock() if timestamp is None else timestamp)

    def reset_connection(self) -> None:
        """Hard-close the socket now (RST via SO_LINGER 0): the client gets no answer."""
        self.close_connection = True
        self.was_reset = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
        except OSError:
            pass

    def send_answer(
        self, status: int, body: bytes, content_type: str, headers: list[tuple[str, str]]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()


class SandboxHTTPServer(ThreadingHTTPServer):
    """Threaded server that knows its open connections so stop() can end idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def open_connections(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here (fault tests cut connections on purpose)."""
