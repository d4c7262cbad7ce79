"""The whole-site walk against the sandbox over real HTTP: every item once, unpublished
ones too, every request signed, and nothing lost while the site changes under it."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from conftest import HOOK_WAIT_SECONDS, ListSpy

from syncd.api import Client
from syncd.config import SiteConfig
from syncd.errors import ConnectionCut, Interrupted, RateLimited, ServerError, SyncdError
from syncd.model import RemoteItem
from syncd.remote import RemoteFolder, WalkReport
from syncd.remote.folder import OLDEST
from syncd.remote.paging import walk_one_by_one
from syncd.sandbox import Sandbox


def seed(sandbox: Sandbox, n: int, *, unpublished_every: int = 7) -> list[str]:
    """n items; every `unpublished_every`-th one unpublished. Their photo_ids, oldest first."""
    return [
        str(sandbox.add_item(title=f"item {i}", published=i % unpublished_every != 0))
        for i in range(n)
    ]


def walk(folder: RemoteFolder) -> tuple[list[RemoteItem], WalkReport]:
    site_walk = folder.walk()
    items = list(site_walk)
    assert site_walk.report is not None
    return items, site_walk.report


def assert_once_each(items: list[RemoteItem], expected: set[str]) -> None:
    ids = [i.photo_id for i in items]
    repeated = [pid for pid, n in Counter(ids).items() if n > 1]
    assert not repeated, f"passed on more than once: {repeated[:10]}"
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} item(s) missed: {sorted(missing)[:10]}"


def assert_all_signed(spy: ListSpy) -> None:
    assert spy.calls, "no list call reached the sandbox"
    levels = Counter(level for _, level, _ in spy.calls)
    assert set(levels) == {"super"}, f"calls not signed with the site's credentials: {levels}"
    for _, _, params in spy.calls:
        if params.get("include_unpublished_p") is not None:
            assert params["include_unpublished_p"] == "1"


@pytest.mark.parametrize(
    ("n", "requests"),
    [(0, 1), (1, 1), (100, 1), (101, 4), (250, 5)],
    ids=["empty", "one", "one-full-page", "one-more", "three-pages"],
)
def test_walk_lists_every_item_once(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy, n: int, requests: int
) -> None:
    ids = seed(sandbox, n)
    with RemoteFolder.for_site(site) as folder:
        items, report = walk(folder)
    assert_once_each(items, set(ids))
    assert len(items) == n
    # Up to 100 items: the newest page is the whole site. Beyond: the newest page, every
    # page in upload order, and the newest page again to check what changed.
    assert report.requests == requests == sandbox.count_requests("photo/list")
    assert report.certified and not report.rewalked
    assert report.items == n and report.first_total == report.last_total == n
    assert_all_signed(spy)
    for params in spy.photo_lists():
        assert params["size"] == "100" and params["orderby"] == "uploaded"
    unpublished = {i.photo_id for i in items if i.published is False}
    assert unpublished == {pid for k, pid in enumerate(ids) if k % 7 == 0}


def test_items_are_parsed_from_the_documented_shape(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    """List answers carry counts, not tags (spy.documented_shape): the counts arrive."""
    with Client(site) as client:
        album = int(client.album_create("A")["album_id"])
    pid = sandbox.add_item(
        b"0123456789",
        title="Clip",
        description="<b>bold</b>",
        tags=["syncd:" + "a" * 32, "holiday"],
        album_ids=[album],
        published=False,
    )
    with RemoteFolder.for_site(site) as folder:
        (item,), _ = walk(folder)
    assert item.photo_id == str(pid) and item.title == "Clip"
    assert item.description == "<b>bold</b>" and item.published is False
    assert item.number_of_tags == 2 and item.number_of_albums == 1 and item.tags is None
    assert item.original_size == 10 and item.video_length == 0.0
    assert item.created is not None and item.video_encoded is True


def test_uploads_during_the_walk_move_nothing(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    """New items land at the end of the upload order: the walk is certified as it is. More
    than a page of them arrive, so the check reads two pages of the newest items."""
    ids = seed(sandbox, 350)
    added: list[str] = []

    def upload_forty(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("order") == "asc":
            added.extend(str(sandbox.add_item(title="late")) for _ in range(40))

    spy.before = upload_forty
    with RemoteFolder.for_site(site) as folder:
        items, report = walk(folder)
    assert_once_each(items, set(ids))
    assert len(added) == 160 and report.last_total == 510
    assert report.certified and not report.rewalked
    assert report.requests == 1 + 4 + 2


def test_a_deletion_between_pages_answered_out_of_order_loses_nothing(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    """Page 2 (upload order) is answered only after page 1, and five of the oldest items
    are deleted between the two: the first five items of page 2 move onto page 1, which
    has been read. The counts show the deletion, and the walk reads the site again."""
    ids = seed(sandbox, 350)
    page1_answered = threading.Event()
    deleted = ids[:5]

    def before(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("order") == "asc" and params["p"] == "2":
            assert page1_answered.wait(HOOK_WAIT_SECONDS), "page 1 was never asked for"
            for pid in deleted:
                sandbox.state.delete("items", pid)

    def after(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("order") == "asc" and params["p"] == "1":
            page1_answered.set()

    spy.before, spy.after = before, after
    with RemoteFolder.for_site(site, concurrency=4) as folder:
        items, report = walk(folder)
    assert_once_each(items, set(ids) - set(deleted))
    assert report.rewalked and not report.certified
    assert report.first_total == 350 and report.last_total == 345
    # The concurrent pass did miss the moved items: only the second pass found them.
    assert report.recovered == 5
    assert {i.photo_id for i in items[-5:]} == set(ids[100:105])


def delete_oldest_before_each_page(sandbox: Sandbox, ids: list[str], deleted: list[str]):  # type: ignore[no-untyped-def]
    """A hook: before every page in upload order is answered, the two oldest items go."""

    def hook(name: str, params: dict[str, str]) -> None:
        if name == "photo/list" and params.get("order") == "asc":
            for pid in ids[len(deleted) : len(deleted) + 2]:
                sandbox.state.delete("items", pid)
                deleted.append(pid)

    return hook


def test_deletions_before_every_page_of_a_sequential_walk_lose_nothing(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    """One page at a time, from the last page down: every moved item lands on a page that
    is still to be read, so the first pass alone finds them all (the counts still show the
    deletions, so the walk reads the site again and finds nothing new)."""
    ids = seed(sandbox, 420)
    deleted: list[str] = []
    spy.before = delete_oldest_before_each_page(sandbox, ids, deleted)
    with RemoteFolder.for_site(site, concurrency=1) as folder:
        items, report = walk(folder)
    assert_once_each(items, set(ids) - set(deleted))
    assert report.rewalked and report.recovered == 0


def test_walk_one_by_one_follows_items_that_move(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    ids = seed(sandbox, 420)
    deleted: list[str] = []
    spy.before = delete_oldest_before_each_page(sandbox, ids, deleted)
    with Client(site) as client:
        pages = list(walk_one_by_one(lambda p: client.photo_list(**OLDEST, p=p)))
    items = [item for page in pages for item in page.items]
    assert [page.p for page in pages] == [1, 5, 4, 3, 2, 1]
    assert_once_each(list({i.photo_id: i for i in items}.values()), set(ids) - set(deleted))


def test_transient_faults_are_retried_by_the_injected_engine(
    sandbox: Sandbox, site: SiteConfig, spy: ListSpy
) -> None:
    ids = seed(sandbox, 250)
    sandbox.faults.add("photo/list", status=503, count=2)
    sandbox.faults.add("photo/list", status=429, retry_after=0, count=1)
    sandbox.faults.add("photo/list", cut_after_bytes=0, count=1)
    sandbox.faults.add("photo/list", cut_after_store=True, count=1)
    failures: list[tuple[str, SyncdError]] = []

    def retrying(fn, *, what):  # type: ignore[no-untyped-def]
        for attempt in range(1, 11):
            try:
                return fn()
            except SyncdError as exc:
                if not exc.retryable or attempt == 10:
                    raise
                failures.append((what, exc))
        raise AssertionError("unreachable")

    with RemoteFolder.for_site(site, call_with_retry=retrying) as folder:
        items, report = walk(folder)
    assert_once_each(items, set(ids))
    kinds = Counter(type(exc) for _, exc in failures)
    assert kinds == {ServerError: 2, RateLimited: 1, ConnectionCut: 2}
    assert all(what.startswith("photo/list") for what, _ in failures)
    assert report.requests == 5 + 5 == sandbox.count_requests("photo/list")
    assert report.certified
    assert_all_signed(spy)


def test_without_retries_a_fault_ends_the_walk_with_its_error(
    sandbox: Sandbox, site: SiteConfig
) -> None:
    seed(sandbox, 250)
    sandbox.faults.add("photo/list", status=502, count=1)
    with RemoteFolder.for_site(site) as folder, pytest.raises(ServerError, match="502"):
        list(folder.walk())


def test_a_set_stop_flag_ends_the_walk_before_the_next_request(
    sandbox: Sandbox, site: SiteConfig
) -> None:
    seed(sandbox, 250)
    stop = threading.Event()
    with RemoteFolder.for_site(site, stop=stop) as folder:
        site_walk = iter(folder.walk())
        next(site_walk)
        stop.set()
        with pytest.raises(Interrupted):
            list(site_walk)
    assert sandbox.count_requests("photo/list") == 1


def test_a_consumer_that_stops_early_leaves_no_work_behind(
    sandbox: Sandbox, site: SiteConfig
) -> None:
    seed(sandbox, 1000)
    with RemoteFolder.for_site(site, concurrency=2) as folder:
        for n, _ in enumerate(folder.walk()):
            if n == 150:
                break
        sent = folder.requests
    # The newest page, the two pages taken, and the two in flight when the consumer left.
    assert sent <= 1 + 2 + 2
    assert sandbox.count_requests("photo/list") == sent


def test_fetch_confirms_items_by_photo_id(sandbox: Sandbox, site: SiteConfig) -> None:
    ids = seed(sandbox, 5)
    sandbox.state.delete("items", ids[1])
    with RemoteFolder.for_site(site) as folder:
        found = folder.fetch([ids[0], ids[1], ids[3], ids[0]])
    assert set(found) == {ids[0], ids[1], ids[3]}
    assert found[ids[1]] is None
    assert found[ids[0]] is not None and found[ids[0]].published is False  # item 0: unpublished
    assert found[ids[3]] is not None and found[ids[3]].title == "item 3"
