"""Upload tokens and Resumable.js chunks: arithmetic, order, duplicates, expiry, max_uploads."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import requests
from sb_helpers import call, ok

from syncd.sandbox import Sandbox

CHUNK = 1000


def _token(sb: Sandbox, **params: Any) -> str:
    return ok(call(sb, "photo/get-upload-token", params, post=True))["uploadtoken"]["upload_token"]


def _send(
    sb: Sandbox, token: str, data: bytes, n: int, ident: str = "f1", **over: Any
) -> requests.Response:
    total_chunks = max(1, len(data) // CHUNK)
    start = (n - 1) * CHUNK
    part = data[start : start + CHUNK] if n < total_chunks else data[start:]
    fields = {
        "upload_token": token,
        "resumableChunkNumber": n,
        "resumableChunkSize": CHUNK,
        "resumableTotalSize": len(data),
        "resumableIdentifier": ident,
        "resumableTotalChunks": total_chunks,
        "resumableCurrentChunkSize": len(part),
        "resumableFilename": "movie.mp4",
    }
    fields.update(over)
    payload = over.pop("payload", part)
    fields.pop("payload", None)
    return requests.post(
        f"{sb.base_url}/api/photo/redeem-upload-token",
        data=fields,
        files={"file": ("blob", payload)},
        timeout=30,
    )


def _test(sb: Sandbox, token: str, data: bytes, n: int) -> int:
    params = {
        "upload_token": token,
        "resumableChunkNumber": n,
        "resumableChunkSize": CHUNK,
        "resumableTotalSize": len(data),
        "resumableIdentifier": "f1",
    }
    url = f"{sb.base_url}/api/photo/redeem-upload-token"
    return requests.get(url, params=params, timeout=30).status_code


def test_out_of_order_duplicates_item_after_last_missing_chunk(sandbox: Sandbox) -> None:
    data = bytes(range(256)) * 17  # 4352 bytes: 4 chunks, last one 1352 bytes
    token = _token(sandbox, title="Chunky", tags="syncd:feed")
    for n in (3, 1, 4, 3):
        assert _send(sandbox, token, data, n).status_code == 200
        assert sandbox.items() == []
    assert _test(sandbox, token, data, 3) == 200
    assert _test(sandbox, token, data, 2) == 204
    last = _send(sandbox, token, data, 2)
    assert last.status_code == 200 and last.text.startswith("ok")
    (item,) = sandbox.items()
    assert item["sha256"] == hashlib.sha256(data).hexdigest() and item["size"] == len(data)
    assert item["created_by"] == "redeem-upload-token" and item["upload_token"] == token
    assert item["title"] == "Chunky" and item["tags"] == ["syncd:feed"]
    assert _send(sandbox, token, data, 2).status_code == 200  # resend after completion
    assert len(sandbox.items()) == 1
    listed = ok(call(sandbox, "photo/list", {"upload_token": token}))["photos"]
    assert [p["photo_id"] for p in listed] == [str(item["photo_id"])]


def test_chunk_arithmetic_violations_refused(sandbox: Sandbox) -> None:
    data = b"x" * 3500  # 3 chunks: 1000, 1000, 1500
    token = _token(sandbox)
    bad = [
        _send(sandbox, token, data, 4),  # beyond the last chunk
        _send(sandbox, token, data, 1, resumableTotalChunks=4),
        _send(sandbox, token, data, 1, resumableCurrentChunkSize=999),
        _send(sandbox, token, data, 3, payload=b"x" * 500),  # last chunk lacks the remainder
        _send(sandbox, token, data, 1, resumableChunkNumber="zero"),
        _send(sandbox, token, data, 2, payload=b"x" * 1001),
    ]
    for resp in bad:
        assert 400 <= resp.status_code < 500, resp.text
    assert _send(sandbox, token, data, 1).status_code == 200
    # a later chunk that disagrees with the session's sizes
    resp = _send(sandbox, token, data, 2, resumableChunkSize=500, resumableTotalChunks=7)
    assert resp.status_code == 400
    assert sandbox.items() == []


def test_whole_file_redeem_answers_and_max_uploads(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/photo/redeem-upload-token"
    token = _token(sandbox, max_uploads=2, return_url="http://example.invalid/back?x=1")
    resp = requests.post(
        url, data={"upload_token": token}, files={"file": ("a.mp4", b"a")}, allow_redirects=False
    )
    assert resp.status_code == 301
    location = resp.headers["Location"]
    assert location.startswith("http://example.invalid/back?x=1&") and "photo_id=" in location
    resp = requests.post(
        url, data={"upload_token": token}, files={"file": ("a.mp4", b"b")}, allow_redirects=False
    )
    assert resp.status_code == 301
    resp = requests.post(url, data={"upload_token": token}, files={"file": ("a.mp4", b"c")})
    assert resp.status_code == 403 and "already been used" in resp.text
    assert len(sandbox.items()) == 2
    plain = _token(sandbox)
    resp = requests.post(url, data={"upload_token": plain}, files={"file": ("a.mp4", b"d")})
    assert resp.status_code == 200 and resp.text.strip() == "ok"
    resp = requests.post(url, data={"upload_token": "nope"}, files={"file": ("a.mp4", b"d")})
    assert resp.status_code == 403 and "Invalid" in resp.text
    resp = requests.post(url, data={"upload_token": _token(sandbox)})
    assert resp.status_code == 400 and "no_file" in resp.text
    bg = _token(sandbox, return_url="http://127.0.0.1:9/cb", background_return_p=1)
    resp = requests.post(url, data={"upload_token": bg}, files={"file": ("a.mp4", b"e")})
    words = resp.text.split()
    assert words[0] == "ok" and words[1] == sandbox.domain and len(words) == 6
    resp = requests.post(
        url, data={"upload_token": _token(sandbox)}, files={"file": ("a.exe", b"MZ")}
    )
    assert resp.status_code == 500


def test_token_expiry_and_limits(sandbox: Sandbox) -> None:
    data = b"y" * 2500
    token = _token(sandbox, valid_minutes=15)
    assert _send(sandbox, token, data, 1).status_code == 200
    sandbox.expire_upload_token(token)
    resp = _send(sandbox, token, data, 2)
    assert resp.status_code == 403 and "expired" in resp.text
    assert sandbox.items() == []
    token = _token(sandbox)
    sandbox.set_time_offset(181 * 60)  # past the default 180 minutes
    resp = _send(sandbox, token, data, 1)
    assert resp.status_code == 403
    sandbox.set_time_offset(0)
    for bad in ({"valid_minutes": 14}, {"valid_minutes": 1441}, {"max_uploads": 101}):
        assert call(sandbox, "photo/get-upload-token", bad).json()["code"] == "invalid_input"
    assert time.time() > 0


def test_update_upload_token_changes_metadata(sandbox: Sandbox) -> None:
    token = _token(sandbox, title="before")
    upd = call(
        sandbox,
        "photo/update-upload-token",
        {"upload_token": token, "title": "after"},
        level=None,
        post=True,
    )
    assert ok(upd)["uploadtoken"]["title"] == "after"
    url = f"{sandbox.base_url}/api/photo/redeem-upload-token"
    requests.post(url, data={"upload_token": token}, files={"file": ("a.mp4", b"z")})
    assert sandbox.items()[0]["title"] == "after"
