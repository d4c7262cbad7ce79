"""XMP and YAML sidecars as the tools write them, pushed through the real pipeline to the
sandbox: each item gets its title, description, tags, publish date and coordinates (and the
configured rating variable); each bad sidecar fails only its own file, with a message naming
it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pipeline_helpers import append_config, journal_states, run_syncd, sha256_of

from syncd.model import IDENTITY_NAMESPACE, ItemState
from syncd.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "metadata" / "fixtures"

# media file -> (sidecar name as the tool writes it, fixture, expected fields on the item)
GOOD = {
    "sunset.mov": (
        "sunset.xmp",
        "lightroom-classic.xmp",
        {
            "title": "Sunset over the Oslofjord",
            "description": "Evening light from Ekebergåsen &amp; the ferries to Nesodden.",
            # Multi-word tags go with their words joined ([upload] tag_word_joiner).
            "tags": ["Oslo", "Oslofjord", "golden_hour", "ferry", "sunset"],
            "custom": {"rating": "4"},
            "publish_date": "2023-06-10 18:22:05",
            "coordinates": [(59.91199, 10.73912)],
        },
    ),
    "bryggen.jpg": (
        "bryggen.jpg.xmp",
        "darktable.xmp",
        {
            "title": "Bryggen in the rain",
            "description": "The Hanseatic wharf, seen from Vågen.",
            "tags": ["Bergen", "rain", "UNESCO_world_heritage"],
            "custom": {"rating": "3"},
            "publish_date": "2022-08-14 09:12:44",
            "coordinates": [(60.39602, 5.32345)],
        },
    ),
    "paris.mp4": (
        "paris.mp4.xmp",
        "digikam.xmp",
        {
            "title": "Picnic on the Champ de Mars",
            "description": "Anna's first visit to the Eiffel Tower &lt;3",
            "tags": ["Paris", "Anna_Müller", "Summer_holiday_2019"],
            "custom": {"rating": "5"},
            "publish_date": "2019-07-21 14:03:11",
            "coordinates": [(48.85835, 2.29511)],
        },
    ),
    "interview.mp4": (
        "interview.mp4.xmp",
        "exiftool.xmp",
        {
            "title": "Interview with Sigrid Holm",
            "description": "Recorded at the Trondheim folk music archive, spring 2021.",
            "tags": ["interview", "folk_music", "Hardanger_fiddle"],
            "custom": {"rating": "2"},
            "publish_date": "2021-03-04 10:20:30",
            "coordinates": [(63.4305, 10.395)],
        },
    ),
    "gausta.mp4": (
        "gausta.yml",
        "hand-kept.yaml",
        {
            "title": "Fjellvandring til Gaustatoppen",
            "description": "<p>Tur med hele familien, 1 883 moh. Været snudde på toppen.</p>",
            "tags": ["fjellvandring", "Gaustatoppen", "slow_tv", "høstferie_2023"],
            "custom": {"recorded_by": "Øystein Å. Ødegård"},
            "albums": ["Turer"],
            "published": False,
            "publish_date": "2023-10-07 11:30:00",
            "coordinates": [(59.8543, 8.6484)],
        },
    ),
}

BOMB = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"/>
"""
# media file -> (sidecar name, content, what its failure message says)
BAD = {
    "bomb.mp4": ("bomb.mp4.xmp", BOMB, "line 2: declares an entity ('a'): refused"),
    "broken.mp4": ("broken.yaml", "title: [unclosed\n", "invalid YAML at line 2 column 1"),
    "norway.mp4": ("norway.mp4.yml", "publish: no\n", "publish: expected true or false"),
    "both.mp4": ("both.mp4.json", '{"title": "j"}', "two sidecars"),
}


def test_tool_written_sidecars_reach_the_site_and_bad_ones_fail_alone(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    append_config(sandbox_config, '[metadata]\nxmp_rating_variable = "rating"')
    tree = tmp_path / "archive"
    tree.mkdir()
    for media, (sidecar, fixture, _) in GOOD.items():
        (tree / media).write_bytes(f"the media bytes of {media}".encode() * 50)
        shutil.copyfile(FIXTURES / fixture, tree / sidecar)
    for media, (sidecar, content, _) in BAD.items():
        (tree / media).write_bytes(f"the media bytes of {media}".encode() * 50)
        (tree / sidecar).write_text(content, encoding="utf-8")
    shutil.copyfile(FIXTURES / "exiftool.xmp", tree / "both.xmp")  # a second format

    result = run_syncd(sandbox_config, "push", "--no-wait", "--json", tree)

    assert result.returncode == 1, result.stdout + result.stderr  # some files failed
    report = json.loads(result.stdout)
    items = {item["sha256"]: item for item in sandbox.items()}
    assert len(items) == len(GOOD)  # sidecars are never uploaded; bad files are not sent
    for media, (_, _, expected) in GOOD.items():
        item = items[sha256_of(tree / media)]
        tags = [t for t in item["tags"] if not t.startswith(f"{IDENTITY_NAMESPACE}:")]
        assert item["title"] == expected["title"], media
        assert item["description"] == expected["description"], media
        assert tags == expected["tags"], media
        assert item["custom"] == expected["custom"], media
        assert item["albums"] == expected.get("albums", []), media
        assert item["published"] is expected.get("published", True), media
        # photoshop:DateCreated / xmp:CreateDate (publish_date in YAML) went with the
        # upload; exif:GPS* (coordinates in YAML) by photo/coordinate/add.
        assert item["publish_date"] == expected["publish_date"], media
        assert item["coordinates"] == [
            pytest.approx(c, abs=1e-7) for c in expected["coordinates"]
        ], media

    states = journal_states(sandbox_config)
    failed = {entry["path"]: entry["message"] for entry in report["failed"]}
    assert set(failed) == {str(tree / media) for media in BAD}
    for media, (sidecar, _, fragment) in BAD.items():
        assert states[str(tree / media)] is ItemState.FAILED
        message = failed[str(tree / media)]
        assert str(tree / sidecar) in message and fragment in message, message
    assert str(tree / "both.xmp") in failed[str(tree / "both.mp4")]
    for media in GOOD:
        assert states[str(tree / media)] is ItemState.SYNCED
