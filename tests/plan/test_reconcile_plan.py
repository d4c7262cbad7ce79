"""Reconcile planning as data: rows, files and listed items in, lists of action texts out."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from plan_rows import file_row

from syncd.model import (
    CONTENT_CHANGED,
    FileRow,
    ItemState,
    LocalFile,
    Metadata,
    OnChange,
    OnDrift,
    OnLocalDelete,
    OnRemoteMissing,
    ReconcilePolicy,
    RemoteItem,
)
from syncd.plan.reconcile import (
    ReconcileInput,
    SiteView,
    as_text,
    cap_deletions,
    plan_reconcile,
)

SHA_A, SHA_B, SHA_C = "aa" * 32, "bb" * 32, "cc" * 32
NOW = 1_000_000.0
POLICY = ReconcilePolicy()


def row(path: str, **changes: Any) -> FileRow:
    """A synced row of 100 bytes, content SHA_A, photo 1, metadata applied."""
    base = file_row(
        path=path,
        mtime_ns=5,
        inode=7,
        sha256=SHA_A,
        state=ItemState.SYNCED,
        photo_id="1",
        attempts=1,
        desired_digest="d",
        applied_digest="d",
        created_at=NOW - 10,
        updated_at=NOW - 10,
        uploaded_sha256=SHA_A,
    )
    if "sha256" in changes and "uploaded_sha256" not in changes:
        changes["uploaded_sha256"] = changes["sha256"] if base.photo_id else None
    return dataclasses.replace(base, **changes)


def seen(r: FileRow, sha256: str | None = None, **changes: Any) -> LocalFile:
    """The row's file as a walk sees it (unchanged unless told)."""
    values = {"size": r.size, "mtime_ns": r.mtime_ns, "inode": r.inode, **changes}
    return LocalFile(r.path, sha256=sha256, **values)


def listed(photo_id: str = "1", **changes: Any) -> RemoteItem:
    """An item as the list answer shows a file synced with META."""
    values: dict[str, Any] = {
        "title": "Clip",
        "description": "<p>About</p>",
        "published": True,
        "number_of_tags": 2,
        "number_of_albums": 0,
        "original_size": 100,
        "video": True,
        "video_encoded": True,
        **changes,
    }
    return RemoteItem(photo_id=photo_id, **values)


META = Metadata(title="Clip", description="About", tags=("cats",))


def plan(
    rows: list[FileRow],
    local: list[LocalFile],
    items: list[RemoteItem],
    *,
    policy: ReconcilePolicy = POLICY,
    desired: dict[str, Metadata] | None = None,
    identities: dict[str, tuple[RemoteItem, ...]] | None = None,
    absent: frozenset[str] = frozenset(),
    unknown: tuple[str, ...] = (),
    albums: dict[str, tuple[str, ...]] | None = None,
    members: dict[str, frozenset[str]] | None = None,
    **options: bool,
) -> list[str]:
    site = SiteView(
        items={i.photo_id: i for i in items},
        absent=absent,
        album_ids=albums or {},
        album_members=members or {},
        identities=identities or {},
        tracked=frozenset(r.photo_id for r in rows if r.photo_id),
    )
    inp = ReconcileInput(
        rows=rows,
        local={f.path: f for f in local},
        site=site,
        desired={r.path: META for r in rows} if desired is None else desired,
        unknown=unknown,
        now=NOW,
    )
    return plan_reconcile(inp, policy, **options).lines()


def test_in_step_plans_nothing() -> None:
    r = row("/r/a.mp4")
    assert plan([r], [seen(r)], [listed()]) == []


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"title": "Renamed"}, "title 'Renamed', not 'Clip'"),
        ({"description": "<p>spam</p>"}, "description differs"),
        ({"published": False}, "unpublished"),
        ({"number_of_tags": 1}, "1 tags, 2 wanted"),
        ({"number_of_albums": 1}, "in 1 albums, 0 wanted"),
    ],
)
def test_drift_seen_in_a_listing(changes: dict[str, Any], detail: str) -> None:
    r = row("/r/a.mp4")
    got = plan([r], [seen(r)], [listed(**changes)])
    assert got == [f"drift /r/a.mp4 photo 1 ({detail}): reapply"]
    report = ReconcilePolicy(on_drift=OnDrift.REPORT)
    got = plan([r], [seen(r)], [listed(**changes)], policy=report)
    assert got == [f"drift /r/a.mp4 photo 1 ({detail}): report"]


