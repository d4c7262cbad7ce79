"""Issue 12, defect 3: what a lookup found is judged before it is believed. Pure decisions:
one item or several, its size, its creation time against the attempt, the title the attempt
sent, the oldest copy."""

from __future__ import annotations

import datetime as dt

import pytest

from syncd.model import RemoteItem
from syncd.plan.identity import SITE_ZONE_SLACK, Expected, judge, judge_copies, stored_title

MARK = "syncd:" + "ab" * 16


def item(photo_id: str, size: int | None = 1000, created: dt.datetime | None = None) -> RemoteItem:
    return RemoteItem(photo_id=photo_id, title=f"t{photo_id}", original_size=size, created=created)


def test_nothing_found_is_not_there() -> None:
    assert judge([], Expected(1000), MARK).item is None
    assert judge([], Expected(1000), MARK).held is None


def test_one_consistent_item_is_the_match() -> None:
    verdict = judge([item("7")], Expected(1000), MARK)
    assert verdict.item == item("7") and verdict.held is None


def test_a_size_the_answer_does_not_give_is_not_held_against_it() -> None:
    assert judge([item("7", size=None)], Expected(1000), MARK).item is not None


def test_several_items_are_held_naming_every_candidate() -> None:
    verdict = judge([item("7"), item("9")], Expected(1000), MARK)
    assert verdict.item is None
    assert verdict.held is not None
    assert "photo 7 't7'" in verdict.held and "photo 9 't9'" in verdict.held
    assert MARK in verdict.held and "syncd retry" in verdict.held


def test_an_item_of_another_size_is_held_not_adopted() -> None:
    verdict = judge([item("7", size=999)], Expected(1000), MARK)
    assert verdict.item is None
    assert verdict.held is not None and "photo 7" in verdict.held and "999" in verdict.held


def test_an_item_created_before_the_attempt_began_is_held() -> None:
    began = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    # Site-local times in an unnamed zone: only older than every zone could make it counts.
    old = (began - SITE_ZONE_SLACK - dt.timedelta(minutes=1)).replace(tzinfo=None)
    recent = (began - SITE_ZONE_SLACK + dt.timedelta(minutes=1)).replace(tzinfo=None)
    expected = Expected(1000, not_before=began.timestamp())
    held = judge([item("7", created=old)], expected, MARK)
    assert held.item is None and held.held is not None and "before the upload began" in held.held
    assert judge([item("7", created=recent)], expected, MARK).item is not None
    # Without a known start (another host, a lost journal) age says nothing.
    assert judge([item("7", created=old)], Expected(1000), MARK).item is not None


def test_after_an_upload_the_one_older_copy_wins() -> None:
    own = item("12")
    assert judge_copies(own, [item("10")], Expected(1000)).adopt == item("10")
    # A newer copy is its own uploader's to remove: ours stays.
    newer = judge_copies(own, [item("14")], Expected(1000))
    assert newer.adopt is None and newer.duplicates == (item("14"),)
    # Two older copies: nothing to choose between, ours stays and both are named.
    two = judge_copies(own, [item("10"), item("11")], Expected(1000))
    assert two.adopt is None and len(two.duplicates) == 2
    # A copy the answer contradicts is not a copy.
    assert judge_copies(own, [item("10", size=5)], Expected(1000)).adopt is None
    # Ids that are not numbers give no order: ours stays.
    assert judge_copies(item("x"), [item("10")], Expected(1000)).adopt is None


def titled(title: str) -> RemoteItem:
    return RemoteItem(photo_id="7", title=title, original_size=1000)


TITLE_CASES = [
    # (title the attempt sent, title the site answers, matches)
    ("Sunset", "Sunset", True),
    # What the site does to a title: HTML stripped, entities, white space.
    ("<b>Sunset</b> over <i>Oslo</i>", "Sunset over Oslo", True),
    ("Fish & chips", "Fish &amp; chips", True),
    ("  Sunset   over\tOslo ", "Sunset over Oslo", True),
    ("Ødegård på toppen", "Ødegård på toppen", True),
    # Another title is another upload: held.
    ("Sunset", "Sunrise", False),
    ("Sunset", "sunset", False),
    ("Sunset over Oslo", "Sunset", False),
    # An empty side says nothing: none sent (the site names the item after the file),
    # or the answer left it out.
    ("", "clip001", True),
    ("<br>", "clip001", True),
    ("Sunset", "", True),
]


@pytest.mark.parametrize(("sent", "answered", "matches"), TITLE_CASES)
def test_the_title_the_attempt_sent_must_be_the_items(
    sent: str, answered: str, matches: bool
) -> None:
    verdict = judge([titled(answered)], Expected(1000, title=sent), MARK)
    if matches:
        assert verdict.item == titled(answered) and verdict.held is None
    else:
        assert verdict.item is None and verdict.held is not None
        assert "photo 7" in verdict.held and MARK in verdict.held
        assert f"its title is {answered!r}, the upload sent {sent!r}" in verdict.held
    # An unknown title (another claim's attempt, another host, a lost journal): not compared.
    assert judge([titled(answered)], Expected(1000), MARK).item == titled(answered)


def test_titles_of_other_hosts_copies_are_not_compared() -> None:
    # After an upload the others' titles are their hosts' business: the older copy wins.
    own = RemoteItem(photo_id="12", title="ours", original_size=1000)
    other = RemoteItem(photo_id="10", title="theirs", original_size=1000)
    assert judge_copies(own, [other], Expected(1000)).adopt == other


def test_stored_title_is_what_the_site_keeps() -> None:
    assert stored_title("<p>A &lt;3 B</p>\n") == "A <3 B"
