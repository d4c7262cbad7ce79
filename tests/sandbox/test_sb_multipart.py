"""The sandbox's streaming multipart parser, fed in reads of every awkward size."""

from __future__ import annotations

import email.feedparser
import hashlib
import http.client
import io
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sb_helpers import oauth1

from syncd.sandbox import Sandbox, multipart
from syncd.sandbox.server import Handler, RequestHeaders

BOUNDARY = b"b0undary"


def body(fields: list[tuple[str, bytes]], file_bytes: bytes, *, epilogue: bytes = b"") -> bytes:
    out = io.BytesIO()
    out.write(b"preamble ignored\r\n")
    for name, value in fields:
        out.write(b"--" + BOUNDARY + b"\r\n")
        out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value + b"\r\n")
    out.write(b"--" + BOUNDARY + b"\r\n")
    out.write(b'Content-Disposition: form-data; name="file"; filename="a.mp4"\r\n')
    out.write(b"Content-Type: application/octet-stream\r\n\r\n")
    out.write(file_bytes + b"\r\n--" + BOUNDARY + b"--\r\n" + epilogue)
    return out.getvalue()


def reader(data: bytes, step: int) -> Callable[[memoryview], int]:
    """readinto() over `data`, at most `step` bytes a call (like a socket's short reads)."""
    stream = io.BytesIO(data)
    return lambda view: stream.readinto(view[:step])


# Near-misses of the delimiter inside the file: the parser must not cut there.
FILE = (b"x" * 1000 + b"\r\n--b0undar" + b"\r\n-" + b"--b0undary" + bytes(range(256))) * 50
FIELDS = [(f"f{i}", f"value {i}".encode()) for i in range(12)] + [("empty", b"")]


@pytest.mark.parametrize("sized", [False, True], ids=["length-unknown", "content-length"])
@pytest.mark.parametrize("step", [1, 3, 7, 64, 4099, 1 << 20])
def test_fields_and_file_survive_any_read_size(tmp_path: Path, step: int, sized: bool) -> None:
    data = body(FIELDS, FILE)
    size = len(data) if sized else None  # a known size gets a buffer just that large
    fields, files = multipart.parse(reader(data, step), BOUNDARY, tmp_path, body_size=size)
    assert fields == FIELDS
    f = files["file"]
    assert f.filename == "a.mp4"
    assert f.path.read_bytes() == FILE
    assert (f.size, f.sha256) == (len(FILE), hashlib.sha256(FILE).hexdigest())


def test_fields_after_a_large_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many fields and the file's start arrive in one block: every field is still its own."""
    monkeypatch.setattr(multipart, "BLOCK_SIZE", 8)
    many = [(f"k{i}", str(i).encode() * 3) for i in range(200)]
    data = body(many, FILE, epilogue=b"trailing junk")
    fields, files = multipart.parse(reader(data, 1 << 20), BOUNDARY, tmp_path)
    assert fields == many
    assert files["file"].path.read_bytes() == FILE


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"no boundary at all", "no opening boundary"),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data", "truncated"),
        (body([], b"abc")[: -len(b"\r\n--b0undary--\r\n") - 1], "ends inside a part"),
        (b"--" + BOUNDARY + b"XX", "not followed by CRLF"),
    ],
)
def test_broken_bodies_are_refused(tmp_path: Path, data: bytes, problem: str) -> None:
    for step in (1, 1 << 20):
        for size in (None, len(data)):
            with pytest.raises(multipart.MultipartError, match=problem):
                multipart.parse(reader(data, step), BOUNDARY, tmp_path, body_size=size)
    assert list(tmp_path.iterdir()) == []  # a half-written file part is removed


def test_upload_with_chunked_transfer_encoding(sandbox: Sandbox) -> None:
    """A body without Content-Length (chunked framing, odd chunk sizes) lands intact."""
    data = body([("format", b"json"), ("raw", b"1"), ("title", b"streamed")], FILE)
    pieces = [data[i : i + 4093] for i in range(0, len(data), 4093)]
    resp = requests.post(
        f"{sandbox.base_url}/api/photo/upload",
        data=iter(pieces),  # a generator: requests frames it as chunked
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"},
        auth=oauth1(sandbox),
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert resp.request.headers.get("Transfer-Encoding") in ("chunked", b"chunked")
    [item] = sandbox.items()
    assert (item["title"], item["size"]) == ("streamed", len(FILE))
    assert item["sha256"] == hashlib.sha256(FILE).hexdigest()


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b'form-data; name="file"; filename="plain.mp4"', "plain.mp4"),
        (b'form-data; name="file"; filename="say \\"hi\\".mp4"', 'say "hi".mp4'),
        (b'form-data; name="file"; filename="back\\\\slash.mp4"', "back\\slash.mp4"),
        (b"form-data; name=file; filename=bare.mp4", "bare.mp4"),
    ],
)
def test_file_names_unquoted(tmp_path: Path, disposition: bytes, filename: str) -> None:
    data = (
        b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        b"bytes\r\n--" + BOUNDARY + b"--\r\n"
    )
    _, files = multipart.parse(reader(data, 1 << 20), BOUNDARY, tmp_path)
    assert files["file"].filename == filename


UPLOAD_HEADERS = (
    b"Host: 127.0.0.1:8023\r\nUser-Agent: syncd/0\r\nContent-Length: 8389999\r\n"
    b"Content-Type: multipart/form-data; boundary=0f3c9e2a61b54d7e\r\n"
    b'Authorization: OAuth oauth_nonce="1"\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n'
)


def test_request_headers_read_the_same_without_the_mime_parts_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sandbox reads an upload's header block without the email parser compiling a
    regex for its boundary (which the default message class does for every request)."""
    plain = http.client.parse_headers(io.BytesIO(UPLOAD_HEADERS))

    def no_regex(*args: object, **kwargs: object) -> None:
        raise AssertionError("a regex was compiled while reading request headers")

    monkeypatch.setattr(email.feedparser.re, "compile", no_regex)
    with pytest.raises(AssertionError):  # the default class does compile one
        http.client.parse_headers(io.BytesIO(UPLOAD_HEADERS))
    ours = http.client.parse_headers(io.BytesIO(UPLOAD_HEADERS), _class=RequestHeaders)
    monkeypatch.undo()
    assert ours.items() == plain.items()
    assert ours.get_all("X-Twice") == ["a", "b"]
    assert ours.get("content-type") == plain.get("content-type")
    assert ours.defects == []
    assert Handler.MessageClass is RequestHeaders