def test_drift_not_claimed_where_the_answer_is_silent_or_markup_only() -> None:
    r = row("/r/a.mp4")
    silent = listed(description=None, published=None, number_of_tags=None, number_of_albums=None)
    assert plan([r], [seen(r)], [silent]) == []
    meta = Metadata(title="Clip &amp; <b>co</b>", description="<p>Hello  <i>world</i></p>")
    site = listed(title="Clip & co", description="<div>Hello world</div>", number_of_tags=1)
    assert plan([r], [seen(r)], [site], desired={r.path: meta}) == []
    assert as_text("<p>a&nbsp;b</p>\n c") == "a b c"


def test_a_description_syncd_does_not_set_is_not_compared() -> None:
    r = row("/r/a.mp4")
    meta = Metadata(title="Clip", tags=("cats",))
    got = plan([r], [seen(r)], [listed(description="by hand")], desired={r.path: meta})
    assert got == []


def test_tag_count_with_a_spaced_tag_is_not_compared() -> None:
    r = row("/r/a.mp4")
    meta = Metadata(title="Clip", tags=("slow tv", "cats"))
    # Split or not, the count proves nothing: not compared.
    assert plan([r], [seen(r)], [listed(number_of_tags=4)], desired={r.path: meta}) == []


def test_album_membership_drift() -> None:
    r = row("/r/a.mp4")
    meta = Metadata(title="Clip", tags=("cats",), albums=("Trips", "Gone"))
    got = plan(
        [r],
        [seen(r)],
        [listed(number_of_albums=1)],
        desired={r.path: meta},
        albums={"Trips": ("501",), "Gone": ()},
        members={"501": frozenset({"2"})},
    )
    assert got == [
        "drift /r/a.mp4 photo 1 (not in album 'Trips'; album 'Gone' is not on the site): reapply"
    ]


def test_a_scheduled_item_is_not_compared_for_its_publish_state() -> None:
    r = row("/r/a.mp4")
    meta = Metadata(title="Clip", tags=("cats",), publish_date="2099-01-01")
    assert plan([r], [seen(r)], [listed(published=False)], desired={r.path: meta}) == []


def test_metadata_not_yet_applied_is_not_drift() -> None:
    r = row("/r/a.mp4", applied_digest="old")
    assert plan([r], [seen(r)], [listed(title="Other")]) == []


@pytest.mark.parametrize(
    ("policy", "decision"),
    [(OnRemoteMissing.REUPLOAD, "reupload"), (OnRemoteMissing.REPORT, "report")],
)
def test_remote_missing(policy: OnRemoteMissing, decision: str) -> None:
    r = row("/r/a.mp4")
    got = plan(
        [r],
        [seen(r)],
        [],
        absent=frozenset({"1"}),
        identities={SHA_A: ()},
        policy=ReconcilePolicy(on_remote_missing=policy),
    )
    assert got == [f"remote-missing /r/a.mp4 photo 1 (gone from the site): {decision}"]


def test_remote_missing_recorded_earlier_or_failed_on_it() -> None:
    a = row("/r/a.mp4", state=ItemState.REMOTE_MISSING)
    b = row("/r/b.mp4", state=ItemState.FAILED, error_code="no_such_photo", photo_id="2")
    got = plan([a, b], [seen(a), seen(b)], [])
    assert got == [
        "remote-missing /r/a.mp4 photo 1 (gone from the site): reupload",
        "remote-missing /r/b.mp4 photo 2 (gone from the site): reupload",
    ]


def test_a_missing_item_found_elsewhere_by_its_marker_is_adopted() -> None:
    r = row("/r/a.mp4")
    again = listed("9")
    got = plan([r], [seen(r)], [again], absent=frozenset({"1"}), identities={SHA_A: (again,)})
    assert got == ["adopt /r/a.mp4 photo 9 (carries its identity marker): link"]


@pytest.mark.parametrize(
    ("policy", "decision"),
    [
        (OnLocalDelete.KEEP, "keep"),
        (OnLocalDelete.UNPUBLISH, "unpublish"),
        (OnLocalDelete.DELETE, "delete"),
    ],
)
def test_local_deleted(policy: OnLocalDelete, decision: str) -> None:
    r = row("/r/a.mp4")
    got = plan([r], [], [listed()], policy=ReconcilePolicy(on_local_delete=policy))
    assert got == [f"local-deleted /r/a.mp4 photo 1: {decision}"]


