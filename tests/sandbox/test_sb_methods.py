"""Every spec section 6 method answers with the documented keys, in raw JSON and in XML;
bad input gets a documented error, never a 500."""

from __future__ import annotations

import email.utils
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import requests
from sb_helpers import call, oauth1, ok, upload

from syncd.sandbox import Sandbox


def _setup(sb: Sandbox) -> dict[str, str]:
    album = ok(call(sb, "album/create", {"title": "Holidays"}, post=True))["album"]["album_id"]
    photo = upload(sb, tags="syncd:abc1 beach", album_id=album)["photo_id"]
    return {"album_id": album, "photo_id": photo}


# method, params (formatted with ids), post?, multipart file?, JSON key, expected keys
CASES: list[tuple[str, dict[str, str], bool, bool, str | None, set[str]]] = [
    ("echo", {"x": "1"}, False, False, "echo", {"x"}),
    ("site/get", {}, False, False, "site", {"site_id", "domain", "product_key", "site_name"}),
    ("user/get", {}, False, False, "user", {"user_id", "username"}),
    ("photo/upload", {}, True, True, "upload", {"photo_id", "tree_id", "token"}),
    (
        "photo/get-upload-token",
        {"valid_minutes": "20"},
        True,
        False,
        "uploadtoken",
        {"upload_token", "valid_until", "max_uploads", "album_id", "tags", "return_url"},
    ),
    (
        "photo/list",
        {"photo_id": "{photo_id}"},
        False,
        False,
        "photos",
        {"photo_id", "title", "token", "tree_id", "published_p", "video_encoded_p", "tags"},
    ),
    ("photo/update", {"photo_id": "{photo_id}", "title": "T2"}, True, False, "photo", {"title"}),
    (
        "photo/get-transcoding-progress",
        {"photo_id": "{photo_id}"},
        False,
        False,
        "progress",
        {"all"},
    ),
    ("photo/replace", {"photo_id": "{photo_id}"}, True, True, "photo", {"photo_id", "token"}),
    (
        "photo/get-replace-token",
        {"photo_id": "{photo_id}"},
        True,
        False,
        "replacetoken",
        {"replace_token"},
    ),
    (
        # The pages' examples: a message and an empty "photo" (no section_id).
        "photo/coordinate/add",
        {"photo_id": "{photo_id}", "latitude": "55.6", "longitude": "12.5"},
        True,
        False,
        "photo",
        set(),
    ),
    (
        "photo/section/create",
        {"photo_id": "{photo_id}", "title": "Intro", "description": "", "start_time": "3"},
        True,
        False,
        "photo",
        set(),
    ),
    (
        "photo/attachment/upload",
        {"photo_id": "{photo_id}"},
        True,
        True,
        "attachment",
        {"attachment_id"},
    ),
    ("album/create", {"title": "New"}, True, False, "album", {"album_id", "token"}),
    ("album/list", {}, False, False, "albums", {"album_id", "title", "token", "hide_p"}),
    ("album/update", {"album_id": "{album_id}", "title": "X"}, True, False, "album", {"album_id"}),
    ("tag/list", {}, False, False, "tags", {"tag", "count", "url"}),
    ("album/delete", {"album_id": "{album_id}"}, True, False, "album", {"album_id"}),
    ("photo/delete", {"photo_id": "{photo_id}"}, True, False, "photo", {"photo_id"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_method_shapes_json_and_xml(sandbox: Sandbox, case: Any) -> None:
    method, params, post, with_file, key, keys = case
    for fmt in ("json", "xml"):
        ids = _setup(sandbox)
        p = {k: v.format(**ids) for k, v in params.items()}
        files = {"file": ("b.mp4", b"new-bytes")} if with_file else None
        resp = call(sandbox, method, p, post=post, files=files, fmt=fmt)
        assert resp.status_code == 200, resp.text
        if fmt == "json":
            data = ok(resp)
            assert data["endpoint"] == f"/api/{method}" and "site" in data
            value = data[key]
            rows = value if isinstance(value, list) else [value]
            assert rows, data
            for row in rows:
                assert keys <= set(row), (keys - set(row), row)
                assert all(isinstance(v, str | list | dict) for v in row.values())
            if isinstance(value, list):
                assert {"p", "size", "total_count"} <= set(data)
                assert all(isinstance(data[k], str) for k in ("p", "size", "total_count"))
        else:
            root = ET.fromstring(resp.content)
            assert root.tag == "response" and root.get("status") == "ok", resp.text
            assert root.get("permission_level") == "super" and root.get("cached") == "0"
            names = {el.tag for el in root.iter()}
            assert keys <= names | {el.get("key") for el in root.iter()}, resp.text


def test_js_wrappers(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/site/get"
    assert requests.get(url, params={"format": "json"}).text.startswith("var visual = {")
    assert requests.get(url, params={"format": "json", "varname": "v"}).text.startswith("var v =")
    assert requests.get(url, params={"format": "json", "callback": "f"}).text.startswith("f({")
    bad = requests.get(url, params={"format": "json", "callback": "alert(1)//"})
    assert "invalid_input" in bad.text and "alert" not in bad.text.split("message")[0]


def test_list_pagination_unpublished_and_tags(sandbox: Sandbox) -> None:
    for i in range(5):
        upload(sandbox, title=f"t{i}", tags=f"syncd:{i:04d} common", publish="0" if i == 4 else "1")
    data = ok(call(sandbox, "photo/list", {"size": "2", "p": "2"}, level=None))
    assert (data["p"], data["size"], data["total_count"]) == ("2", "2", "4")
    assert len(data["photos"]) == 2
    with_hidden = ok(call(sandbox, "photo/list", {"include_unpublished_p": "1"}))
    assert with_hidden["total_count"] == "5"
    anon = ok(call(sandbox, "photo/list", {"include_unpublished_p": "1"}, level=None))
    assert anon["total_count"] == "4"
    assert ok(call(sandbox, "photo/list", {"size": "500"}))["size"] == "100"  # clamped
    one = ok(call(sandbox, "photo/list", {"tags": "syncd:0003"}))["photos"]
    assert [p["title"] for p in one] == ["t3"]
    anyof = ok(call(sandbox, "photo/list", {"tags": "syncd:0001 syncd:0002", "tag_mode": "any"}))
    assert anyof["total_count"] == "2"
    tags = ok(call(sandbox, "tag/list", {"exclude_machine_tags_p": "1"}))["tags"]
    assert [t["tag"] for t in tags] == ["common"]
    pid = ok(call(sandbox, "photo/list", {"tags": "syncd:0000"}))["photos"][0]["photo_id"]
    ok(call(sandbox, "photo/update", {"photo_id": pid, "tags": "only"}, post=True))
    assert next(i for i in sandbox.items() if str(i["photo_id"]) == pid)["tags"] == ["only"]


def test_bad_input_documented_errors(sandbox: Sandbox) -> None:
    base = sandbox.base_url
    cases = [
        (call(sandbox, "photo/upload", {"title": "x"}, post=True), "no_file"),
        (call(sandbox, "nope"), "invalid_input"),
        (call(sandbox, "photo/update", {"photo_id": "999999"}, post=True), "no_such_photo"),
        (call(sandbox, "photo/list", {"p": "0"}), "invalid_input"),
        (
            call(sandbox, "photo/upload", {"title": "x" * 70000}, files={"file": ("a", b"1")}),
            "invalid_input",
        ),
        (call(sandbox, "echo", {"v": "y" * 70000}, post=True), "invalid_input"),
    ]
    raw_q = requests.get(f"{base}/api/echo?format=json&raw=1&x=%FF%FE", auth=oauth1(sandbox))
    cases.append((raw_q, "invalid_input"))
    body = (
        b'--B\r\nContent-Disposition: form-data; name="format"\r\n\r\njson\r\n'
        b'--B\r\nContent-Disposition: form-data; name="raw"\r\n\r\n1\r\n'
        b'--B\r\nContent-Disposition: form-data; name="title"\r\n\r\n\xff\xfe\r\n--B--\r\n'
    )
    bad_utf8 = requests.post(
        f"{base}/api/echo",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=B"},
        auth=oauth1(sandbox),
    )
    cases.append((bad_utf8, "invalid_input"))
    truncated = requests.post(
        f"{base}/api/echo",
        data=body[:-8],
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    cases.append((truncated, "invalid_input"))
    for resp, code in cases:
        assert resp.status_code == 200, resp.text
        assert code in resp.text, resp.text
        assert "Traceback" not in resp.text


def test_control_endpoints_off_without_control(tmp_path: Any) -> None:
    sb = Sandbox(tmp_path / "d", control=False).start()
    try:
        assert requests.get(f"{sb.base_url}/_sandbox/items").status_code == 404
        assert requests.post(f"{sb.base_url}/_sandbox/reset").status_code == 404
    finally:
        sb.stop()


def test_control_endpoints(sandbox: Sandbox) -> None:
    upload(sandbox)
    items = requests.get(f"{sandbox.base_url}/_sandbox/items").json()
    assert len(items) == 1 and items[0]["created_by"] == "photo/upload"
    reqs = requests.get(f"{sandbox.base_url}/_sandbox/requests").json()
    assert [r["method"] for r in reqs] == ["photo/upload"]
    assert sandbox.count_requests("photo/upload") == 1
    assert requests.post(f"{sandbox.base_url}/_sandbox/reset").status_code == 200
    assert sandbox.items() == [] and sandbox.count_requests() == 0


def test_time_offset_shifts_the_date_header(sandbox: Sandbox) -> None:
    def skew() -> float:
        resp = requests.get(sandbox.base_url + "/api/site/get", timeout=30)
        return email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp() - time.time()

    assert abs(skew()) < 5
    requests.post(sandbox.base_url + "/_sandbox/time-offset", data={"seconds": "600"}, timeout=30)
    assert 590 < skew() < 610
