"""Metadata planning as data: which parts are due, and the section calls, without a site."""

from __future__ import annotations

import pytest
from plan_rows import file_row

from syncd.model import (
    Chapter,
    Coordinates,
    FileRow,
    ItemState,
    Metadata,
    RemoteSection,
    Thumbnail,
    identity_tag,
)
from syncd.plan.metadata import (
    AppliedParts,
    goal_parts,
    number_param,
    parts_after_replace,
    plan_metadata,
    plan_sections,
    uploaded_parts,
)

SHA = "cd" * 32
MARK = identity_tag(SHA)
INTRO = Chapter(0.0, "Intro")
TALK = Chapter(90.5, "Talk", "the main part")
END = Chapter(600.0, "Questions")
OSLO = Coordinates(59.91199, 10.73912)
BERGEN = Coordinates(60.39299, 5.32415)
META = Metadata(
    title="Clip",
    tags=("a",),
    chapters=(INTRO, TALK),
    coordinates=OSLO,
    thumbnail=Thumbnail(time=12.0),
)


def _row(parts: AppliedParts | None) -> FileRow:
    return file_row(
        size=1000,
        inode=1,
        sha256=SHA,
        state=ItemState.SYNCED,
        photo_id="77",
        attempts=1,
        applied_parts=None if parts is None else parts.dumps(),
    )


def _plan(meta: Metadata, applied: Metadata | AppliedParts | None) -> str:
    parts = goal_parts(applied) if isinstance(applied, Metadata) else applied
    return str(plan_metadata(_row(parts), meta, {}))


def test_nothing_known_sends_every_part() -> None:
    assert _plan(META, None) == (
        f"update /r/clip.mp4 photo 77 published_p='1' tags='a {MARK}' title='Clip'; "
        "coordinate add 59.91199,10.73912; "
        "chapters [0 s 'Intro', 90.5 s 'Talk']; thumbnail frame at 12 s"
    )


def test_all_applied_sends_nothing() -> None:
    assert _plan(META, META) == "update /r/clip.mp4 photo 77: nothing to send"


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        pytest.param(
            Metadata(title="Clip", tags=("a",), chapters=(INTRO, END), coordinates=OSLO,
                     thumbnail=Thumbnail(time=12.0)),
            "chapters [0 s 'Intro', 600 s 'Questions']",
            id="one-chapter-changed",
        ),
        pytest.param(
            Metadata(title="Clip", tags=("a",), chapters=(INTRO, TALK), coordinates=BERGEN,
                     thumbnail=Thumbnail(time=12.0)),
            "coordinate delete 59.91199,10.73912; coordinate add 60.39299,5.32415",
            id="coordinates-moved",
        ),
        pytest.param(
            Metadata(title="Clip", tags=("a",), chapters=(INTRO, TALK), coordinates=OSLO,
                     thumbnail=Thumbnail(file="poster.jpg", image_sha256="ab")),
            "thumbnail image 'poster.jpg'",
            id="thumbnail-now-an-image",
        ),
        pytest.param(
            Metadata(title="Clip 2", tags=("a",), chapters=(INTRO, TALK), coordinates=OSLO,
                     thumbnail=Thumbnail(time=12.0)),
            f"published_p='1' tags='a {MARK}' title='Clip 2'",
            id="title-changed",
        ),
        pytest.param(
            Metadata(title="Clip", tags=("a",), coordinates=OSLO, thumbnail=Thumbnail(time=12.0)),
            "chapters none (delete sections)",
            id="chapters-taken-out",
        ),
        pytest.param(
            Metadata(title="Clip", tags=("a",), chapters=(), coordinates=OSLO,
                     thumbnail=Thumbnail(time=12.0)),
            "chapters none (delete sections)",
            id="chapters-emptied",
        ),
        pytest.param(
            Metadata(title="Clip", tags=("a",), chapters=(INTRO, TALK),
                     thumbnail=Thumbnail(time=12.0)),
            "coordinate delete 59.91199,10.73912",
            id="coordinates-taken-out",
        ),
    ],
)  # fmt: skip
def test_a_changed_part_sends_only_that_part(meta: Metadata, expected: str) -> None:
    assert _plan(meta, META) == f"update /r/clip.mp4 photo 77 {expected}"


def test_a_thumbnail_taken_out_is_forgotten_without_a_call() -> None:
    meta = Metadata(title="Clip", tags=("a",), chapters=(INTRO, TALK), coordinates=OSLO)
    plan = plan_metadata(_row(goal_parts(META)), meta, {})
    assert plan.calls_nothing
    assert plan.goal.thumbnail is None  # the site keeps its last thumbnail; syncd lets go