def test_local_deleted_edge_cases() -> None:
    gone_too = row("/r/a.mp4", state=ItemState.REMOTE_MISSING)
    hidden = row("/r/b.mp4", photo_id="2")
    never_sent = row("/r/c.mp4", photo_id=None, state=ItemState.READY)
    unlisted = row("/r/x/d.mp4", photo_id="4")
    unpublish = ReconcilePolicy(on_local_delete=OnLocalDelete.UNPUBLISH)
    got = plan(
        [gone_too, hidden, never_sent, unlisted],
        [],
        [listed("2", published=False), listed("4")],
        unknown=("/r/x",),  # the folder could not be listed: not known to be gone
        policy=unpublish,
    )
    assert got == [
        "local-deleted /r/a.mp4 photo 1 (gone from the site too): forget",
        "local-deleted /r/b.mp4 photo 2 (unpublished already): keep",
    ]


def test_max_delete_blocks_every_deletion_and_says_why() -> None:
    rows = [row(f"/r/{n}.mp4", photo_id=str(n)) for n in range(3)]
    items = [listed(str(n)) for n in range(3)]
    deleting = ReconcilePolicy(on_local_delete=OnLocalDelete.DELETE, max_delete=2)
    site = SiteView(items={i.photo_id: i for i in items}, tracked=frozenset({"0", "1", "2"}))
    result = plan_reconcile(ReconcileInput(rows, {}, site), deleting)
    assert result.lines() == [f"local-deleted /r/{n}.mp4 photo {n}: blocked" for n in range(3)]
    assert result.blocked == "3 deletions planned, more than max_delete = 2: nothing deleted"
    assert all(a.unrepaired for a in result.actions)
    actions, why = cap_deletions(result.actions, 3)
    assert why is None
    assert [a.decision for a in actions] == ["blocked"] * 3  # already capped: left as it is


@pytest.mark.parametrize(
    ("policy", "decision"),
    [(OnChange.REPLACE, "replace"), (OnChange.NEW, "new"), (OnChange.REPORT, "report")],
)
def test_changed_content(policy: OnChange, decision: str) -> None:
    synced = row("/r/a.mp4")  # as a dry run sees it: the file is newer than its row
    queued = row("/r/b.mp4", photo_id="2", state=ItemState.READY, sha256=SHA_B)  # scanned
    queued = dataclasses.replace(queued, uploaded_sha256=SHA_C)
    held = row("/r/c.mp4", photo_id="3", state=ItemState.FAILED, error_code=CONTENT_CHANGED)
    got = plan(
        [synced, queued, held],
        [seen(synced, SHA_B, mtime_ns=99), seen(queued), seen(held)],
        [listed("1"), listed("2"), listed("3")],
        policy=ReconcilePolicy(on_change=policy),
    )
    assert got == [
        f"changed /r/a.mp4 photo 1: {decision}",
        f"changed /r/b.mp4 photo 2: {decision}",
        f"changed /r/c.mp4 photo 3: {decision}",
    ]


def test_touched_file_with_the_same_bytes_is_in_step() -> None:
    r = row("/r/a.mp4")
    assert plan([r], [seen(r, SHA_A, mtime_ns=99)], [listed()]) == []


def test_adopt_queued_rows_and_report_copies() -> None:
    a = row("/r/a.mp4", photo_id=None, state=ItemState.READY, applied_digest=None)
    b = row("/r/b.mp4", photo_id=None, state=ItemState.READY, sha256=SHA_B)
    c = row("/r/c.mp4", photo_id=None, state=ItemState.RETRY, sha256=SHA_C)
    first, copy, other = listed("7"), listed("8"), listed("9", original_size=5)
    got = plan(
        [a, b, c],
        [seen(a), seen(b), seen(c)],
        [first, copy, other],
        identities={SHA_A: (first, copy), SHA_B: (), SHA_C: (other,)},
    )
    assert got == [
        "adopt /r/a.mp4 photo 7 (carries its identity marker): link",
        "duplicate /r/a.mp4 photo 8 (of photo 7): report",
        "new /r/b.mp4: upload",  # looked up, not there
        "new /r/c.mp4: upload",  # carries the marker, but another size: not its item
    ]


