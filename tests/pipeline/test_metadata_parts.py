"""Chapters, coordinates and thumbnails from sidecars reach the sandbox item through the
metadata stage, and a sidecar edit that changes one of them sends only that one's calls:
no upload, no photo/update, nothing for the parts that did not change."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import run_syncd

from syncd.api.client import Client
from syncd.config import load_config
from syncd.journal import Journal
from syncd.model import BAD_SIDECAR, FileRow, ItemState
from syncd.push import Push, PushOptions
from syncd.retry import RetryPolicy
from syncd.sandbox import Sandbox

FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.05, park_first=0.5)

CHAPTERS = [
    {"start": "00:00:00", "title": "Intro"},
    {"start": "00:01:30", "title": "The talk", "description": "Main part"},
    {"start": "00:10:00", "title": "Questions"},
]
SIDECAR: dict[str, Any] = {
    "title": "A talk",
    "tags": ["talks"],
    "chapters": CHAPTERS,
    "coordinates": {"latitude": 59.91199, "longitude": 10.73912},
    "thumbnail": 12.5,
}
# Calls the metadata stage makes for chapters: the item's token, then its sections.
CHAPTER_LOOKUPS = {"photo/list": 1, "photo/section/list": 1}


def push(config_path: Path, root: Path) -> dict[str, FileRow]:
    config = load_config(config_path)
    with Journal.open(config.journal_path) as journal:
        # No patience: a deferred update is left to the next run, not waited for.
        Push(config, journal, policy=FAST, patience=0.0).run(
            PushOptions(roots=[root], no_wait=True)
        )
        return {row.path: row for row in journal.rows_in(list(ItemState))}


def calls(sandbox: Sandbox, action: Callable[[], Any]) -> Counter[str]:
    """The API calls (by method) the sandbox received while `action` ran."""
    before = len(sandbox.requests)
    action()
    # site/get (asked when a journal meets a domain it is not bound to) is not metadata work.
    return Counter(r.method for r in sandbox.requests[before:] if r.method != "site/get")


def sections(item: dict[str, Any]) -> list[tuple[float, str, str]]:
    return [(s["start_time"], s["title"], s["description"]) for s in item["sections"]]


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def talk(sandbox: Sandbox, sandbox_config: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A video with chapters, coordinates and a thumbnail time, pushed once."""
    tree = tmp_path / "tree"
    tree.mkdir()
    clip = tree / "talk.mp4"
    clip.write_bytes(b"a recorded talk" * 100)
    write(tree / "talk.mp4.json", SIDECAR)
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made["photo/upload"] == 1
    assert made["photo/update"] == 0  # the upload carried title and tags
    return tree, clip


