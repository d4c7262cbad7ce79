"""YAML sidecars and folder defaults: the same keys as JSON, judged by the same validation,
with YAML 1.1's surprises (yes/no, dates, sexagesimal, octal) kept out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sidecar_helpers import media_with

from syncd.errors import SidecarError
from syncd.metadata.desired import read_metadata
from syncd.metadata.sidecar.registry import TEXT_SIDECAR_CAP
from syncd.model import Chapter, Coordinates, Metadata, Thumbnail


def test_hand_kept_yaml_field_by_field(tmp_path: Path) -> None:
    path = media_with(tmp_path, "gausta.mp4", "gausta.mp4.yaml", "hand-kept.yaml")
    meta = read_metadata(path, tmp_path, Metadata(tags=("archive",)))
    assert meta.title == "Fjellvandring til Gaustatoppen"
    assert meta.description == "<p>Tur med hele familien, 1 883 moh. Været snudde på toppen.</p>"
    assert meta.tags == ("archive", "fjellvandring", "Gaustatoppen", "slow tv", "høstferie 2023")
    assert meta.albums == ("Turer",)
    assert meta.publish is False
    assert meta.publish_date == "2023-10-07 11:30:00"  # unquoted, yet text: no datetime
    assert meta.custom == (("recorded_by", "Øystein Å. Ødegård"),)
    assert meta.chapters == (
        Chapter(0.0, "Parkeringsplassen på Stavsro"),
        Chapter(750.0, "Første utsikt", "Tinn og Rjukan under oss"),
        Chapter(3723.0, "På toppen"),  # unquoted 01:02:03: a clock time, not sexagesimal
    )
    assert meta.coordinates == Coordinates(59.8543, 8.6484)
    assert meta.thumbnail == Thumbnail(time=95.5)


@pytest.mark.parametrize(
    "name", ["x.mp4.yaml", "x.mp4.yml", "x.yaml", "x.yml"], ids=lambda n: n.replace(".", "_")
)
def test_every_yaml_sidecar_name(tmp_path: Path, name: str) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    (tmp_path / name).write_text("title: Found\n", encoding="utf-8")
    assert read_metadata(tmp_path / "x.mp4", tmp_path).title == "Found"


def test_yaml_folder_defaults_layer_like_json_ones(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / ".syncd.yml").write_text("tags: [root]\nalbum: Root\n", encoding="utf-8")
    (tmp_path / "a" / ".syncd.json").write_text('{"tags": ["a"]}', encoding="utf-8")
    (tmp_path / "a" / "x.mp4").write_bytes(b"media")
    (tmp_path / "a" / "x.yaml").write_text("tags: mine\n", encoding="utf-8")
    meta = read_metadata(tmp_path / "a" / "x.mp4", tmp_path)
    assert (meta.tags, meta.albums) == (("root", "a", "mine"), ("Root",))


def test_an_empty_yaml_file_sets_nothing(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    (tmp_path / "x.mp4.yaml").write_text("# nothing here yet\n", encoding="utf-8")
    assert read_metadata(tmp_path / "x.mp4", tmp_path) == Metadata(title="x")


# --- YAML 1.1 coercions: what the value is, or the error JSON would give ---------------

COERCION_CASES: list[tuple[str, str, dict[str, Any] | str]] = [
    ("the Norway problem", "tags: [NO, SE, yes, off]", {"tags": ("NO", "SE", "yes", "off")}),
    ("yes is not a boolean", "publish: yes", "publish: expected true or false, got a string"),
    ("on is not a boolean", "publish: on", "publish: expected true or false, got a string"),
    ("on is a fine title", "title: on", {"title": "on"}),
    ("true is a boolean", "publish: false", {"publish": False}),
    ("an unquoted date is text", "publish_date: 2024-05-31", {"publish_date": "2024-05-31"}),
    ("1.0 is a number", "title: 1.0", "title: expected a string, got number 1.0"),
    ("a leading zero is not octal", "tags: 017", {"tags": ("017",)}),
    (
        "1:30 is not sexagesimal",
        "chapters: [{start: 1:30, title: A}]",
        {"chapters": (Chapter(90.0, "A"),)},
    ),
    (
        "numbers as custom values",
        "custom: {year: 2019}",
        "custom.year: expected a string, got number 2019",
    ),
    ("null is not absence", "description: null", "description: expected a string, got null"),
    ("~ is null too", "description: ~", "description: expected a string, got null"),
    ("an empty value is null", "title:", "title: expected a string, got null"),
    ("0x1F stays text", "title: 0x1F", {"title": "0x1F"}),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in COERCION_CASES], ids=[c[0] for c in COERCION_CASES]
)
def test_yaml_coercions(tmp_path: Path, text: str, expected: dict[str, Any] | str) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    sidecar = tmp_path / "x.mp4.yaml"
    sidecar.write_text(text + "\n", encoding="utf-8")
    if isinstance(expected, str):
        with pytest.raises(SidecarError) as info:
            read_metadata(tmp_path / "x.mp4", tmp_path)
        assert str(info.value) == f"{sidecar}: {expected}"
    else:
        meta = read_metadata(tmp_path / "x.mp4", tmp_path)
        assert {name: getattr(meta, name) for name in expected} == expected


# --- the same mistakes, the same messages --------------------------------------------

SAME_MESSAGE_CASES: list[dict[str, Any]] = [
    {"tag": ["a"]},
    {"publish": 1},
    {"tags": ["ok", True]},
    {"albums": "Nature"},
    {"album": "A", "albums": ["B"]},
    {"publish_date": "31/05/2024"},
    {"custom": {"bad name": "v"}},
    {"chapters": [{"start": "00:61:00", "title": "x"}]},
    {"coordinates": {"latitude": 91, "longitude": 0}},
    {"thumbnail": "poster.tiff"},
]


@pytest.mark.parametrize("data", SAME_MESSAGE_CASES, ids=lambda d: ",".join(d))
def test_yaml_errors_read_like_json_errors(tmp_path: Path, data: dict[str, Any]) -> None:
    messages = []
    for suffix in (".json", ".yaml"):
        folder = tmp_path / suffix.lstrip(".")
        folder.mkdir()
        (folder / "x.mp4").write_bytes(b"media")
        # JSON is valid YAML: the YAML sidecar holds the very same text.
        (folder / f"x.mp4{suffix}").write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(SidecarError) as info:
            read_metadata(folder / "x.mp4", folder)
        messages.append(str(info.value).replace(f"{folder}/x.mp4{suffix}", "SIDECAR"))
    assert messages[0] == messages[1]
    assert messages[0].startswith("SIDECAR: ")


# --- bad YAML ---------------------------------------------------------------------------

BAD_YAML: list[tuple[str, bytes, str]] = [
    ("invalid YAML", b"title: x\ntags: [a,\n", "invalid YAML at line 3 column 1: while parsing"),
    ("a tab indent", b"custom:\n\tby: me\n", "invalid YAML at line 2 column 1: "),
    ("not a mapping", b"- title\n", "expected a YAML mapping (key: value lines), got an array"),
    ("two documents", b"title: a\n---\ntitle: b\n", "line 2 column 1: expected a single document"),
    ("a key twice", b"title: a\ntags: b\ntitle: c\n", "title: given twice (line 3)"),
    (
        "a key that is not text",
        b"title: a\n2019: b\n",
        "keys must be text, got number 2019 (line 2)",
    ),
    (
        "an alias",
        b"tags: &t [a]\ncustom:\n  x: *t\n",
        "aliases (*name) are not accepted in a sidecar",
    ),
    ("a merge key", b"<<: {title: a}\n", "<<: unknown key"),
    ("a timestamp tag", b"publish_date: !!timestamp 2024-05-31\n", "YAML tags (!!timestamp)"),
    ("a control character", b"title: a\x07b\n", "line 1: the control character U+0007"),
    ("not UTF-8", b"title: caf\xe9\n", "not valid UTF-8 (bad byte at offset 10)"),
]


@pytest.mark.parametrize(
    ("content", "fragment"), [c[1:] for c in BAD_YAML], ids=[c[0] for c in BAD_YAML]
)
def test_bad_yaml(tmp_path: Path, content: bytes, fragment: str) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    sidecar = tmp_path / "x.yml"
    sidecar.write_bytes(content)
    with pytest.raises(SidecarError) as info:
        read_metadata(tmp_path / "x.mp4", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{sidecar}: ") and fragment in message, message


def test_python_object_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "x.mp4").write_bytes(b"media")
    (tmp_path / "x.mp4.yaml").write_text(
        f"title: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8"
    )
    with pytest.raises(SidecarError, match=r"YAML tags \(!!python/object/apply:os.system\)"):
        read_metadata(tmp_path / "x.mp4", tmp_path)
    assert not marker.exists()


def test_oversized_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    sidecar = tmp_path / ".syncd.yaml"
    sidecar.write_bytes(b"# " + b"x" * TEXT_SIDECAR_CAP)
    with pytest.raises(SidecarError, match=r"\.syncd\.yaml: larger than 1 MiB"):
        read_metadata(tmp_path / "x.mp4", tmp_path)


def test_fifo_folder_defaults_is_reported_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"media")
    os.mkfifo(tmp_path / ".syncd.yml")
    with pytest.raises(SidecarError, match=r"not a regular file \(FIFO\)"):
        read_metadata(tmp_path / "x.mp4", tmp_path)