def test_chapters_never_set_leave_the_sections_alone() -> None:
    meta = Metadata(title="Clip")
    assert plan_metadata(_row(goal_parts(meta)), meta, {}).chapters is None
    assert plan_metadata(_row(None), meta, {}).chapters is None


def test_a_coordinate_whose_add_was_not_answered_is_deleted_before_it_is_added() -> None:
    parts = AppliedParts(fields=goal_parts(META).fields, adding=OSLO)
    meta = Metadata(title="Clip", tags=("a",), coordinates=OSLO)
    assert _plan(meta, parts) == (
        "update /r/clip.mp4 photo 77 coordinate delete 59.91199,10.73912; "
        "coordinate add 59.91199,10.73912"
    )


def test_applied_parts_round_trip_and_unreadable_records() -> None:
    parts = goal_parts(META)
    assert AppliedParts.parse(parts.dumps()) == parts
    assert AppliedParts.parse(None) == AppliedParts()
    assert AppliedParts.parse("{not json") == AppliedParts()
    assert AppliedParts.parse('{"coordinates": [1, "x"], "fields": 3}') == AppliedParts()


def test_an_upload_carries_the_fields_and_leaves_the_rest() -> None:
    parts, complete = uploaded_parts(META)
    assert not complete
    assert parts == AppliedParts(fields=goal_parts(META).fields)
    plain = Metadata(title="Clip", chapters=())
    parts, complete = uploaded_parts(plain)
    assert complete  # a new item has no sections: "no chapters" holds already
    assert parts == goal_parts(plain)


def test_replacing_the_media_makes_only_the_thumbnail_due() -> None:
    kept = parts_after_replace(goal_parts(META).dumps())
    assert _plan(META, AppliedParts.parse(kept)) == (
        "update /r/clip.mp4 photo 77 thumbnail frame at 12 s"
    )
    assert parts_after_replace(None) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(90.5, "90.5"), (600.0, "600"), (0.0, "0"), (-0.0, "0"), (-10.7391, "-10.7391"),
     (1e-05, "0.00001"), (59.123456789, "59.1234568")],
)  # fmt: skip
def test_numbers_are_sent_in_fixed_point(value: float, text: str) -> None:
    assert number_param(value) == text


# --- sections ---------------------------------------------------------------------------


def _sections(*chapters: tuple[str, Chapter]) -> list[RemoteSection]:
    return [RemoteSection(sid, c.start, c.title, c.description or "") for sid, c in chapters]


def _calls(chapters: tuple[Chapter, ...], sections: list[RemoteSection]) -> list[str]:
    return [str(c) for c in plan_sections(chapters, sections)]


def test_sections_that_are_the_chapters_are_left_alone() -> None:
    assert _calls((INTRO, TALK), _sections(("2", TALK), ("1", INTRO))) == []


def test_a_new_chapter_is_one_create() -> None:
    assert _calls((INTRO, TALK, END), _sections(("1", INTRO), ("2", TALK))) == [
        "section create 600 s 'Questions'"
    ]


def test_a_retitled_chapter_is_one_update_of_its_section() -> None:
    renamed = Chapter(90.5, "The talk", "the main part")
    assert _calls((INTRO, renamed), _sections(("1", INTRO), ("2", TALK))) == [
        "section update 2 90.5 s 'The talk'"
    ]


def test_a_moved_chapter_keeps_its_section() -> None:
    moved = Chapter(95.0, "Talk", "the main part")
    assert _calls((INTRO, moved), _sections(("1", INTRO), ("2", TALK))) == [
        "section update 2 95 s 'Talk'"
    ]


def test_removed_chapters_are_deleted_first() -> None:
    new = Chapter(30.0, "Warm-up")
    calls = _calls((new,), _sections(("1", INTRO), ("2", TALK), ("3", END)))
    assert calls == ["section delete 2", "section delete 3", "section update 1 30 s 'Warm-up'"]
    assert _calls((), _sections(("1", INTRO), ("2", TALK))) == [
        "section delete 1",
        "section delete 2",
    ]


def test_section_parameters() -> None:
    [create] = plan_sections((TALK,), [])
    assert create.method == "photo/section/create"
    assert create.params() == {
        "start_time": "90.5",
        "title": "Talk",
        "description": "the main part",
    }
    [update] = plan_sections((INTRO,), _sections(("9", Chapter(0.0, "Old"))))
    assert update.params() == {"section_id": "9", "start_time": "0", "title": "Intro",
                               "description": ""}  # fmt: skip