def test_chapters_coordinates_and_thumbnail_time_are_applied(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, clip = talk
    [item] = sandbox.items()
    assert item["title"] == "A talk"
    assert sections(item) == [
        (0.0, "Intro", ""),
        (90.0, "The talk", "Main part"),
        (600.0, "Questions", ""),
    ]
    assert item["coordinates"] == [(59.91199, 10.73912)]
    assert item["thumbnail"] == {"time": 12.5}
    assert item["replaced"] == 0  # the video itself was not touched

    rows = push(sandbox_config, tree)  # nothing changed: nothing more is sent
    assert rows[str(clip)].state is ItemState.SYNCED
    assert calls(sandbox, lambda: push(sandbox_config, tree)) == Counter()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"chapters": [CHAPTERS[0], {**CHAPTERS[1], "title": "The keynote"}, CHAPTERS[2]]},
            {**CHAPTER_LOOKUPS, "photo/section/update": 1},
            id="one-chapter-retitled",
        ),
        pytest.param(
            {"chapters": [*CHAPTERS, {"start": 900, "title": "Music"}]},
            {**CHAPTER_LOOKUPS, "photo/section/create": 1},
            id="one-chapter-added",
        ),
        pytest.param(
            {"coordinates": {"latitude": 60.39299, "longitude": 5.32415}},
            {"photo/coordinate/delete": 1, "photo/coordinate/add": 1},
            id="coordinates-moved",
        ),
        pytest.param({"thumbnail": "00:00:42"}, {"photo/replace": 1}, id="thumbnail-time"),
        pytest.param({"title": "A better title"}, {"photo/update": 1}, id="title"),
    ],
)
def test_changing_one_part_updates_only_that_part(
    sandbox: Sandbox,
    sandbox_config: Path,
    talk: tuple[Path, Path],
    change: dict[str, Any],
    expected: dict[str, int],
) -> None:
    tree, clip = talk
    [before] = sandbox.items()
    write(tree / "talk.mp4.json", {**SIDECAR, **change})

    made = calls(sandbox, lambda: push(sandbox_config, tree))

    assert made == Counter(expected)  # and so zero uploads, and nothing else
    [after] = sandbox.items()
    assert after["photo_id"] == before["photo_id"]
    unchanged = {"sections", "coordinates", "thumbnail", "title"} - {
        {"chapters": "sections", "thumbnail": "thumbnail"}.get(k, k) for k in change
    }
    for name in unchanged:
        assert after[name] == before[name], name
    if "chapters" in change:
        assert [s[1] for s in sections(after)] == [c["title"] for c in change["chapters"]]
        kept = {s["section_id"] for s in before["sections"]}
        assert kept <= {s["section_id"] for s in after["sections"]}  # none re-created
    if "coordinates" in change:
        assert after["coordinates"] == [(60.39299, 5.32415)]
    if "thumbnail" in change:
        assert after["thumbnail"] == {"time": 42.0}
    if "title" in change:
        assert after["title"] == "A better title"
        assert any(t.startswith("syncd:") for t in after["tags"])  # the marker stays
    assert push(sandbox_config, tree)[str(clip)].state is ItemState.SYNCED


