"""Upload planning as data: no network, no disk."""

from __future__ import annotations

import itertools

import pytest
from plan_rows import file_row

from syncd.model import ChunkSession, FileRow, ItemState, Metadata, UploadMode, identity_tag
from syncd.plan.metadata import plan_metadata
from syncd.plan.upload import (
    Chunk,
    UploadPlan,
    UploadSettings,
    choose_mode,
    chunk_count,
    chunk_layout,
    chunks_to_send,
    joined_tags,
    plan_upload,
    resumable_params,
    tags_field,
    token_valid_minutes,
    upload_fields,
)

MiB = 1024 * 1024
SHA = "ab" * 32


@pytest.mark.parametrize(
    ("total", "size", "expected"),
    [
        # (number, offset, length) per chunk; the last carries the remainder.
        (10, 4, [(1, 0, 4), (2, 4, 6)]),
        (8, 4, [(1, 0, 4), (2, 4, 4)]),
        (3, 4, [(1, 0, 3)]),  # smaller than one chunk: one short chunk
        (4, 4, [(1, 0, 4)]),
        (11, 4, [(1, 0, 4), (2, 4, 7)]),  # last chunk under two chunk sizes
        (1, 1, [(1, 0, 1)]),
    ],
)
def test_chunk_layout_follows_resumable_defaults(
    total: int, size: int, expected: list[tuple[int, int, int]]
) -> None:
    layout = chunk_layout(total, size)
    assert [(c.number, c.offset, c.length) for c in layout] == expected
    assert sum(c.length for c in layout) == total
    assert chunk_count(total, size) == len(expected)
    assert all(size <= c.length < 2 * size for c in layout[1:] if len(layout) > 1)


def test_chunk_layout_of_a_large_file_has_no_holes_or_overlaps() -> None:
    total = 200 * MiB + 12345
    layout = chunk_layout(total, MiB)
    assert len(layout) == 200
    for before, after in itertools.pairwise(layout):
        assert before.offset + before.length == after.offset
    assert layout[-1].length == MiB + 12345


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunk_layout(10, 0)


def test_resume_sends_only_unacknowledged_chunks_in_order() -> None:
    layout = chunk_layout(10 * MiB, MiB)
    todo = chunks_to_send(layout, {1, 2, 3, 5, 10})
    assert [c.number for c in todo] == [4, 6, 7, 8, 9]
    assert chunks_to_send(layout, range(1, 11)) == []


@pytest.mark.parametrize(
    ("size", "mode", "expected"),
    [
        (10, UploadMode.AUTO, UploadMode.DIRECT),
        (64 * MiB - 1, UploadMode.AUTO, UploadMode.DIRECT),
        (64 * MiB, UploadMode.AUTO, UploadMode.CHUNKED),
        (10, UploadMode.CHUNKED, UploadMode.CHUNKED),
        (10 * 1024 * MiB, UploadMode.DIRECT, UploadMode.DIRECT),
        (10, UploadMode.TOKEN, UploadMode.TOKEN),
    ],
)
def test_choose_mode(size: int, mode: UploadMode, expected: UploadMode) -> None:
    assert choose_mode(size, mode, 64 * MiB) is expected


@pytest.mark.parametrize(
    ("size", "rate", "expected"),
    [
        (0, None, 30),  # margin only, above the platform minimum of 15
        (10 * MiB, 100 * MiB, 31),
        (100 * 1024 * MiB, 1 * MiB, 1440),  # clamped to the platform maximum
        (1024 * MiB, 2 * MiB, 56),  # ~8.5 min at 2 MiB/s, x3, + 30
        (1024 * MiB, None, 56),  # no measurement yet: the default rate
    ],
)
def test_token_lifetime_is_sized_from_size_and_rate(
    size: int, rate: float | None, expected: int
) -> None:
    minutes = token_valid_minutes(size, rate)
    assert minutes == expected
    assert 15 <= minutes <= 1440


def test_upload_fields_carry_metadata_and_identity_marker() -> None:
    meta = Metadata(
        title="Waves",
        description="<b>sea</b>",
        tags=("nature", "sea side"),
        albums=("Nature", "Best of"),
        publish=False,
        publish_date="2020-01-02",
        custom=(("location", "Skagen"),),
    )
    fields = upload_fields(meta, SHA, {"Nature": "11", "Best of": "12"})
    assert fields == {
        "title": "Waves",
        "description": "<b>sea</b>",
        "tags": f"nature sea_side {identity_tag(SHA)}",
        "album_id": "11,12",
        "publish": "0",
        "publish_date": "2020-01-02",
        "location": "Skagen",
    }


def test_upload_fields_without_metadata_still_mark_identity() -> None:
    fields = upload_fields(Metadata(), SHA, {})
    assert fields == {"tags": identity_tag(SHA), "publish": "1"}
    assert identity_tag(SHA) == "syncd:" + SHA[:32]


def test_tags_field_deduplicates_and_joins_the_words_of_a_tag() -> None:
    # The upload pages say "space-separated" and document no quoting (issue 12, defect 8).
    assert tags_field(["a", "b c", "a"]) == "a b_c"
    assert tags_field(["slow  tv", "slow tv", " x "], "-") == "slow-tv x"
    assert joined_tags(["a", "slow tv", "b\tc"], "-") == [("slow tv", "slow-tv"), ("b\tc", "b-c")]


