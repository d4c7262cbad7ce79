"""The sandbox's profiles and switches: the strict answers, one switch at a time and together,
and every way to turn them on (constructor, environment, command line, control endpoint)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sb_helpers import call, ok, upload

from syncd.sandbox import Sandbox
from syncd.sandbox.process import start_sandbox_process
from syncd.sandbox.profile import PROFILE_ENV

REDEEM = "/api/photo/redeem-upload-token"
NO_SUCH_TAG = "This tag isn't being used on the site."


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox started with the strict profile, whatever the environment says."""
    with Sandbox(tmp_path / "strict", profile="strict") as sb:
        yield sb


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox with the default profile, whatever the environment says; tests turn its
    switches on one at a time."""
    with Sandbox(tmp_path / "plain", profile="default") as sb:
        yield sb


def _token(sb: Sandbox, **params: Any) -> str:
    return ok(call(sb, "photo/get-upload-token", params, post=True))["uploadtoken"]["upload_token"]


def _redeem(sb: Sandbox, token: str, name: str = "a.mp4", content: bytes = b"x") -> Any:
    return requests.post(
        sb.base_url + REDEEM,
        data={"upload_token": token},
        files={"file": (name, content)},
        allow_redirects=False,
        timeout=30,
    )


def _list(sb: Sandbox, **params: str) -> dict[str, Any]:
    resp = call(sb, "photo/list", {"include_unpublished_p": "1", **params})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


# -- no_such_tag ---------------------------------------------------------------------------


def test_no_such_tag_for_a_filter_nobody_uses(plain: Sandbox) -> None:
    upload(plain, tags="syncd:aaaa common")
    upload(plain, tags="hidden", publish="0")
    assert _list(plain, tags="syncd:ffff")["photos"] == []  # default: an empty list
    plain.set_profile(no_such_tag=True)
    for tags, mode in [("syncd:ffff", "and"), ("common syncd:ffff", "and"), ("x y", "any")]:
        data = _list(plain, tags=tags, tag_mode=mode)
        assert data["status"] == "error" and data["code"] == "no_such_tag", data
        assert data["message"] == NO_SUCH_TAG
    assert len(_list(plain, tags="syncd:aaaa")["photos"]) == 1
    assert len(_list(plain, tags="common syncd:ffff", tag_mode="any")["photos"]) == 1
    # "in use on the site" counts unpublished items too, even for an anonymous caller.
    anon = call(plain, "photo/list", {"tags": "hidden"}, level=None).json()
    assert anon["status"] == "ok" and anon["photos"] == []


# -- documented shapes ---------------------------------------------------------------------


def test_documented_shapes_hide_tags_albums_and_variables(plain: Sandbox) -> None:
    album = ok(call(plain, "album/create", {"title": "A"}, post=True))["album"]["album_id"]
    pid = upload(plain, tags="a b", album_id=album, recorded_by="Ann")["photo_id"]
    (item,) = _list(plain)["photos"]
    assert item["tags"] == ["a", "b"] and item["variable_recorded_by"] == "Ann"  # default
    plain.set_profile(documented_shapes=True)
    (item,) = _list(plain)["photos"]
    assert (item["number_of_tags"], item["number_of_albums"]) == ("2", "1")
    assert not {"tags", "album_ids"} & set(item), item
    assert not [k for k in item if k.startswith("variable_")], item
    updated = ok(call(plain, "photo/update", {"photo_id": pid, "title": "T"}, post=True))
    assert updated["photo"] == {}
    token = _token(plain)
    upd = call(plain, "photo/update-upload-token", {"upload_token": token, "title": "x"}, post=True)
    assert ok(upd)["photo"] == {} and "uploadtoken" not in upd.json()
    assert plain.items()[0]["title"] == "T"  # the update itself still happened
    echo = ok(call(plain, "echo", {"a": "b"}))
    assert echo["echo"] == {"a": "b"} and "permission_level" not in echo  # echo.md's shape
    assert "permission_level" in ok(call(plain, "site/get"))


# -- careless filters ----------------------------------------------------------------------


def test_careless_site_ignores_the_tag_filter(plain: Sandbox) -> None:
    upload(plain, tags="syncd:aaaa")
    upload(plain, tags="other")
    assert len(_list(plain, tags="syncd:aaaa")["photos"]) == 1
    plain.set_profile(careless=True)  # bare `careless` = the tags filter
    assert plain.profile.careless == frozenset({"tags"})
    assert len(_list(plain, tags="syncd:aaaa")["photos"]) == 2
    assert len(_list(plain, tags="syncd:ffff")["photos"]) == 2  # never no_such_tag either
    token = _token(plain)
    assert _redeem(plain, token).status_code == 200
    assert len(_list(plain, upload_token=token)["photos"]) == 1
    plain.set_profile(careless="tags|upload_token")
    assert len(_list(plain, upload_token=token)["photos"]) == 3


def test_careless_beats_no_such_tag(strict: Sandbox) -> None:
    upload(strict, tags="one")
    assert _list(strict, tags="syncd:ffff")["code"] == "no_such_tag"
    strict.set_profile(careless=["tags"])
    assert len(_list(strict, tags="syncd:ffff")["photos"]) == 1


# -- tags stored the way the upload pages describe them ------------------------------------


def test_split_tags_keeps_quotes_as_characters(plain: Sandbox) -> None:
    first = upload(plain, content=b"1", tags='"slow tv" ocean')["photo_id"]
    assert plain.items()[0]["tags"] == ["slow tv", "ocean"]  # default: quotes understood
    plain.set_profile(split_tags=True)
    split = ['"slow', 'tv"', "ocean"]
    pid = upload(plain, content=b"2", tags='"slow tv" ocean')["photo_id"]
    assert next(i for i in plain.items() if i["photo_id"] == int(pid))["tags"] == split
    token = _token(plain, tags='"slow tv" ocean')
    assert _redeem(plain, token).status_code == 200
    assert plain.items()[-1]["tags"] == split
    token = _token(plain)
    upd = {"upload_token": token, "tags": '"a b"'}
    ok(call(plain, "photo/update-upload-token", upd, post=True))
    assert _redeem(plain, token).status_code == 200
    assert plain.items()[-1]["tags"] == ['"a', 'b"']
    ok(call(plain, "photo/update", {"photo_id": pid, "tags": '"x y"'}, post=True))
    assert next(i for i in plain.items() if i["photo_id"] == int(pid))["tags"] == ['"x', 'y"']
    # The list filter's page documents quoting: a quoted filter is one tag there.
    found = _list(plain, tags='"slow tv"')["photos"]
    assert [p["photo_id"] for p in found] == [first]


# -- whole-file redeem in each documented style ---------------------------------------------


def test_strict_redeem_redirect_style(strict: Sandbox) -> None:
    back = "http://example.invalid/back?theme=green"
    token = _token(strict, return_url=back, title="R")
    resp = _redeem(strict, token)
    assert resp.status_code == 301
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    (item,) = strict.items()
    assert query["theme"] == ["green"] and query["upload_token"] == [token]
    assert query["domain"] == [strict.domain]
    assert query["photo_id"] == [str(item["photo_id"])]
    assert query["tree_id"] == [str(item["tree_id"])] and query["token"] == [item["token"]]
    refused = _redeem(strict, _token(strict, return_url=back), name="setup.exe")
    assert refused.status_code == 301
    query = parse_qs(urlsplit(refused.headers["Location"]).query)
    assert "photo_id" not in query and "not supported" in query["error_message"][0]


def test_strict_redeem_background_style(strict: Sandbox) -> None:
    cb = "http://127.0.0.1:9/cb"
    resp = _redeem(strict, _token(strict, return_url=cb, background_return_p=1))
    (item,) = strict.items()
    word, domain, tree, pid, tok, url = resp.text.split()
    assert resp.status_code == 200 and (word, domain) == ("ok", strict.domain)
    assert (tree, pid, tok) == (str(item["tree_id"]), str(item["photo_id"]), item["token"])
    assert url.startswith(cb + "?") and f"photo_id={pid}" in url
    bad = _redeem(strict, _token(strict, return_url=cb, background_return_p=1), name="a.exe")
    assert bad.status_code == 200 and bad.text.startswith("error ")
    assert "not supported" in bad.text and len(strict.items()) == 1


def test_strict_redeem_plain_answers_are_all_http_200(strict: Sandbox, plain: Sandbox) -> None:
    """Without return_url the page documents only "a plain HTTP 200" and "a plain,
    unstyled error message": strict gives every one of them status 200, success with an
    empty body, so only the text tells an error apart."""
    answers = {}
    for sb in (plain, strict):
        used = _token(sb)
        answers[sb] = [
            _redeem(sb, used),  # success
            _redeem(sb, used),  # used up
            _redeem(sb, "no-such-token"),
            _redeem(sb, _token(sb), name="a.exe"),  # refused file
            requests.post(sb.base_url + REDEEM, data={"upload_token": _token(sb)}, timeout=30),
        ]
    assert [r.status_code for r in answers[plain]] == [200, 403, 403, 500, 400]
    ok_answer, *errors = answers[strict]
    assert ok_answer.status_code == 200 and ok_answer.content == b""
    assert [r.status_code for r in errors] == [200, 200, 200, 200]
    texts = [r.text for r in errors]
    assert "already been used" in texts[0] and "Invalid" in texts[1]
    assert "not supported" in texts[2] and "no_file" in texts[3]
    assert len(strict.items()) == 1


def test_redeem_error_status_switch_and_chunks_keep_theirs(plain: Sandbox) -> None:
    plain.set_profile(redeem_error_status=502)
    assert _redeem(plain, "no-such-token").status_code == 502
    chunk = {
        "upload_token": "no-such-token",
        "resumableChunkNumber": 1,
        "resumableChunkSize": 10,
        "resumableTotalSize": 1,
        "resumableIdentifier": "f",
    }
    resp = requests.post(
        plain.base_url + REDEEM, data=chunk, files={"file": ("a", b"1")}, timeout=30
    )
    assert resp.status_code == 403  # a chunk's status steers Resumable.js: unchanged


# -- turning profiles and switches on ------------------------------------------------------


def test_profile_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "strict")
    with Sandbox(tmp_path / "a") as sb:
        assert sb.profile.name == "strict" and sb.profile.no_such_tag
    monkeypatch.setenv(PROFILE_ENV, "default,careless=upload_token")
    with Sandbox(tmp_path / "b") as sb:
        assert sb.profile.careless == frozenset({"upload_token"})
    with Sandbox(tmp_path / "c", profile="default") as sb:  # an explicit profile wins
        assert sb.profile.careless == frozenset()
    monkeypatch.setenv(PROFILE_ENV, "strict")
    with start_sandbox_process(["--port", "0"]) as child:  # as the benchmarks start theirs
        assert "profile: strict\n" in child.output
    monkeypatch.setenv(PROFILE_ENV, "nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        Sandbox(tmp_path / "d")


def test_profile_on_the_command_line(tmp_path: Path) -> None:
    started = start_sandbox_process(
        ["--port", "0", "--control", "--profile", "strict", "--switches", "careless=tags"],
        env={k: v for k, v in os.environ.items() if k != PROFILE_ENV},
    )
    with started:
        assert "profile: strict + careless=tags\n" in started.output
        got = requests.get(started.base_url + "/_sandbox/profile", timeout=30).json()
        assert got["name"] == "strict" and got["careless"] == ["tags"]
        assert got["redeem_error_status"] == 200
    for args, word in [(["--profile", "loose"], "loose"), (["--switches", "strict"], "strict")]:
        bad = subprocess.run(
            [sys.executable, "-m", "syncd.sandbox", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode == 2 and word in bad.stderr, bad.stderr


def test_profile_control_endpoint_and_reset(plain: Sandbox) -> None:
    url = plain.base_url + "/_sandbox/profile"
    assert requests.get(url, timeout=30).json()["name"] == "default"
    form = requests.post(url, data={"no_such_tag": "1", "careless": "upload_token"}, timeout=30)
    assert form.status_code == 200 and form.json()["no_such_tag"] is True
    assert plain.profile.careless == frozenset({"upload_token"})
    as_json = requests.post(url, json={"profile": "strict", "split_tags": False}, timeout=30)
    assert as_json.json()["name"] == "strict" and as_json.json()["split_tags"] is False
    spec = requests.post(url, data=b"default,documented_shapes", timeout=30)
    assert spec.json()["documented_shapes"] is True and spec.json()["no_such_tag"] is False
    for body in ({}, {"bogus": "1"}, {"careless": "nope"}):
        bad = requests.post(url, data=body, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"], body
    plain.reset()
    assert plain.profile == plain.initial_profile and not plain.profile.documented_shapes
