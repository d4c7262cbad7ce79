"""chapters, coordinates and thumbnail: validated in every format, layered like the other
keys, and part of the digest only when set."""

from __future__ import annotations

import json
from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from syncd.errors import SidecarError
from syncd.metadata.desired import read_metadata
from syncd.metadata.sidecar.fields import format_time
from syncd.model import Chapter, Coordinates, Metadata, Thumbnail


def read_json(
    tmp_path: Path, data: dict[str, Any], folder: dict[str, Any] | None = None
) -> Metadata:
    (tmp_path / "x.mp4").write_bytes(b"media")
    (tmp_path / "x.mp4.json").write_text(json.dumps(data), encoding="utf-8")
    if folder is not None:
        (tmp_path / ".syncd.json").write_text(json.dumps(folder), encoding="utf-8")
    return read_metadata(tmp_path / "x.mp4", tmp_path)


def error_of(tmp_path: Path, data: dict[str, Any], name: str = "x.mp4.json") -> str:
    (tmp_path / "x.mp4").write_bytes(b"media")
    (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SidecarError) as info:
        read_metadata(tmp_path / "x.mp4", tmp_path)
    message = str(info.value)
    prefix = f"{tmp_path / name}: "
    assert message.startswith(prefix), message
    return message[len(prefix) :]


# --- chapters -------------------------------------------------------------------------


def test_chapter_start_forms_and_sorting(tmp_path: Path) -> None:
    meta = read_json(
        tmp_path,
        {
            "chapters": [
                {"start": "1:02:03.5", "title": " End ", "description": " last "},
                {"start": 90, "title": "Seconds"},
                {"start": "02:30", "title": "MM:SS"},
                {"start": "00:00:00", "title": "Intro", "description": ""},
                {"start": "45.25", "title": "Seconds as text"},
            ]
        },
    )
    assert meta.chapters == (
        Chapter(0.0, "Intro"),
        Chapter(45.25, "Seconds as text"),
        Chapter(90.0, "Seconds"),
        Chapter(150.0, "MM:SS"),
        Chapter(3723.5, "End", "last"),
    )


def test_an_empty_chapter_list_is_kept_apart_from_no_chapters(tmp_path: Path) -> None:
    assert read_json(tmp_path, {"chapters": []}).chapters == ()
    assert read_json(tmp_path, {"title": "t"}).chapters is None


CHAPTER_ERRORS = [
    ({"chapters": "00:01:00 Intro"}, "chapters: expected an array of chapters, got a string"),
    ({"chapters": ["Intro"]}, "chapters[0]: expected an object {start, title}, got a string"),
    ({"chapters": [{"start": 0}]}, "chapters[0]: title is required"),
    ({"chapters": [{"title": "a"}]}, "chapters[0]: start is required"),
    ({"chapters": [{"start": 0, "title": " "}]}, "chapters[0].title: must not be empty"),
    (
        {"chapters": [{"start": 0, "title": 5}]},
        "chapters[0].title: expected a string, got number 5",
    ),
    (
        {"chapters": [{"start": 0, "title": "a", "desc": "b"}]},
        "chapters[0].desc: unknown key; known keys: description, start, title",
    ),
    (
        {"chapters": [{"start": "1:30", "title": "a"}, {"start": 90, "title": "b"}]},
        "chapters[1]: starts at 00:01:30, as chapters[0] does",
    ),
    (
        {"chapters": [{"start": "00:75:00", "title": "a"}]},
        "chapters[0].start: '00:75:00': minutes and seconds must be below 60",
    ),
    (
        {"chapters": [{"start": -1, "title": "a"}]},
        "chapters[0].start: -1 is not a time of 0 seconds or more",
    ),
    (
        {"chapters": [{"start": "soon", "title": "a"}]},
        "chapters[0].start: 'soon' is not a time (HH:MM:SS, MM:SS, or seconds)",
    ),
    (
        {"chapters": [{"start": True, "title": "a"}]},
        "chapters[0].start: expected a time (HH:MM:SS, MM:SS, or seconds), got boolean true",
    ),
]


@pytest.mark.parametrize(("data", "problem"), CHAPTER_ERRORS)
def test_bad_chapters(tmp_path: Path, data: dict[str, Any], problem: str) -> None:
    assert error_of(tmp_path, data) == problem


def test_chapters_are_per_file_only(tmp_path: Path) -> None:
    problem = error_of(tmp_path, {"chapters": []}, ".syncd.json")
    assert problem.startswith("chapters: only allowed in a per-file sidecar")


# --- coordinates ------------------------------------------------------------------------


def test_coordinates_are_rounded_and_inherited_from_folders(tmp_path: Path) -> None:
    folder = {"coordinates": {"latitude": 59.123456789, "longitude": -10}}
    meta = read_json(tmp_path, {"title": "t"}, folder)
    assert meta.coordinates == Coordinates(59.1234568, -10.0)
    meta = read_json(tmp_path, {"coordinates": {"latitude": 1, "longitude": 2}}, folder)
    assert meta.coordinates == Coordinates(1.0, 2.0)  # the sidecar overrides the folder


COORDINATE_ERRORS = [
    (
        {"coordinates": [59, 10]},
        "coordinates: expected an object {latitude, longitude}, got an array",
    ),
    ({"coordinates": {"latitude": 59}}, "coordinates: longitude is required"),
    (
        {"coordinates": {"latitude": 59, "longitude": 10, "altitude": 3}},
        "coordinates.altitude: unknown key",
    ),
    (
        {"coordinates": {"latitude": "59", "longitude": 10}},
        "coordinates.latitude: expected a number of degrees, got a string",
    ),
    (
        {"coordinates": {"latitude": 59, "longitude": 180.5}},
        "coordinates.longitude: 180.5 is out of range (-180 to 180 degrees)",
    ),
    (
        {"coordinates": {"latitude": -90.01, "longitude": 0}},
        "coordinates.latitude: -90.01 is out of range (-90 to 90 degrees)",
    ),
    (
        {"coordinates": {"latitude": False, "longitude": 0}},
        "coordinates.latitude: expected a number of degrees, got boolean false",
    ),
]


