"""Fault injection fires as specified."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from sb_helpers import call, ok, upload

from syncd.sandbox import Sandbox


def test_status_count_then_normal(sandbox: Sandbox) -> None:
    rule = sandbox.faults.add(method="photo/upload", status=500, count=3)
    codes = [
        call(sandbox, "photo/upload", files={"file": ("a.mp4", b"x")}).status_code for _ in range(4)
    ]
    assert codes == [500, 500, 500, 200] and rule.fired == 3
    assert len(sandbox.items()) == 1
    assert ok(call(sandbox, "echo"))  # other methods untouched


def test_429_retry_after_via_control_endpoint(sandbox: Sandbox) -> None:
    spec = "photo/list:429:retry_after=7:count=1"
    resp = requests.post(f"{sandbox.base_url}/_sandbox/faults", data=spec.encode())
    assert resp.status_code == 200, resp.text
    first = call(sandbox, "photo/list")
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert call(sandbox, "photo/list").status_code == 200
    rules = requests.get(f"{sandbox.base_url}/_sandbox/faults").json()
    assert rules[0]["fired"] == 1


def test_cut_mid_body(sandbox: Sandbox) -> None:
    sandbox.faults.add(method="photo/upload", cut_after_bytes=64 * 1024, count=1)
    with pytest.raises(requests.ConnectionError):
        call(sandbox, "photo/upload", files={"file": ("a.mp4", b"q" * (4 << 20))})
    assert sandbox.items() == []
    (rec,) = [r for r in sandbox.requests if r.method == "photo/upload"]
    assert rec.status == 0 and 64 * 1024 <= rec.bytes_received < 4 << 20


def test_cut_after_store_item_exists_without_answer(sandbox: Sandbox) -> None:
    sandbox.faults.add(method="photo/upload", cut_after_store=True, count=1)
    content = b"stored-but-unanswered"
    with pytest.raises(requests.ConnectionError):
        call(sandbox, "photo/upload", {"tags": "syncd:abcd"}, files={"file": ("a.mp4", content)})
    (item,) = sandbox.items()
    assert item["sha256"] == hashlib.sha256(content).hexdigest()
    found = ok(call(sandbox, "photo/list", {"tags": "syncd:abcd"}))["photos"]
    assert len(found) == 1


def test_error_processing_upload_fraction_seeded(sandbox: Sandbox) -> None:
    rule = sandbox.faults.add(method="photo/upload", fraction=0.5, error_processing_upload=True)
    results = []
    for _ in range(20):
        data = call(sandbox, "photo/upload", files={"file": ("a.mp4", b"x")}).json()
        results.append(data["status"])
        if data["status"] == "error":
            assert data["code"] == "error_processing_upload"
    assert 0 < rule.fired < 20 and results.count("error") == rule.fired
    assert len(sandbox.items()) == 20 - rule.fired


def test_expire_token_and_delay_and_spec_errors(sandbox: Sandbox) -> None:
    token = ok(call(sandbox, "photo/get-upload-token"))["uploadtoken"]["upload_token"]
    sandbox.faults.load(json.dumps({"method": "photo/redeem-upload-token", "expire_token": True}))
    url = f"{sandbox.base_url}/api/photo/redeem-upload-token"
    resp = requests.post(url, data={"upload_token": token}, files={"file": ("a.mp4", b"x")})
    assert resp.status_code == 403 and "expired" in resp.text
    sandbox.faults.clear()
    sandbox.faults.add(method="echo", delay=0.2, count=1)
    assert ok(call(sandbox, "echo"))
    for bad in ("echo:999", "echo:bogus", "{not json", "echo:count=x:500"):
        with pytest.raises(ValueError):
            sandbox.faults.load(bad)
    resp = requests.post(f"{sandbox.base_url}/_sandbox/faults", data=b"echo:bogus")
    assert resp.status_code == 400 and "bogus" in resp.text


def test_chunk_500_then_resend(sandbox: Sandbox) -> None:
    token = ok(call(sandbox, "photo/get-upload-token"))["uploadtoken"]["upload_token"]
    sandbox.faults.add(method="photo/redeem-upload-token", status=500, count=1)
    fields = {
        "upload_token": token,
        "resumableChunkNumber": 1,
        "resumableChunkSize": 10,
        "resumableTotalSize": 5,
        "resumableIdentifier": "x",
    }
    url = f"{sandbox.base_url}/api/photo/redeem-upload-token"
    assert requests.post(url, data=fields, files={"file": ("a", b"12345")}).status_code == 500
    assert requests.post(url, data=fields, files={"file": ("a", b"12345")}).status_code == 200
    assert len(sandbox.items()) == 1
    assert upload(sandbox)


def test_fault_rule_from_a_form_body(sandbox: Sandbox) -> None:
    url = sandbox.base_url + "/_sandbox/faults"
    resp = requests.post(url, data="method=echo&status=503&count=1&retry_after=2", timeout=30)
    assert resp.status_code == 400  # no Content-Type: read as a compact spec, which it is not
    resp = requests.post(
        url,
        data={"method": "echo", "status": "503", "count": "1", "retry_after": "2"},
        timeout=30,
    )
    assert resp.status_code == 200 and len(resp.json()["added"]) == 1, resp.text
    first = call(sandbox, "echo")
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert call(sandbox, "echo").status_code == 200
    flag = requests.post(url, data={"method": "echo", "cut_after_store": "1"}, timeout=30)
    assert flag.json()["rules"][-1]["cut_after_store"] is True
    spec = requests.post(url, data={"spec": "echo:500:count=1"}, timeout=30)
    assert spec.status_code == 200 and spec.json()["rules"][-1]["status"] == 500
    for body in ({}, {"method": "echo", "bogus": "1"}, {"method": "echo", "status": "x"}):
        bad = requests.post(url, data=body, timeout=30)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["error"], bad.text
    empty = requests.post(url, data={}, timeout=30)
    assert "no fault rule" in empty.json()["error"] and "method=" in empty.json()["error"]
    assert "bogus" in requests.post(url, data={"method": "echo", "bogus": "1"}).json()["error"]
    assert len(sandbox.faults.rules) == 3
