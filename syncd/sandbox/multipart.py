"""Streaming multipart/form-data parser: large blocks, bytes.find for boundaries, files go
straight to disk with their sha256 computed on the way. Never holds a file part in memory."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

# Read size for request bodies; large blocks keep the per-block Python overhead negligible.
BLOCK_SIZE = 1 << 20
# A non-file field larger than this is refused (titles, descriptions, tags are small).
MAX_FIELD_BYTES = 64 * 1024
# Part headers larger than this are refused (a real part header is a few hundred bytes).
MAX_PART_HEADER_BYTES = 16 * 1024
# Bytes allowed before the first boundary.
MAX_PREAMBLE_BYTES = 64 * 1024
# Fields per request; more is an attack or a bug.
MAX_FIELDS = 500

_QUOTED_PAIR = re.compile(r"\\(.)")
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(ValueError):
    """The body is not valid multipart/form-data, or a field breaks a limit."""


@dataclass
class UploadedFile:
    """A file part already on disk."""

    field: str
    filename: str
    path: Path
    size: int
    sha256: str
    content_type: str
    # Set while the part is still being written, so a failed parse can close it.
    open_handle: BinaryIO | None = dataclasses.field(default=None, repr=False)

    def discard(self) -> None:
        if self.open_handle is not None:
            self.open_handle.close()
            self.open_handle = None
        self.path.unlink(missing_ok=True)


class FileSink(Protocol):
    """Where a file part's bytes go: `result` describes them once `close()` has run."""

    @property
    def result(self) -> UploadedFile: ...

    def write(self, data: memoryview) -> None: ...

    def close(self) -> None: ...


# Chooses a sink for a file part from (part name, filename, content type, fields so far);
# None means the default: a temporary file, hashed on the way.
SinkFor = Callable[[str, str, str, list[tuple[str, bytes]]], FileSink | None]


