"""The request log keeps each API call's parameters (so a test can compare a plan with
what was asked for), and never a secret or a file's bytes."""

from __future__ import annotations

import json

import requests
from requests_oauthlib import OAuth1
from sb_helpers import call, ok, upload

from syncd.sandbox import Sandbox


def _secrets(sb: Sandbox) -> list[str]:
    c = sb.credentials("super")
    return [c.consumer_secret, c.access_token_secret]


def test_multipart_fields_are_logged_without_the_file(sandbox: Sandbox) -> None:
    content = b"FILE-BYTES-" * 100
    upload(sandbox, content, title="A talk", tags="one syncd:abcd", publish="0")

    [rec] = [r for r in sandbox.requests if r.method == "photo/upload"]
    assert rec.params["title"] == "A talk"
    assert rec.params["tags"] == "one syncd:abcd"
    assert rec.params["publish"] == "0"
    assert "file" not in rec.params
    assert not any(k.startswith("oauth_") for k in rec.params)
    assert b"FILE-BYTES" not in json.dumps(rec.params).encode()
    assert rec.bytes_received > len(content)  # the bytes were counted, not kept


def test_query_and_form_parameters_are_logged_and_oauth_ones_dropped(sandbox: Sandbox) -> None:
    c = sandbox.credentials("super")
    # OAuth parameters in the query string, the other way a client may sign.
    auth = OAuth1(
        c.consumer_key,
        c.consumer_secret,
        c.access_token,
        c.access_token_secret,
        signature_type="query",
    )
    resp = requests.get(
        f"{sandbox.base_url}/api/photo/list",
        params={"tags": "syncd:abcd", "format": "json", "raw": "1"},
        auth=auth,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    ok(call(sandbox, "album/create", {"title": "Shows"}, post=True))

    listing, create = [r for r in sandbox.requests if r.method in ("photo/list", "album/create")]
    assert listing.params == {"tags": "syncd:abcd", "format": "json", "raw": "1"}
    assert create.params["title"] == "Shows"
    assert "oauth_signature" in listing.path  # it was there; the log keeps none of them
    assert not any(k.startswith("oauth_") for r in sandbox.requests for k in r.params)


def test_a_refused_call_is_logged_with_its_parameters(sandbox: Sandbox) -> None:
    resp = call(sandbox, "photo/update", {"photo_id": "1", "title": "x"}, level=None, post=True)
    assert resp.json()["status"] == "error"
    [rec] = [r for r in sandbox.requests if r.method == "photo/update"]
    assert rec.params["title"] == "x"


def test_the_control_endpoint_serves_parameters_and_no_secret(sandbox: Sandbox) -> None:
    upload(sandbox, b"abc", title="T")
    text = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).text
    [rec] = [r for r in json.loads(text) if r["method"] == "photo/upload"]
    assert rec["params"]["title"] == "T"
    for secret in _secrets(sandbox):
        assert secret not in text