def test_resumable_params() -> None:
    params = resumable_params(
        Chunk(3, 2 * MiB, MiB),
        chunk_size=MiB,
        total_size=4 * MiB,
        total_chunks=4,
        identifier="id-1",
        filename="a.mp4",
        relative_path="a.mp4",
        content_type="video/mp4",
    )
    assert params["resumableChunkNumber"] == "3"
    assert params["resumableCurrentChunkSize"] == str(MiB)
    assert params["resumableTotalChunks"] == "4"
    assert params["resumableTotalSize"] == str(4 * MiB)
    assert params["resumableIdentifier"] == "id-1"


def test_plan_text_form_is_stable() -> None:
    plan = UploadPlan(
        "/a/b.mp4", 3 * MiB, UploadMode.CHUNKED, MiB, {"title": "B", "tags": "x"}, resume_from=2
    )
    assert str(plan) == (
        "upload chunked (3 chunks of 1048576 B, resume at chunk 2) /a/b.mp4 [3145728 B]"
        " tags='x' title='B'"
    )
    direct = UploadPlan("/a/c.mp4", 5, UploadMode.DIRECT, MiB, {"title": "C"})
    assert str(direct) == "upload direct /a/c.mp4 [5 B] title='C'"


def _row(
    size: int, *, photo_id: str | None = None, state: ItemState = ItemState.UPLOADING
) -> FileRow:
    return file_row(size=size, sha256=SHA, state=state, photo_id=photo_id, attempts=1)


def _session(sha: str | None, *, chunk: int, total: int, acked: frozenset[int]) -> ChunkSession:
    return ChunkSession(
        path="/r/clip.mp4",
        upload_token="tok",
        identifier="ident",
        chunk_size=chunk,
        total_size=total,
        total_chunks=chunk_count(total, chunk),
        valid_until=None,
        created_at=0.0,
        acked=acked,
        sha256=sha,
    )


MARK = identity_tag(SHA)
IDS = {"Nature": "11", "Ocean": "12"}
AUTO = UploadSettings(UploadMode.AUTO, chunk_threshold=4 * MiB, chunk_size=MiB)


@pytest.mark.parametrize(
    ("size", "session", "meta", "settings", "expected"),
    [
        pytest.param(
            1000,
            None,
            Metadata(title="T", albums=("Nature",)),
            AUTO,
            f"upload direct /r/clip.mp4 [1000 B] album_id='11' publish='1' tags='{MARK}' title='T'",
            id="direct, one album: the upload carries everything",
        ),
        pytest.param(
            1000,
            None,
            Metadata(title="T", albums=("Nature", "Ocean")),
            AUTO,
            f"upload direct /r/clip.mp4 [1000 B] album_id='11' publish='1' tags='{MARK}'"
            " title='T'; then update album_id='11,12'",
            id="direct, two albums: one with the upload, both by a follow-up update",
        ),
        pytest.param(
            1000,
            None,
            Metadata(title="T", albums=("Nature", "Ocean")),
            UploadSettings(UploadMode.TOKEN, 4 * MiB, MiB),
            f"upload token /r/clip.mp4 [1000 B] album_id='11,12' publish='1' tags='{MARK}'"
            " title='T'",
            id="token: the token carries every album",
        ),
        pytest.param(
            5 * MiB,
            None,
            Metadata(title="T", tags=("slow tv",), publish=False),
            AUTO,
            "upload chunked (5 chunks of 1048576 B) /r/clip.mp4 [5242880 B] publish='0'"
            f" tags='slow_tv {MARK}' title='T'",
            id="auto: chunked from the threshold up",
        ),
        pytest.param(
            5 * MiB,
            _session(SHA, chunk=2 * MiB, total=5 * MiB, acked=frozenset({1})),
            Metadata(title="T"),
            AUTO,
            "upload chunked (2 chunks of 2097152 B, resume at chunk 2) /r/clip.mp4"
            f" [5242880 B] publish='1' tags='{MARK}' title='T'",
            id="a session that was begun continues with its own chunk size",
        ),
        pytest.param(
            5 * MiB,
            _session("ff" * 32, chunk=2 * MiB, total=5 * MiB, acked=frozenset({1})),
            Metadata(title="T"),
            AUTO,
            "upload chunked (5 chunks of 1048576 B) /r/clip.mp4 [5242880 B] publish='1'"
            f" tags='{MARK}' title='T'",
            id="a session for other bytes is not continued",
        ),
        pytest.param(
            1000,
            _session(SHA, chunk=1000, total=1000, acked=frozenset()),
            Metadata(title="T"),
            AUTO,
            f"upload token (resume) /r/clip.mp4 [1000 B] publish='1' tags='{MARK}' title='T'",
            id="a whole-file token session continues as a token upload",
        ),
    ],
)
def test_upload_plans(
    size: int,
    session: ChunkSession | None,
    meta: Metadata,
    settings: UploadSettings,
    expected: str,
) -> None:
    assert str(plan_upload(_row(size), session, meta, IDS, settings)) == expected


def test_metadata_plan_sends_everything_and_keeps_the_identity_marker() -> None:
    row = _row(1000, photo_id="77", state=ItemState.SYNCED)
    meta = Metadata(title="New", tags=("a",), albums=("Ocean", "Nature"), publish=False)
    assert str(plan_metadata(row, meta, IDS)) == (
        f"update /r/clip.mp4 photo 77 album_id='12,11' published_p='0' tags='a {MARK}' title='New'"
    )


def test_direct_upload_sends_one_album() -> None:
    meta = Metadata(albums=("A", "B"))
    ids = {"A": "1", "B": "2"}
    assert upload_fields(meta, SHA, ids, single_album=True)["album_id"] == "1"
    assert upload_fields(meta, SHA, ids)["album_id"] == "1,2"
