"""Albums by exact title and their members; items by identity marker, many at once, on a
site that answers `no_such_tag` for a marker nobody uses; photo_id lookups."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from conftest import ListSpy

from syncd.api import Client
from syncd.config import SiteConfig
from syncd.errors import UntrustedAnswer
from syncd.model import identity_tag
from syncd.remote import RemoteFolder
from syncd.sandbox import Sandbox
from syncd.sandbox.envelope import ApiError


@pytest.fixture
def client(site: SiteConfig) -> Iterator[Client]:
    with Client(site) as c:
        yield c


def album(client: Client, title: str, **fields: str) -> int:
    return int(client.album_create(title, **fields)["album_id"])


def test_albums_by_exact_title_with_their_members(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, client: Client
) -> None:
    trips, trips_hidden = album(client, "Trips"), album(client, "Trips", hide_p="1")
    cats, other = album(client, "Cats"), album(client, "Trips 2019")
    in_trips = {str(sandbox.add_item(album_ids=[trips], published=i % 3 > 0)) for i in range(150)}
    in_hidden = {str(sandbox.add_item(album_ids=[trips_hidden]))}
    in_cats = {str(sandbox.add_item(album_ids=[cats, other])) for _ in range(3)}
    for _ in range(20):
        sandbox.add_item()
    with RemoteFolder.for_site(site) as folder:
        found = folder.albums(["Trips", "Cats", "Dogs", "Cats"])
    assert dict(found.ids_by_title) == {
        "Trips": (str(trips), str(trips_hidden)),
        "Cats": (str(cats),),
        "Dogs": (),
    }
    assert dict(found.members) == {
        str(trips): in_trips,
        str(trips_hidden): in_hidden,
        str(cats): in_cats,
    }
    assert found.unsettled == frozenset()
    # album/list once; Trips' 150 members in two pages, one page for each other album.
    assert found.requests == 1 + 2 + 1 + 1 == len(spy.calls)
    assert {level for _, level, _ in spy.calls} == {"super"}
    assert str(other) not in {p.get("album_id") for p in spy.photo_lists()}


def test_members_that_change_during_the_read_are_read_again(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, client: Client
) -> None:
    """An item joins the album while page 2 of its members is answered: the answers
    disagree about the total, so the members are read again."""
    trips = album(client, "Trips")
    members = {str(sandbox.add_item(album_ids=[trips])) for _ in range(150)}
    joined: list[str] = []

    def join_once(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("p") == "2" and not joined:
            joined.append(str(sandbox.add_item(album_ids=[trips])))

    spy.before = join_once
    with RemoteFolder.for_site(site) as folder:
        found = folder.albums(["Trips"])
    assert found.members[str(trips)] == members | set(joined)
    assert found.unsettled == frozenset()
    assert len(spy.photo_lists(album_id=str(trips))) == 4


def test_an_album_deleted_while_albums_are_read_is_left_out(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, client: Client
) -> None:
    """A strict site answers `no_such_album` for an album that is gone."""
    keep, gone = album(client, "Keep"), album(client, "Gone")
    sandbox.add_item(album_ids=[keep, gone])

    def strict_album_filter(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("album_id") == str(gone):
            sandbox.state.delete("albums", gone)
            raise ApiError("no_such_album", f"album {gone} does not exist")

    spy.before = strict_album_filter
    with RemoteFolder.for_site(site) as folder:
        found = folder.albums(["Keep", "Gone"])
    assert dict(found.ids_by_title) == {"Keep": (str(keep),), "Gone": ()}
    assert set(found.members) == {str(keep)}


def digest(n: int) -> str:
    return hashlib.sha256(f"content {n}".encode()).hexdigest()


@pytest.mark.parametrize("no_such_tag", [True, False], ids=["no_such_tag", "empty-list"])
def test_fifty_identities_at_once_some_missing(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, no_such_tag: bool
) -> None:
    spy.no_such_tag = no_such_tag
    hashes = [digest(n) for n in range(50)]
    present = {h: str(sandbox.add_item(tags=[identity_tag(h), "film"])) for h in hashes[:30]}
    twin = str(sandbox.add_item(tags=[identity_tag(hashes[0])]))
    for _ in range(10):
        sandbox.add_item(tags=["film"])
    with RemoteFolder.for_site(site) as folder:
        found = folder.find_identities(hashes)
    assert list(found) == hashes
    assert [i.photo_id for i in found[hashes[0]]] == [present[hashes[0]], twin]
    for h in hashes[1:30]:
        assert [i.photo_id for i in found[h]] == [present[h]]
    for h in hashes[30:]:
        assert found[h] == ()
    lookups = spy.photo_lists()
    # One made-up marker first (the filter check), then one lookup per hash.
    assert len(lookups) == 51 == sandbox.count_requests("photo/list")
    assert {p["tags"] for p in lookups[1:]} == {identity_tag(h) for h in hashes}
    assert {level for _, level, _ in spy.calls} == {"super"}


def test_the_tag_filter_is_checked_once_per_folder(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    with RemoteFolder.for_site(site) as folder:
        folder.find_identities([digest(1)])
        folder.find_identities([digest(2), digest(2).upper()])
    assert len(spy.photo_lists()) == 1 + 1 + 1


def test_a_site_that_ignores_the_tag_filter_is_not_believed(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    sandbox.add_item(tags=[identity_tag(digest(1))])
    sandbox.add_item()
    spy.ignore_filters = frozenset({"tags"})
    with RemoteFolder.for_site(site) as folder, pytest.raises(UntrustedAnswer, match="ignores"):
        folder.find_identities([digest(n) for n in range(50)])
    assert len(spy.photo_lists()) == 1  # the check alone


def test_a_bad_hash_is_refused_before_any_request(sandbox: Sandbox, site: SiteConfig) -> None:
    with RemoteFolder.for_site(site) as folder, pytest.raises(ValueError, match="not-hex"):
        folder.find_identities([digest(1), "not-hex"])
    assert sandbox.count_requests("photo/list") == 0


def test_a_site_that_ignores_the_photo_id_filter_is_not_believed(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    sandbox.add_item()
    spy.ignore_filters = frozenset({"photo_id"})
    with RemoteFolder.for_site(site) as folder, pytest.raises(UntrustedAnswer, match="photo_id"):
        folder.fetch(["99999"])