def test_adopt_only_uploads_nothing() -> None:
    a = row("/r/a.mp4", photo_id=None, state=ItemState.READY)
    b = row("/r/b.mp4", photo_id=None, state=ItemState.READY, sha256=SHA_B)
    found = listed("7")
    got = plan([a, b], [seen(a), seen(b)], [found], identities={SHA_A: (found,), SHA_B: ()})
    got_adopt = plan(
        [a, b],
        [seen(a), seen(b)],
        [found],
        identities={SHA_A: (found,), SHA_B: ()},
        adopt_only=True,
    )
    assert got[1] == "new /r/b.mp4: upload"
    assert got_adopt == [
        "adopt /r/a.mp4 photo 7 (carries its identity marker): link",
        "new /r/b.mp4 (not on the site: push uploads it): report",
    ]


def test_twins_adopt_one_item_each() -> None:
    a = row("/r/a.mp4", photo_id=None, state=ItemState.READY)
    b = row("/r/b.mp4", photo_id=None, state=ItemState.READY, inode=8)
    one, two = listed("7"), listed("8")
    got = plan([a, b], [seen(a), seen(b)], [one, two], identities={SHA_A: (one, two)})
    assert got == [
        "adopt /r/a.mp4 photo 7 (carries its identity marker): link",
        "adopt /r/b.mp4 photo 8 (carries its identity marker): link",
    ]


def test_duplicates_of_a_synced_file_keep_the_oldest() -> None:
    r = row("/r/a.mp4", photo_id="5")
    older, mine, newer = listed("4"), listed("5"), listed("6")
    got = plan(
        [r], [seen(r)], [older, mine, newer], identities={SHA_A: (older, mine, newer)}, dedupe=True
    )
    # Its own item is the younger copy: the row moves to the oldest, and its item goes.
    assert got == [
        "duplicate /r/a.mp4 photo 5 (of photo 4): delete",
        "duplicate /r/a.mp4 photo 6 (of photo 4): delete",
    ]
    got = plan([r], [seen(r)], [mine, newer], identities={SHA_A: (mine, newer)})
    assert got == ["duplicate /r/a.mp4 photo 6 (of photo 5): report"]


def test_transcoding_overdue_is_reported() -> None:
    late = row("/r/a.mp4", updated_at=NOW - 7 * 3600)
    fresh = row("/r/b.mp4", photo_id="2")
    photo = row("/r/c.jpg", photo_id="3", updated_at=NOW - 7 * 3600)
    got = plan(
        [late, fresh, photo],
        [seen(late), seen(fresh), seen(photo)],
        [
            listed("1", video_encoded=False),
            listed("2", video_encoded=False),
            listed("3", video=False, video_encoded=False),
        ],
    )
    assert got == [
        "transcoding /r/a.mp4 photo 1 (not transcoded 7.0 h after its upload; still running,"
        " or failed): report"
    ]


def test_moves_seen_by_a_dry_run_follow_the_file() -> None:
    renamed = row("/r/a.mp4")
    copied = row("/r/b.mp4", photo_id="2", sha256=SHA_B, inode=9)
    got = plan(
        [renamed, copied],
        [
            LocalFile("/r/new-a.mp4", 100, 5, 7),
            LocalFile("/r/new-b.mp4", 100, 6, 10, sha256=SHA_B),
        ],
        [listed("1"), listed("2")],
        policy=ReconcilePolicy(on_local_delete=OnLocalDelete.DELETE),
    )
    assert got == [
        "moved /r/a.mp4 -> /r/new-a.mp4: follow",
        "moved /r/b.mp4 -> /r/new-b.mp4: follow",
    ]


def test_new_files_of_a_dry_run_are_looked_up() -> None:
    found = listed("7")
    got = plan(
        [],
        [LocalFile("/r/a.mp4", 100, 1, 1, SHA_A), LocalFile("/r/b.mp4", 100, 1, 2, SHA_B)],
        [found],
        identities={SHA_A: (found,)},
    )
    assert got == [
        "adopt /r/a.mp4 photo 7 (carries its identity marker): link",
        "new /r/b.mp4: upload",
    ]


def test_rows_in_flight_or_skipped_are_left_alone() -> None:
    rows = [
        row("/r/a.mp4", state=ItemState.UPLOADING),
        row("/r/b.mp4", state=ItemState.PENDING),
        row("/r/c.mp4", state=ItemState.SKIPPED, photo_id=None),
    ]
    assert plan(rows, [], []) == []


def test_a_rebuild_reports_files_still_settling() -> None:
    settling = row("/r/a.mp4", state=ItemState.PENDING, photo_id=None, sha256=None)
    assert plan([settling], [seen(settling)], []) == []  # the workers' burst waits for it
    assert plan([settling], [seen(settling)], [], adopt_only=True) == [
        "new /r/a.mp4 (not stable yet: not looked up; run again later): report"
    ]
