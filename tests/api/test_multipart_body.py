"""MultipartBody: the same bytes requests-toolbelt's MultipartEncoder would send, streamed
through one reused buffer with the FileSlice's on_read hook seeing every block."""

from __future__ import annotations

from pathlib import Path

import pytest
from requests_toolbelt import MultipartEncoder

from syncd.api.body import MAX_READ_BLOCK, FileSlice, MultipartBody
from syncd.errors import LocalFileError

FIELDS = [("format", "json"), ("title", 'Zürich — «test» "quoted"'), ("tags", "a b")]


def drain(body: MultipartBody, size: int) -> bytes:
    out = bytearray()
    while chunk := body.read(size):
        out += chunk  # copy now: the buffer is reused by the next read
    return bytes(out)


@pytest.mark.parametrize("read_size", [100, 4096, 1024 * 1024])
@pytest.mark.parametrize("file_size", [1, 5000, MAX_READ_BLOCK + 7])
def test_bytes_match_multipart_encoder(tmp_path: Path, file_size: int, read_size: int) -> None:
    path = tmp_path / "clip ü.mp4"
    path.write_bytes(bytes(i % 253 for i in range(file_size)))
    part = FileSlice(path, filename="clip ü.mp4", content_type="video/mp4")
    with part.open() as reader:
        ours = MultipartBody(FIELDS, part, reader, boundary="b0undary")
        assert ours.len == ours.total
        sent = drain(ours, read_size)
    with part.open() as reader:
        theirs = MultipartEncoder(
            fields=[*FIELDS, ("file", (part.filename, reader, part.content_type))],
            boundary="b0undary",
        )
        expected = theirs.read()
    assert sent == expected
    assert ours.total == len(expected) == ours.sent and ours.len == 0
    assert ours.content_type == theirs.content_type


def test_region_and_on_read_blocks(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 100)
    seen: list[int] = []
    part = FileSlice(path, offset=1000, length=10_000, on_read=seen.append)
    with part.open() as reader:
        body = MultipartBody([], part, reader, boundary="x")
        data = drain(body, 4096)
    assert path.read_bytes()[1000:11000] in data
    head = data.index(b"\r\n\r\n") + 4  # the file's bytes share the first block with it
    assert seen == [4096 - head, 4096, 10_000 - (4096 - head) - 4096]


def test_small_body_is_one_block(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"v" * 65536)
    part = FileSlice(path)
    with part.open() as reader:
        body = MultipartBody(FIELDS, part, reader, boundary="b")
        first = bytes(body.read(1024 * 1024))
        assert body.read(1024 * 1024) == b""
    assert len(first) == body.total and first.endswith(b"v\r\n--b--\r\n")


def test_shrunk_file_stops_the_body(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 10_000)
    part = FileSlice(path)
    path.write_bytes(b"short")
    with part.open() as reader:
        body = MultipartBody([], part, reader)
        with pytest.raises(LocalFileError, match="shrank") as info:
            while body.read(1024):  # the part headers and the 5 bytes left, then nothing
                pass
        assert body.sent < body.total
    assert info.value.requeue


@pytest.mark.parametrize(
    "filename", ["plain.mp4", 'we"ird\nname ü.mp4', "x" * 300, "\\back\\slash.mp4"]
)
def test_cached_part_headers_frame_like_the_encoder(tmp_path: Path, filename: str) -> None:
    """Part headers come from a cache: every body still matches a fresh encoder's framing."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"data")
    fields = [*FIELDS, ("custom_ü", "v"), ("title", "second title")]
    for _ in range(2):  # the second round is served from the cache
        part = FileSlice(path, filename=filename, content_type="video/mp4")
        with part.open() as reader:
            sent = drain(MultipartBody(fields, part, reader, boundary="bb"), 1 << 20)
        expected = MultipartEncoder(
            fields=[*fields, ("file", (filename, b"data", "video/mp4"))], boundary="bb"
        ).to_string()
        assert sent == expected


@pytest.mark.parametrize(
    "fields",
    [
        [],  # the file part alone
        [("empty", ""), ("crlf", "a\r\nb"), ("dashes", "--bb--")],
        [  # a Resumable.js chunk's fields
            ("format", "json"),
            ("upload_token", "tok"),
            *((f"resumable{k}", str(v)) for k, v in enumerate(range(12))),
        ],
    ],
)
def test_any_field_list_is_framed_like_the_encoder(
    tmp_path: Path, fields: list[tuple[str, str]]
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"chunk bytes")
    part = FileSlice(path, offset=6, content_type="application/octet-stream")
    with part.open() as reader:
        sent = drain(MultipartBody(fields, part, reader, boundary="bb"), 1 << 20)
    expected = MultipartEncoder(
        fields=[*fields, ("file", ("clip.mp4", b"bytes", "application/octet-stream"))],
        boundary="bb",
    ).to_string()
    assert sent == expected


def test_a_block_size_caps_each_read_and_keeps_the_bytes(tmp_path: Path) -> None:
    """Under a bandwidth limit the body hands out small blocks (the wire stays smooth), and
    the bytes are still exactly the encoder's."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(i % 251 for i in range(200_000)))
    whole = FileSlice(path, filename="clip.mp4")
    small = FileSlice(path, filename="clip.mp4", block_size=32 * 1024)
    with whole.open() as reader:
        expected = drain(MultipartBody(FIELDS, whole, reader, boundary="b"), 1024 * 1024)
    with small.open() as reader:
        body = MultipartBody(FIELDS, small, reader, boundary="b")
        blocks = []
        while block := body.read(1024 * 1024):
            blocks.append(bytes(block))
    assert b"".join(blocks) == expected
    assert max(len(b) for b in blocks) == 32 * 1024
    assert len(blocks) == -(-len(expected) // (32 * 1024))