def test_removing_chapters_and_coordinates_deletes_them(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, _ = talk
    write(tree / "talk.mp4.json", {**SIDECAR, "chapters": [CHAPTERS[2]]})
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made == Counter({**CHAPTER_LOOKUPS, "photo/section/delete": 2})
    [item] = sandbox.items()
    assert sections(item) == [(600.0, "Questions", "")]

    # The keys taken out of the sidecar: what syncd put there goes too.
    without = {k: v for k, v in SIDECAR.items() if k not in ("chapters", "coordinates")}
    write(tree / "talk.mp4.json", without)
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made == Counter(
        {**CHAPTER_LOOKUPS, "photo/section/delete": 1, "photo/coordinate/delete": 1}
    )
    [item] = sandbox.items()
    assert (item["sections"], item["coordinates"]) == ([], [])

    # Not given any more, so no longer syncd's: sections made on the site stay.
    with Client(load_config(sandbox_config).site) as client:
        client.section_call(
            "create", str(item["photo_id"]), {"title": "By hand", "description": ""}
        )
    write(tree / "talk.mp4.json", {**without, "title": "Retitled"})
    assert calls(sandbox, lambda: push(sandbox_config, tree)) == Counter({"photo/update": 1})
    [item] = sandbox.items()
    assert sections(item) == [(0.0, "By hand", "")]


def test_an_empty_chapter_list_replaces_sections_made_by_hand(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    """Chapters in a sidecar are the item's sections: one added on the site goes."""
    tree, _ = talk
    [item] = sandbox.items()
    with Client(load_config(sandbox_config).site) as client:
        client.section_call(
            "create", str(item["photo_id"]), {"title": "By hand", "description": ""}
        )
    write(tree / "talk.mp4.json", {**SIDECAR, "chapters": []})
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made == Counter({**CHAPTER_LOOKUPS, "photo/section/delete": 4})
    assert sandbox.items()[0]["sections"] == []


def test_a_thumbnail_image_is_sent_and_sent_again_when_the_image_changes(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "film.mp4").write_bytes(b"a film" * 100)
    poster = tree / "film.thumb.jpg"
    poster.write_bytes(b"\xff\xd8\xff first poster")
    write(tree / "film.mp4.json", {"thumbnail": "film.thumb.jpg"})
    # The poster is an image in the tree: keep it from being uploaded as an item of its own
    # (the filter docs/metadata.md suggests).
    config = sandbox_config.read_text() + '\n[scan]\nexclude = ["*.thumb.jpg"]\n'
    sandbox_config.write_text(config)

    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert (made["photo/upload"], made["photo/replace"]) == (1, 1)
    [item] = sandbox.items()
    first = hashlib.sha256(poster.read_bytes()).hexdigest()
    assert item["thumbnail"] == {
        "sha256": first,
        "filename": "film.thumb.jpg",
        "size": poster.stat().st_size,
    }
    assert calls(sandbox, lambda: push(sandbox_config, tree)) == Counter()

    # Only the image changes, not the sidecar: the change is noticed all the same.
    poster.write_bytes(b"\xff\xd8\xff a better poster")
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made == Counter({"photo/replace": 1})
    [item] = sandbox.items()
    assert item["thumbnail"]["sha256"] == hashlib.sha256(poster.read_bytes()).hexdigest()
    assert item["thumbnail"]["sha256"] != first


def test_a_bad_chapter_fails_only_its_file(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "good.mp4").write_bytes(b"good" * 100)
    (tree / "bad.mp4").write_bytes(b"bad" * 100)
    write(tree / "good.mp4.json", {"chapters": CHAPTERS[:1]})
    twice = [{"start": "1:30", "title": "A"}, {"start": 90, "title": "B"}]
    write(tree / "bad.mp4.json", {"chapters": twice})

    rows = push(sandbox_config, tree)

    bad = rows[str(tree / "bad.mp4")]
    assert (bad.state, bad.error_code) == (ItemState.FAILED, BAD_SIDECAR)
    assert bad.error_message == (
        f"{tree / 'bad.mp4.json'}: chapters[1]: starts at 00:01:30, as chapters[0] does"
    )
    assert rows[str(tree / "good.mp4")].state is ItemState.SYNCED
    [item] = sandbox.items()
    assert sections(item) == [(0.0, "Intro", "")]


def test_a_chapter_the_site_refuses_holds_only_that_item(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    """The sidecar is valid, but the video is shorter than a chapter's start: the site
    says so, the item waits with that message, and the parts already sent stay recorded."""
    tree, clip = talk
    [item] = sandbox.items()
    sandbox.set_video_length(item["photo_id"], 700)
    change = {
        "title": "Shorter",
        "chapters": [*CHAPTERS, {"start": "00:20:00", "title": "Too late"}],
    }
    write(tree / "talk.mp4.json", {**SIDECAR, **change})
    (tree / "other.mp4").write_bytes(b"another talk" * 100)

    rows = push(sandbox_config, tree)

    row = rows[str(clip)]
    assert row.state is ItemState.SYNCED and row.applied_digest != row.desired_digest
    assert row.error_code == "invalid_input"
    assert "beyond the end of the video (700 s)" in (row.error_message or "")
    assert rows[str(tree / "other.mp4")].state is ItemState.SYNCED
    talk_item = next(i for i in sandbox.items() if i["photo_id"] == item["photo_id"])
    assert talk_item["title"] == "Shorter"  # sent before the chapters, and recorded
    assert len(talk_item["sections"]) == 3

    # Back to the chapters it had: they were being changed, so the list is asked again.
    write(tree / "talk.mp4.json", {**SIDECAR, "title": "Shorter"})
    made = calls(sandbox, lambda: push(sandbox_config, tree))
    assert made == Counter(CHAPTER_LOOKUPS)  # title already there; sections already right
    assert push(sandbox_config, tree)[str(clip)].state is ItemState.SYNCED


def test_a_coordinate_whose_answer_was_lost_is_not_added_twice(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, _ = talk
    sandbox.faults.add("photo/coordinate/add", cut_after_store=True, count=1)
    write(tree / "talk.mp4.json", {**SIDECAR, "coordinates": {"latitude": 1, "longitude": 2}})

    made = calls(sandbox, lambda: push(sandbox_config, tree))

    assert made["photo/coordinate/add"] == 2  # the first landed; its answer was cut
    [item] = sandbox.items()
    assert item["coordinates"] == [(1.0, 2.0)]


def test_a_section_whose_answer_was_lost_is_not_created_twice(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, _ = talk
    sandbox.faults.add("photo/section/create", cut_after_store=True, count=1)
    write(tree / "talk.mp4.json", {**SIDECAR, "chapters": [*CHAPTERS, {"start": 5, "title": "X"}]})

    made = calls(sandbox, lambda: push(sandbox_config, tree))

    assert made["photo/section/create"] == 1  # the list showed it landed
    assert [s[1] for s in sections(sandbox.items()[0])] == [
        "Intro", "X", "The talk", "Questions"
    ]  # fmt: skip


def test_dry_run_prints_only_the_changed_part(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, clip = talk
    write(tree / "talk.mp4.json", {**SIDECAR, "coordinates": {"latitude": 1, "longitude": 2}})
    result = run_syncd(sandbox_config, "push", "--dry-run", "--no-wait", tree)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if str(clip) in line]
    [item] = sandbox.items()
    assert line.strip().endswith(
        f"photo {item['photo_id']} coordinate delete 59.91199,10.73912; coordinate add 1,2"
    ), line
    assert item["coordinates"] == [(59.91199, 10.73912)]  # a dry run sends nothing


def test_a_thumbnail_for_a_photo_is_refused_and_a_folder_default_skips_photos(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    write(tree / ".syncd.json", {"thumbnail": 3})  # for the videos of this folder
    (tree / "still.jpg").write_bytes(b"\xff\xd8\xff a still")
    (tree / "clip.mp4").write_bytes(b"a clip" * 100)
    (tree / "photo.png").write_bytes(b"\x89PNG a photo")
    write(tree / "photo.png.json", {"thumbnail": 2})

    rows = push(sandbox_config, tree)

    assert rows[str(tree / "still.jpg")].state is ItemState.SYNCED
    assert rows[str(tree / "clip.mp4")].state is ItemState.SYNCED
    photo = rows[str(tree / "photo.png")]
    assert (photo.state, photo.error_code) == (ItemState.FAILED, BAD_SIDECAR)
    assert photo.error_message == (
        f"{tree / 'photo.png.json'}: thumbnail: photo.png is not a video; only a video takes "
        "a thumbnail (for a photo, photo/replace would replace the photo itself)"
    )
    by_name = {i["filename"]: i for i in sandbox.items()}
    assert by_name["clip.mp4"]["thumbnail"] == {"time": 3.0}
    assert by_name["still.jpg"]["thumbnail"] is None


def test_what_syncd_did_not_add_stays_and_a_thumbnail_taken_out_is_left(
    sandbox: Sandbox, sandbox_config: Path, talk: tuple[Path, Path]
) -> None:
    tree, _ = talk
    [item] = sandbox.items()
    with Client(load_config(sandbox_config).site) as client:
        client.coordinate_add(str(item["photo_id"]), "1.5", "2.5")  # added on the site
    moved = {"latitude": 60.39299, "longitude": 5.32415}
    without_thumbnail = {k: v for k, v in SIDECAR.items() if k != "thumbnail"}
    write(tree / "talk.mp4.json", {**without_thumbnail, "coordinates": moved})

    made = calls(sandbox, lambda: push(sandbox_config, tree))

    assert made == Counter({"photo/coordinate/delete": 1, "photo/coordinate/add": 1})
    [item] = sandbox.items()
    assert item["coordinates"] == [(1.5, 2.5), (60.39299, 5.32415)]
    assert item["thumbnail"] == {"time": 12.5}  # nothing unsets a thumbnail
