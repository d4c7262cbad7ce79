"""The sandbox's Python seeding API (items without HTTP, for big sites in tests and
benchmarks) and the documented `album/list` order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sb_helpers import call, ok

from syncd.sandbox import Sandbox


def test_added_items_look_uploaded(sandbox: Sandbox) -> None:
    album = ok(call(sandbox, "album/create", {"title": "A"}, post=True))["album"]["album_id"]
    first = sandbox.add_item(b"abc", title="One", tags=["x", "x", "y"], album_ids=[int(album)])
    second = sandbox.add_item(published=False)
    assert second > first
    assert sandbox.count_requests() == 1  # the album/create above, nothing else
    listed = ok(call(sandbox, "photo/list", {"include_unpublished_p": "1", "orderby": "uploaded"}))
    by_id = {p["photo_id"]: p for p in listed["photos"]}
    one = by_id[str(first)]
    assert (one["title"], one["original_size"], one["number_of_tags"]) == ("One", "3", "2")
    assert one["number_of_albums"] == "1" and by_id[str(second)]["published_p"] == "0"
    (item,) = [i for i in sandbox.items() if i["photo_id"] == first]
    assert item["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert Path(item["path"]).read_bytes() == b"abc"
    # Default content differs per item (distinct hashes, like distinct uploads).
    assert len({i["sha256"] for i in sandbox.items()}) == 2


def test_an_unknown_album_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(KeyError, match="no such album 999"):
        sandbox.add_item(album_ids=[999])
    assert sandbox.items() == []


def test_album_list_by_documented_creation_date(sandbox: Sandbox) -> None:
    for title in ("b", "a", "c"):
        ok(call(sandbox, "album/create", {"title": title}, post=True))
    params = {"orderby": "creation_date", "order": "asc"}
    albums = ok(call(sandbox, "album/list", params))["albums"]
    assert [a["title"] for a in albums] == ["b", "a", "c"]
    params["order"] = "desc"
    albums = ok(call(sandbox, "album/list", params))["albums"]
    assert [a["title"] for a in albums] == ["c", "a", "b"]
    refused = call(sandbox, "album/list", {"orderby": "views"})
    assert "invalid_input" in refused.text and "creation_date" in refused.text