@pytest.mark.parametrize(("data", "problem"), COORDINATE_ERRORS)
def test_bad_coordinates(tmp_path: Path, data: dict[str, Any], problem: str) -> None:
    assert error_of(tmp_path, data).startswith(problem)


# --- thumbnail --------------------------------------------------------------------------

POSTER = b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, Thumbnail(time=5.0)),
        (12.5, Thumbnail(time=12.5)),
        ("00:01:05", Thumbnail(time=65.0)),
        ("1:05", Thumbnail(time=65.0)),
        ("7", Thumbnail(time=7.0)),
        # An image gets its content's digest: editing the image changes the metadata.
        ("poster.JPG", Thumbnail(file="poster.JPG", image_sha256=sha256(POSTER).hexdigest())),
    ],
)
def test_thumbnail_forms(tmp_path: Path, value: Any, expected: Thumbnail) -> None:
    (tmp_path / "poster.JPG").write_bytes(POSTER)
    assert read_json(tmp_path, {"thumbnail": value}).thumbnail == expected


def test_a_thumbnail_time_may_come_from_folder_defaults(tmp_path: Path) -> None:
    assert read_json(tmp_path, {}, {"thumbnail": 3}).thumbnail == Thumbnail(time=3.0)


THUMBNAIL_ERRORS = [
    ({"thumbnail": "poster.jpg"}, "x.mp4.json", "thumbnail: 'poster.jpg': no such file in "),
    ({"thumbnail": "sub/poster.jpg"}, "x.mp4.json", "thumbnail: 'sub/poster.jpg': give the name"),
    ({"thumbnail": ".."}, "x.mp4.json", "thumbnail: '..': give the name of an image"),
    ({"thumbnail": "poster.tiff"}, "x.mp4.json", "thumbnail: 'poster.tiff' is neither a time nor"),
    ({"thumbnail": -3}, "x.mp4.json", "thumbnail: -3 is not a time of 0 seconds or more"),
    ({"thumbnail": [1]}, "x.mp4.json", "thumbnail: expected a time in seconds or an image file"),
    ({"thumbnail": "poster.jpg"}, ".syncd.json", "thumbnail: an image is per file"),
]


@pytest.mark.parametrize(("data", "name", "problem"), THUMBNAIL_ERRORS)
def test_bad_thumbnail(tmp_path: Path, data: dict[str, Any], name: str, problem: str) -> None:
    assert error_of(tmp_path, data, name).startswith(problem)


def test_a_directory_is_no_thumbnail_image(tmp_path: Path) -> None:
    (tmp_path / "poster.png").mkdir()
    assert error_of(tmp_path, {"thumbnail": "poster.png"}).startswith(
        "thumbnail: 'poster.png': no such file"
    )


# --- digest ------------------------------------------------------------------------------

FULL = Metadata(
    title="Waves",
    description="<p>d</p>",
    tags=("b", "a"),
    albums=("A",),
    publish=False,
    publish_date="2024-05-31",
    custom=(("k", "v"),),
)


def test_digests_of_metadata_without_the_new_fields_did_not_change() -> None:
    # Pinned before chapters, coordinates and thumbnail existed: applied digests in
    # existing journals must still match, or every synced file would be updated again.
    assert Metadata().digest() == "47ca6df9c109ae57"
    assert FULL.digest() == "9b958830e596d844"


@pytest.mark.parametrize(
    "change",
    [
        {"chapters": ()},
        {"chapters": (Chapter(0.0, "Intro"),)},
        {"chapters": (Chapter(0.0, "Intro", "d"),)},
        {"coordinates": Coordinates(1.0, 2.0)},
        {"thumbnail": Thumbnail(time=1.0)},
        {"thumbnail": Thumbnail(file="poster.jpg")},
    ],
    ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))}",
)
def test_each_new_field_changes_the_digest_when_set(change: dict[str, Any]) -> None:
    assert replace(FULL, **change).digest() != FULL.digest()


def test_the_new_fields_tell_their_values_apart() -> None:
    digests = {
        replace(FULL, coordinates=Coordinates(1.0, 2.0)).digest(),
        replace(FULL, coordinates=Coordinates(2.0, 1.0)).digest(),
        replace(FULL, thumbnail=Thumbnail(time=1.0)).digest(),
        replace(FULL, thumbnail=Thumbnail(time=2.0)).digest(),
        replace(FULL, chapters=(Chapter(0.0, "A"),)).digest(),
        replace(FULL, chapters=(Chapter(1.0, "A"),)).digest(),
    }
    assert len(digests) == 6


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "00:00:00"), (90.5, "00:01:30.5"), (3723.25, "01:02:03.25"), (59.9996, "00:01:00")],
)
def test_format_time(seconds: float, shown: str) -> None:
    assert format_time(seconds) == shown


def test_the_media_that_take_no_thumbnail_are_the_scans_photos_and_sounds() -> None:
    from syncd.local.scan import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
    from syncd.metadata.sidecar.fields import NOT_VIDEO_EXTENSIONS

    assert NOT_VIDEO_EXTENSIONS == IMAGE_EXTENSIONS | AUDIO_EXTENSIONS