def boundary_from(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type; MultipartError when absent."""
    for name, value in _PARAM.findall(content_type):
        if name.lower() == "boundary":
            value = value.strip()
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1]
            if 0 < len(value) <= 200:
                return value.encode("latin-1")
    raise MultipartError("multipart Content-Type has no usable boundary")


def _disposition(headers: dict[str, str]) -> tuple[str, str | None]:
    value = headers.get("content-disposition")
    if value is None:
        raise MultipartError("multipart part has no Content-Disposition header")
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1]
            if "\\" in raw:  # quoted-pairs are rare; re.sub costs a cache lookup per part
                raw = _QUOTED_PAIR.sub(r"\1", raw)
        params[name.lower()] = raw
    if "name" not in params:
        raise MultipartError("multipart part has no name")
    return params["name"], params.get("filename")


def _parse_headers(block: bytes) -> dict[str, str]:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MultipartError("multipart part headers are not valid UTF-8") from exc
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"malformed multipart part header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


# Unparsed bytes a read can find still in the buffer: at most a preamble, a part's headers or
# a delimiter (longer runs are refused or handed to the part first). The read buffer holds
# a block plus this much.
MAX_CARRY_BYTES = MAX_PREAMBLE_BYTES + MAX_PART_HEADER_BYTES + 1024


def parse(
    readinto: Callable[[memoryview], int],
    boundary: bytes,
    tmp_dir: Path,
    sink_for: SinkFor | None = None,
    body_size: int | None = None,
) -> tuple[list[tuple[str, bytes]], dict[str, UploadedFile]]:
    """Parse a whole multipart body from `readinto(view)` (0 at the end); returns raw fields
    and files on disk. `body_size`, when known (Content-Length), sizes the read buffer.

    `sink_for` may route a file part elsewhere than a temporary file (a chunk straight into
    its upload's file). On error, files written so far are discarded and MultipartError is
    raised.
    """
    fields: list[tuple[str, bytes]] = []
    files: dict[str, UploadedFile] = {}
    try:
        _parse_into(readinto, boundary, tmp_dir, fields, files, sink_for, body_size)
    except BaseException:
        for f in files.values():
            f.discard()
        raise
    return fields, files


def _parse_into(
    readinto: Callable[[memoryview], int],
    boundary: bytes,
    tmp_dir: Path,
    fields: list[tuple[str, bytes]],
    files: dict[str, UploadedFile],
    sink_for: SinkFor | None,
    body_size: int | None,
) -> None:
    delim = b"\r\n--" + boundary
    keep = len(delim) + 1
    # One buffer for the whole body; the unparsed bytes are buf[pos:end]. Parts are consumed
    # by moving `pos`, and each read goes in behind the few bytes carried over: no
    # allocation or copy of a block per read, none per part (a chunk request's first block
    # holds a dozen fields), which is most of the sandbox's cost per request.
    # A body known to fit whole needs no more than itself (+2 for that CRLF, +1 so the read
    # that finds the end has room): a small form does not zero a megabyte.
    capacity = BLOCK_SIZE + MAX_CARRY_BYTES
    if body_size is not None and body_size < BLOCK_SIZE:
        capacity = body_size + 3
    buf = bytearray(capacity)
    view = memoryview(buf)
    view[:2] = b"\r\n"  # lets the first boundary match the same delimiter as the others
    pos, end = 0, 2
    eof = False

    def fill() -> None:
        nonlocal pos, end, eof
        if pos:
            carried = end - pos
            view[:carried] = view[pos:end]
            pos, end = 0, carried
        room = min(BLOCK_SIZE, len(buf) - end)
        if room <= 0:  # the callers' limits keep the carry small; never read nothing
            raise MultipartError("multipart body: unparseable run of bytes")
        n = readinto(view[end : end + room])
        if n:
            end += n
        else:
            eof = True

    # Preamble up to the first boundary.
    while (idx := buf.find(delim, pos, end)) < 0:
        if eof or end - pos > MAX_PREAMBLE_BYTES:
            raise MultipartError("multipart body has no opening boundary")
        fill()
    pos = idx + len(delim)
    while True:
        while end - pos < 2 and not eof:
            fill()
        if buf.startswith(b"--", pos, end):
            return  # closing boundary; the epilogue is ignored
        if not buf.startswith(b"\r\n", pos, end):
            raise MultipartError("multipart boundary is not followed by CRLF")
        while (hend := buf.find(b"\r\n\r\n", pos, end)) < 0:
            if eof or end - pos > MAX_PART_HEADER_BYTES:
                raise MultipartError("multipart part headers are truncated or too large")
            fill()
        headers = _parse_headers(bytes(view[pos + 2 : hend]))
        pos = hend + 4
        name, filename = _disposition(headers)
        if filename is not None:
            ctype = headers.get("content-type", "")
            sink_file: FileSink | None = (
                sink_for(name, filename, ctype, fields) if sink_for else None
            )
            if sink_file is None:
                sink_file = _FileSink(name, filename, ctype, tmp_dir)
            if name in files:
                files[name].discard()
            files[name] = sink_file.result  # registered early so errors clean it up
            write: Callable[[memoryview], None] = sink_file.write
        else:
            if len(fields) >= MAX_FIELDS:
                raise MultipartError(f"more than {MAX_FIELDS} multipart fields")
            value = bytearray()

            def write(data: memoryview, value: bytearray = value, name: str = name) -> None:
                if len(value) + len(data) > MAX_FIELD_BYTES:
                    raise MultipartError(f"field {name!r} is larger than {MAX_FIELD_BYTES} bytes")
                value += data

            sink_file = None
        # Sinks use the view they are handed before returning: the buffer is reused.
        while True:
            idx = buf.find(delim, pos, end)
            if idx >= 0:
                write(view[pos:idx])
                pos = idx + len(delim)
                break
            if eof:
                raise MultipartError("multipart body ends inside a part (no closing boundary)")
            if end - pos > keep:
                write(view[pos : end - keep])
                pos = end - keep
            fill()
        if sink_file is not None:
            sink_file.close()
        else:
            fields.append((name, bytes(value)))


class _FileSink:
    """Writes one file part to a temporary file, hashing as it goes."""

    def __init__(self, name: str, filename: str, content_type: str, tmp_dir: Path) -> None:
        fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="part-")
        self._fh = os.fdopen(fd, "wb", buffering=0)
        self._hash = hashlib.sha256()
        self.result = UploadedFile(name, filename, Path(path), 0, "", content_type, self._fh)

    def write(self, data: memoryview) -> None:
        if len(data):
            self._hash.update(data)
            self._fh.write(data)
            self.result.size += len(data)

    def close(self) -> None:
        self._fh.close()
        self.result.open_handle = None
        self.result.sha256 = self._hash.hexdigest()
