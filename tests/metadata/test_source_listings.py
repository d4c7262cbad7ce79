"""Workers look a file's metadata sources up through folder listings (FolderListings,
SourceView) instead of one failing lstat per sidecar name: what they find must be what the
disk, asked name by name, says, and a sidecar added or removed after a folder was listed
must be seen the next time."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from syncd.errors import SidecarError
from syncd.metadata.desired import (
    SETTLED_FOLDER_NS,
    FolderListings,
    SourceView,
    desired_metadata,
    metadata_signature,
    read_metadata,
)
from syncd.model import Metadata

BASE = Metadata(tags=("cfg",))
# Listings whose clock is far ahead of the folders' timestamps: every folder counts as
# settled, so the listings are made and kept (a test's folders are all just made).
AHEAD_NS = 3600 * 1_000_000_000


def settled_listings() -> FolderListings:
    return FolderListings(now_ns=lambda: time.time_ns() + AHEAD_NS)


def write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)


def next_tick() -> None:
    """Let the file system's clock move on, so a change made now gives a folder a later
    timestamp than the one it was listed under (the kernel's clock ticks every few ms)."""
    time.sleep(0.05)


TREES: dict[str, dict[str, object]] = {
    "nothing": {},
    "folder defaults at each level": {
        ".syncd.json": {"tags": "root"},
        "a/.syncd.yaml": "album: A\n",
    },
    "a sidecar by name": {"a/clip.mp4.json": {"title": "By name"}},
    "a sidecar by stem": {"a/clip.yml": "title: By stem\n"},
    "an xmp sidecar": {
        "a/clip.xmp": (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description>'
            "<dc:title><rdf:Alt><rdf:li>From XMP</rdf:li></rdf:Alt></dc:title>"
            "</rdf:Description></rdf:RDF></x:xmpmeta>"
        )
    },
    "another file's sidecar only": {"a/other.mp4.json": {"title": "Not mine"}},
    "a sidecar in another case": {"a/CLIP.MP4.JSON": {"title": "Upper"}},
    "sidecars beside the media and in the folder": {
        ".syncd.json": {"tags": "root"},
        "a/.syncd.json": {"publish": False},
        "a/clip.mp4.json": {"title": "T", "tags": ["own"]},
    },
}


@pytest.mark.parametrize("files", list(TREES.values()), ids=list(TREES))
def test_a_view_signs_and_reads_as_the_disk_does(tmp_path: Path, files: dict[str, object]) -> None:
    for rel, content in files.items():
        write(tmp_path / rel, content)
    media = tmp_path / "a" / "clip.mp4"
    media.parent.mkdir(exist_ok=True)
    media.write_bytes(b"media")
    listings = settled_listings()

    view = SourceView(listings)
    signed = metadata_signature(media, tmp_path, BASE, lookup=view.version, holds=view.holds)
    assert signed == metadata_signature(media, tmp_path, BASE)
    assert read_metadata(media, tmp_path, BASE, view=view) == read_metadata(media, tmp_path, BASE)
    assert desired_metadata(media, tmp_path, BASE, view=SourceView(listings)) == (
        desired_metadata(media, tmp_path, BASE)
    )


def test_a_broken_sidecar_is_reported_through_a_view_as_from_the_disk(tmp_path: Path) -> None:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"media")
    (tmp_path / "clip.mp4.json").symlink_to(tmp_path / "gone.json")  # dangling
    view = SourceView(settled_listings())
    signed = metadata_signature(media, tmp_path, BASE, lookup=view.version, holds=view.holds)
    assert signed == metadata_signature(media, tmp_path, BASE)
    with pytest.raises(SidecarError) as from_disk:
        read_metadata(media, tmp_path, BASE)
    with pytest.raises(SidecarError) as through_view:
        read_metadata(media, tmp_path, BASE, view=view)
    assert str(through_view.value) == str(from_disk.value)


def test_a_sidecar_added_after_its_folder_was_listed_is_seen(tmp_path: Path) -> None:
    media = tmp_path / "a" / "clip.mp4"
    media.parent.mkdir()
    media.write_bytes(b"media")
    listings = settled_listings()
    first, first_sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert first.title == "clip"
    assert listings.names(media.parent) == frozenset()  # listed, and kept

    next_tick()
    write(tmp_path / "a" / "clip.mp4.json", {"title": "Added later"})
    meta, sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.title == "Added later"
    assert sig != first_sig
    assert sig == metadata_signature(media, tmp_path, BASE)

    # Folder defaults added at the root later are seen as well, and a removal too.
    next_tick()
    write(tmp_path / ".syncd.json", {"tags": "later"})
    meta, _ = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.tags == ("cfg", "later")
    next_tick()
    (tmp_path / "a" / "clip.mp4.json").unlink()
    meta, sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.title == "clip"
    assert sig == metadata_signature(media, tmp_path, BASE)


def test_a_folder_changed_moments_ago_is_asked_name_by_name(tmp_path: Path) -> None:
    """A folder still being written to is not listed: an entry added within the same tick
    of the file system's clock would not move the folder's timestamps."""
    now = time.time_ns()
    listings = FolderListings(now_ns=lambda: now)
    assert listings.names(tmp_path) is None
    later = FolderListings(now_ns=lambda: now + SETTLED_FOLDER_NS + AHEAD_NS)
    assert later.names(tmp_path) == frozenset()


def test_a_folder_that_is_gone_or_not_a_folder_is_asked_name_by_name(tmp_path: Path) -> None:
    listings = settled_listings()
    assert listings.names(tmp_path / "missing") is None
    (tmp_path / "file").write_bytes(b"x")
    assert listings.names(tmp_path / "file") is None


def test_listings_keep_only_metadata_sources_and_the_newest_folders(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "clip.mp4").write_bytes(b"media")
        (tmp_path / name / "Clip.MP4.Json").write_text("{}")
    listings = FolderListings(2, now_ns=lambda: time.time_ns() + AHEAD_NS)
    for name in ("a", "b", "c"):
        assert listings.names(tmp_path / name) == frozenset({"clip.mp4.json"})
    assert sorted(listings._listed) == [str(tmp_path / "b"), str(tmp_path / "c")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_a_folder_that_cannot_be_searched_is_named_through_a_view(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    media = folder / "clip.mp4"
    media.write_bytes(b"media")
    folder.chmod(0o600)  # listable, not searchable
    try:
        with pytest.raises(SidecarError) as from_disk:
            read_metadata(media, tmp_path, BASE)
        with pytest.raises(SidecarError) as through_view:
            read_metadata(media, tmp_path, BASE, view=SourceView(settled_listings()))
        assert str(through_view.value) == str(from_disk.value)
    finally:
        folder.chmod(0o700)
