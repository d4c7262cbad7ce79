"""Workers look a file's metadata sources up through folder listings (FolderListings,
SourceView) instead of one failing lstat per sidecar name: what they find must be what the
disk, asked name by name, says, and a sidecar added or removed after a folder was listed
must be seen the next time."""

from __future__ import annotations

import json
import os
import types
from pathlib import Path
from typing import Any

import pytest

from syncd.errors import SidecarError
from syncd.metadata import desired
from syncd.metadata.desired import (
    SETTLED_FINE_FOLDER_SECONDS,
    SETTLED_FOLDER_SECONDS,
    FolderListings,
    SourceView,
    desired_metadata,
    metadata_signature,
    read_metadata,
)
from syncd.model import Metadata

BASE = Metadata(tags=("cfg",))


class Monotonic:
    """The listings' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settled_listings(*folders: Path, kept: int = 1024) -> FolderListings:
    """Listings that have seen each folder's present version for SETTLED_FOLDER_SECONDS,
    so the next use lists it (and later ones use that listing)."""
    clock = Monotonic()
    listings = FolderListings(kept, clock=clock)
    for folder in folders:
        assert listings.names(folder) is None  # a version seen for the first time
    clock.now += SETTLED_FOLDER_SECONDS
    return listings


def write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)


def stamped_later(folder: Path) -> None:
    """What the file system does to a folder an entry is added to or removed from after
    its listing, which the settle rule makes SETTLED_FOLDER_SECONDS later at least: its
    mtime moves on (set here, so no test waits on a clock's tick)."""
    st = folder.stat()
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))


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
    listings = settled_listings(tmp_path, media.parent)

    view = SourceView(listings)
    signed = metadata_signature(media, tmp_path, BASE, lookup=view.version, holds=view.holds)
    assert signed == metadata_signature(media, tmp_path, BASE)
    assert read_metadata(media, tmp_path, BASE, view=view) == read_metadata(media, tmp_path, BASE)
    assert desired_metadata(media, tmp_path, BASE, view=SourceView(listings)) == (
        desired_metadata(media, tmp_path, BASE)
    )
    assert listings.names(media.parent) is not None  # the listing was what answered


def test_a_broken_sidecar_is_reported_through_a_view_as_from_the_disk(tmp_path: Path) -> None:
    media = tmp_path / "clip.mp4"
    media.write_bytes(b"media")
    (tmp_path / "clip.mp4.json").symlink_to(tmp_path / "gone.json")  # dangling
    view = SourceView(settled_listings(tmp_path))
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
    listings = settled_listings(tmp_path, media.parent)
    first, first_sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert first.title == "clip"
    assert listings.names(media.parent) == frozenset()  # listed, and kept

    write(tmp_path / "a" / "clip.mp4.json", {"title": "Added later"})
    stamped_later(media.parent)
    meta, sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.title == "Added later"
    assert sig != first_sig
    assert sig == metadata_signature(media, tmp_path, BASE)

    # Folder defaults added at the root later are seen as well, and a removal too.
    write(tmp_path / ".syncd.json", {"tags": "later"})
    stamped_later(tmp_path)
    meta, _ = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.tags == ("cfg", "later")
    (tmp_path / "a" / "clip.mp4.json").unlink()
    stamped_later(media.parent)
    meta, sig = desired_metadata(media, tmp_path, BASE, view=SourceView(listings))
    assert meta.title == "clip"
    assert sig == metadata_signature(media, tmp_path, BASE)


def test_a_folder_is_listed_only_once_its_version_has_stayed_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder version seen for the first time, or moments ago, is asked name by name: an
    entry added within the same tick of the file system's clock would not move the folder's
    timestamps. A tick is a fraction of a second where the timestamps have fractions, up to
    2 s (FAT) where they are whole seconds. Only this host's monotonic clock is read: the
    folder's timestamps are never compared with it (a file system's clock may be far off)."""
    for settle, os_seen in (
        (SETTLED_FINE_FOLDER_SECONDS, os),
        (SETTLED_FOLDER_SECONDS, CoarseClockOs("os")),
    ):
        monkeypatch.setattr(desired, "os", os_seen)
        clock = Monotonic()
        listings = FolderListings(clock=clock)
        assert listings.names(tmp_path) is None
        clock.now += settle - 0.01
        assert listings.names(tmp_path) is None
        clock.now += 0.01
        assert listings.names(tmp_path) == frozenset()
        stamped_later(tmp_path)  # a new version starts over
        assert listings.names(tmp_path) is None


class CoarseClockOs(types.ModuleType):
    """`os` as seen on a file system with whole-second timestamps (ext4 with small
    inodes, many NAS exports): changes within one second leave a folder's version as it was."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def stat(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        st = os.stat(path, *args, **kwargs)
        fields = {f: getattr(st, f) for f in dir(st) if f.startswith("st_")}
        fields["st_mtime_ns"] = st.st_mtime_ns // 10**9 * 10**9
        fields["st_ctime_ns"] = st.st_ctime_ns // 10**9 * 10**9
        return types.SimpleNamespace(**fields)


def test_a_sidecar_written_beside_a_folder_seen_moments_ago_is_found_on_coarse_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy tool writes other.mp4, a worker busy with it looks at the folder, then the
    tool writes clip.mp4 and its sidecar in the same second: the folder's version does not
    move. The listing is made only once that version has stayed SETTLED_FOLDER_SECONDS,
    so it holds the sidecar. (Listing at first sight, as once, missed it every time on such
    a file system whose clock was a few seconds behind the host's.)"""
    monkeypatch.setattr(desired, "os", CoarseClockOs("os"))
    clock = Monotonic()
    listings = FolderListings(clock=clock)
    (tmp_path / "other.mp4").write_bytes(b"x")
    seen = listings.names(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"x")
    write(tmp_path / "clip.mp4.json", {"title": "From sidecar"})
    clock.now += SETTLED_FOLDER_SECONDS
    meta, _ = desired_metadata(tmp_path / "clip.mp4", tmp_path, BASE, view=SourceView(listings))
    assert meta.title == "From sidecar"
    assert seen is None


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
    for name in ("a", "b", "c"):
        listings = settled_listings(tmp_path / name)
        assert listings.names(tmp_path / name) == frozenset({"clip.mp4.json"})
    clock = Monotonic()
    listings = FolderListings(2, clock=clock)
    for name in ("a", "b", "c"):
        listings.names(tmp_path / name)
    assert sorted(listings._seen) == [str(tmp_path / "b"), str(tmp_path / "c")]


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
            read_metadata(media, tmp_path, BASE, view=SourceView(settled_listings(tmp_path)))
        assert str(through_view.value) == str(from_disk.value)
    finally:
        folder.chmod(0o700)
