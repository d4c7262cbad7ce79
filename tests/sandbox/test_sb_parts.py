"""Sections, coordinates and thumbnails on the sandbox, as their pages describe them:
photo-section-{create,list,update,delete}.md, photo-coordinate-{add,delete}.md and
photo-replace.md (file optional, `time` picks a frame)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sb_helpers import call, ok, upload

from syncd.sandbox import Sandbox


def _error(resp: Any) -> tuple[str, str]:
    data = resp.json()
    assert data["status"] == "error", data
    return data["code"], data["message"]


def _post(sb: Sandbox, method: str, level: str = "super", **params: Any) -> Any:
    return call(sb, method, params, post=True, level=level)


def _item(sb: Sandbox, photo_id: str) -> dict[str, Any]:
    return next(i for i in sb.items() if str(i["photo_id"]) == str(photo_id))


@pytest.fixture
def video(sandbox: Sandbox) -> dict[str, str]:
    return upload(sandbox, b"a video", "talk.mp4")


# --- sections ---------------------------------------------------------------------------


def test_section_create_answers_no_id_and_list_needs_the_token(
    sandbox: Sandbox, video: dict[str, str]
) -> None:
    pid, token = video["photo_id"], video["token"]
    created = ok(
        _post(sandbox, "photo/section/create", photo_id=pid, title="Wind", description="",
              start_time="180")
    )  # fmt: skip
    assert created["photo"] == {} and created["message"] == "The section was created"
    ok(_post(sandbox, "photo/section/create", photo_id=pid, title="<b>Earth</b>", description="d"))

    listed = ok(call(sandbox, "photo/section/list", {"photo_id": pid, "token": token}, level=None))
    assert [(s["start_time"], s["title"], s["description"]) for s in listed["sections"]] == [
        ("0", "Earth", "d"),  # no start_time: the beginning; the title's HTML stripped
        ("180", "Wind", ""),
    ]
    assert listed["total_count"] == "2"
    assert all(s["section_id"].isdigit() and s["link"].startswith(f"/video/{pid}/")
               for s in listed["sections"])  # fmt: skip

    missing = call(sandbox, "photo/section/list", {"photo_id": pid}, level=None)
    assert _error(missing) == ("invalid_input", "parameter 'token' is required")
    wrong = call(sandbox, "photo/section/list", {"photo_id": pid, "token": "nope"}, level=None)
    assert _error(wrong)[0] == "invalid_photo_token"


def test_section_list_in_xml(sandbox: Sandbox, video: dict[str, str]) -> None:
    pid = video["photo_id"]
    ok(_post(sandbox, "photo/section/create", photo_id=pid, title="Earth", description=""))
    resp = call(
        sandbox, "photo/section/list", {"photo_id": pid, "token": video["token"]}, fmt="xml"
    )
    root = ET.fromstring(resp.content)
    assert root.get("status") == "ok" and root.get("total_count") == "1"
    assert [el.findtext("title") for el in root.iter("section")] == ["Earth"]


def test_section_update_and_delete(sandbox: Sandbox, video: dict[str, str]) -> None:
    pid = video["photo_id"]
    ok(_post(sandbox, "photo/section/create", photo_id=pid, title="A", description="x",
             start_time="5.5"))  # fmt: skip
    [section] = _item(sandbox, pid)["sections"]
    sid = str(section["section_id"])
    assert section["start_time"] == 5.5  # fractions are kept

    updated = ok(_post(sandbox, "photo/section/update", photo_id=pid, section_id=sid, title="B"))
    assert updated["message"] == "The section was updated" and updated["photo"] == {}
    [section] = _item(sandbox, pid)["sections"]
    # start_time omitted: kept; description omitted: its documented default, "".
    assert (section["title"], section["description"], section["start_time"]) == ("B", "", 5.5)

    deleted = ok(_post(sandbox, "photo/section/delete", photo_id=pid, section_id=sid))
    assert deleted["message"] == "The section was deleted"
    assert _item(sandbox, pid)["sections"] == []
    again = _post(sandbox, "photo/section/delete", photo_id=pid, section_id=sid)
    assert _error(again) == ("invalid_input", f"photo {pid} has no section '{sid}'")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"title": "T"}, "parameter 'description' is required"),
        ({"description": ""}, "parameter 'title' is required"),
        ({"title": "T", "description": "", "start_time": "-1"}, "'start_time' must be between"),
        ({"title": "T", "description": "", "start_time": "61"}, "beyond the end of the video"),
    ],
)
def test_section_create_refusals(
    sandbox: Sandbox, video: dict[str, str], params: dict[str, str], problem: str
) -> None:
    sandbox.set_video_length(video["photo_id"], 60)
    resp = _post(sandbox, "photo/section/create", photo_id=video["photo_id"], **params)
    code, message = _error(resp)
    assert code == "invalid_input" and problem in message
    assert _item(sandbox, video["photo_id"])["sections"] == []


def test_section_and_coordinate_changes_need_write(sandbox: Sandbox, video: dict[str, str]) -> None:
    pid = video["photo_id"]
    for method, params in [
        ("photo/section/create", {"title": "T", "description": ""}),
        ("photo/section/update", {"section_id": "1", "title": "T"}),
        ("photo/section/delete", {"section_id": "1"}),
        ("photo/coordinate/add", {"latitude": "1", "longitude": "2"}),
        ("photo/coordinate/delete", {"latitude": "1", "longitude": "2"}),
        ("photo/replace", {"time": "1"}),
    ]:
        resp = _post(sandbox, method, level="read", photo_id=pid, **params)
        assert _error(resp)[0] == "permission_denied", method


def test_sections_of_a_missing_photo(sandbox: Sandbox) -> None:
    resp = _post(sandbox, "photo/section/create", photo_id="999", title="T", description="")
    assert _error(resp)[0] == "no_such_photo"


# --- coordinates ------------------------------------------------------------------------


def test_coordinates_accumulate_and_are_deleted_one_by_one(
    sandbox: Sandbox, video: dict[str, str]
) -> None:
    pid = video["photo_id"]
    added = ok(_post(sandbox, "photo/coordinate/add", photo_id=pid, latitude="59.91199",
                     longitude="10.73912"))  # fmt: skip
    assert added["message"] == "The coordinate was added" and added["photo"] == {}
    ok(_post(sandbox, "photo/coordinate/add", photo_id=pid, latitude="60.39299", longitude="5.3"))
    assert _item(sandbox, pid)["coordinates"] == [(59.91199, 10.73912), (60.39299, 5.3)]

    deleted = ok(_post(sandbox, "photo/coordinate/delete", photo_id=pid, latitude="59.91199",
                       longitude="10.73912"))  # fmt: skip
    assert deleted["message"] == "The coordinate was deleted"
    assert _item(sandbox, pid)["coordinates"] == [(60.39299, 5.3)]

    gone = _post(sandbox, "photo/coordinate/delete", photo_id=pid, latitude="59.91199",
                 longitude="10.73912")  # fmt: skip
    assert _error(gone) == ("invalid_input", f"photo {pid} has no coordinate 59.912,10.7391")


@pytest.mark.parametrize(
    ("method", "params", "problem"),
    [
        ("photo/coordinate/add", {"latitude": "59"}, "latitude must be used along with longitude"),
        ("photo/coordinate/add", {"latitude": "91", "longitude": "0"}, "'latitude' must be"),
        ("photo/coordinate/add", {}, "give latitude and longitude, or search_string"),
        ("photo/coordinate/delete", {"latitude": "59"}, "parameter 'longitude' is required"),
    ],
)
def test_coordinate_refusals(
    sandbox: Sandbox, video: dict[str, str], method: str, params: dict[str, str], problem: str
) -> None:
    code, message = _error(_post(sandbox, method, photo_id=video["photo_id"], **params))
    assert code == "invalid_input" and problem in message


# --- photo/replace: thumbnails ----------------------------------------------------------


def test_replace_with_only_a_time_picks_the_thumbnail_frame(
    sandbox: Sandbox, video: dict[str, str]
) -> None:
    pid = video["photo_id"]
    before = _item(sandbox, pid)
    answer = ok(_post(sandbox, "photo/replace", photo_id=pid, time="40.2"))
    assert answer["photo"]["photo_id"] == pid
    after = _item(sandbox, pid)
    assert after["thumbnail"] == {"time": 40.2}
    assert (after["sha256"], after["replaced"]) == (before["sha256"], 0)  # the video stays


def test_an_image_sent_for_a_video_becomes_its_thumbnail(
    sandbox: Sandbox, video: dict[str, str]
) -> None:
    pid = video["photo_id"]
    image = b"\xff\xd8\xff poster"
    resp = call(sandbox, "photo/replace", {"photo_id": pid}, files={"file": ("p.jpg", image)})
    ok(resp)
    item = _item(sandbox, pid)
    assert item["thumbnail"] == {
        "sha256": hashlib.sha256(image).hexdigest(),
        "filename": "p.jpg",
        "size": len(image),
    }
    assert item["sha256"] == hashlib.sha256(b"a video").hexdigest()


def test_a_video_sent_for_a_video_replaces_it(sandbox: Sandbox, video: dict[str, str]) -> None:
    pid = video["photo_id"]
    files = {"file": ("new.mp4", b"another video")}
    ok(call(sandbox, "photo/replace", {"photo_id": pid, "time": "3"}, files=files))
    item = _item(sandbox, pid)
    assert item["sha256"] == hashlib.sha256(b"another video").hexdigest()
    assert item["thumbnail"] == {"time": 3.0}


def test_thumbnail_refusals(sandbox: Sandbox, video: dict[str, str]) -> None:
    pid = video["photo_id"]
    assert _error(_post(sandbox, "photo/replace", photo_id=pid))[0] == "no_file"
    sandbox.set_video_length(pid, 30)
    code, message = _error(_post(sandbox, "photo/replace", photo_id=pid, time="31"))
    assert code == "invalid_input" and "beyond the end of the video (30 s)" in message
    photo = upload(sandbox, b"a photo", "still.jpg")
    code, message = _error(_post(sandbox, "photo/replace", photo_id=photo["photo_id"], time="1"))
    assert code == "invalid_input" and "is not a video" in message
    assert _item(sandbox, pid)["thumbnail"] is None
