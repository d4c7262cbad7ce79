"""OAuth 1.0a verification: two independent signers accepted; any change refused."""

from __future__ import annotations

import time

import pytest
import requests
from requests_oauthlib import OAuth1Session
from sb_helpers import call, hand_header, oauth1, ok

from syncd.sandbox import Sandbox


def _echo_url(sb: Sandbox) -> str:
    return f"{sb.base_url}/api/echo"


def test_requests_oauthlib_get_and_form_post_with_utf8(sandbox: Sandbox) -> None:
    data = ok(call(sandbox, "echo", {"title": "Grüße ✓", "q": "a b&c=d"}))
    assert data["echo"]["title"] == "Grüße ✓"
    assert data["permission_level"] == "super"
    data = ok(call(sandbox, "echo", {"title": "Ærø 日本"}, post=True))
    assert data["echo"]["title"] == "Ærø 日本"


def test_hand_signer_get_accepted(sandbox: Sandbox) -> None:
    c = sandbox.credentials("write")
    params = [("format", "json"), ("raw", "1"), ("title", "ñ é/+"), ("a", "2"), ("a", "1")]
    header = hand_header("GET", _echo_url(sandbox), params, c)
    resp = requests.get(_echo_url(sandbox), params=params, headers={"Authorization": header})
    assert ok(resp)["permission_level"] == "write"


def test_hand_signer_form_post_and_multipart_upload(sandbox: Sandbox) -> None:
    c = sandbox.credentials("super")
    url = f"{sandbox.base_url}/api/photo/upload"
    fields = {"format": "json", "raw": "1", "title": "Über", "tags": "syncd:0123abcd x"}
    header = hand_header("POST", url, [], c)  # multipart fields are not signed
    resp = requests.post(
        url, data=fields, files={"file": ("a.mp4", b"abc")}, headers={"Authorization": header}
    )
    photo_id = int(ok(resp)["upload"]["photo_id"])
    item = next(i for i in sandbox.items() if i["photo_id"] == photo_id)
    assert item["title"] == "Über" and item["tags"] == ["syncd:0123abcd", "x"]
    form = [("format", "json"), ("raw", "1"), ("title", "Ωmega")]
    header = hand_header("POST", _echo_url(sandbox), form, c)
    resp = requests.post(_echo_url(sandbox), data=form, headers={"Authorization": header})
    assert ok(resp)["echo"]["title"] == "Ωmega"


@pytest.mark.parametrize(
    "change",
    ["param", "url_path", "url_port_host", "secret", "timestamp"],
)
def test_one_character_change_is_refused(sandbox: Sandbox, change: str) -> None:
    c = sandbox.credentials("super")
    url = _echo_url(sandbox)
    params = [("format", "json"), ("raw", "1"), ("title", "hello")]
    ts = int(time.time())
    sign_url = url
    sign_params = params
    secret = None
    if change == "param":
        sign_params = [*params[:2], ("title", "hellp")]
    elif change == "url_path":
        sign_url = url.replace("/echo", "/echp")
    elif change == "url_port_host":
        sign_url = url.replace("127.0.0.1", "127.0.0.2")
    elif change == "secret":
        secret = c.consumer_secret[:-1] + ("0" if c.consumer_secret[-1] != "0" else "1")
    header = hand_header("GET", sign_url, sign_params, c, timestamp=ts, consumer_secret=secret)
    if change == "timestamp":
        header = header.replace(f'oauth_timestamp="{ts}"', f'oauth_timestamp="{ts + 1}"')
    resp = requests.get(url, params=params, headers={"Authorization": header})
    data = resp.json()
    assert resp.status_code == 200
    assert data["status"] == "error" and data["code"] == "invalid_signature"
    assert c.consumer_secret not in resp.text and c.access_token_secret not in resp.text


def test_clock_skew_replay_unknown_consumer(sandbox: Sandbox) -> None:
    c = sandbox.credentials("super")
    url = _echo_url(sandbox)
    params = [("format", "json"), ("raw", "1")]
    old = hand_header("GET", url, params, c, timestamp=int(time.time()) - 400)
    data = requests.get(url, params=params, headers={"Authorization": old}).json()
    assert data["code"] == "invalid_signature" and "server time" in data["message"]
    # The sandbox's own clock can be shifted instead.
    sandbox.set_time_offset(1000)
    assert call(sandbox, "echo").json()["code"] == "invalid_signature"
    sandbox.set_time_offset(0)
    header = hand_header("GET", url, params, c, nonce="fixed-nonce")
    assert ok(requests.get(url, params=params, headers={"Authorization": header}))
    again = requests.get(url, params=params, headers={"Authorization": header}).json()
    assert again["code"] == "invalid_signature" and "nonce" in again["message"]
    bad = header.replace(c.consumer_key, c.consumer_key + "x")
    data = requests.get(url, params=params, headers={"Authorization": bad}).json()
    assert data["code"] == "invalid_signature" and "consumer" in data["message"]


@pytest.mark.parametrize(
    "header",
    [
        "OAuth",
        "OAuth garbage",
        'OAuth oauth_consumer_key="unterminated',
        "Basic dXNlcjpwYXNz",
        'OAuth oauth_signature="x", oauth_signature="y"',
        'OAuth oauth_consumer_key="%FF%FE"',
    ],
)
def test_malformed_authorization_header(sandbox: Sandbox, header: str) -> None:
    resp = requests.get(
        _echo_url(sandbox), params={"format": "json", "raw": "1"}, headers={"Authorization": header}
    )
    assert resp.status_code == 200
    assert resp.json()["code"] == "invalid_signature"


def test_permission_levels(sandbox: Sandbox) -> None:
    resp = call(sandbox, "photo/upload", level="read", files={"file": ("a.mp4", b"x")})
    data = resp.json()
    assert data["code"] == "permission_denied" and "'write'" in data["message"]
    data = call(sandbox, "photo/get-transcoding-progress", {"photo_id": "1"}, level=None).json()
    assert data["code"] == "permission_denied" and "'read'" in data["message"]
    assert ok(call(sandbox, "site/get", level=None))["permission_level"] == "anonymous"
    data = call(
        sandbox, "photo/upload", {"user_id": "1"}, files={"file": ("a.mp4", b"x")}, level="admin"
    ).json()
    assert data["code"] == "permission_denied" and "super" in data["message"]


def test_post_with_query_string_refused(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/api/echo?x=1"
    resp = requests.post(url, data={"format": "json", "raw": "1"}, auth=oauth1(sandbox))
    data = resp.json()
    assert data["code"] == "invalid_input" and "query string" in data["message"]


def test_three_legged_flow(sandbox: Sandbox) -> None:
    c = sandbox.credentials("flow")
    base = sandbox.base_url
    session = OAuth1Session(c.consumer_key, c.consumer_secret, callback_uri="oob")
    tokens = session.fetch_request_token(f"{base}/oauth/request_token")
    page = requests.get(f"{base}/oauth/authorize", params={"oauth_token": tokens["oauth_token"]})
    assert page.status_code == 200 and "<form" in page.text
    approved = requests.post(f"{base}/oauth/authorize", data={"oauth_token": tokens["oauth_token"]})
    verifier = approved.text.split("id='verifier'>")[1].split("<")[0]
    session = OAuth1Session(
        c.consumer_key,
        c.consumer_secret,
        tokens["oauth_token"],
        tokens["oauth_token_secret"],
        verifier=verifier,
    )
    access = session.fetch_access_token(f"{base}/oauth/access_token")
    assert access["domain"] == sandbox.domain and access["user_id"] == "2"
    user = OAuth1Session(
        c.consumer_key, c.consumer_secret, access["oauth_token"], access["oauth_token_secret"]
    )
    data = user.get(f"{base}/api/echo", params={"format": "json", "raw": "1"}).json()
    assert data["permission_level"] == "write"
    # programmatic approval, and a request without oauth_callback is refused
    session = OAuth1Session(c.consumer_key, c.consumer_secret, callback_uri="oob")
    tokens = session.fetch_request_token(f"{base}/oauth/request_token")
    assert len(sandbox.approve(tokens["oauth_token"])) > 4
    bare = OAuth1Session(c.consumer_key, c.consumer_secret)
    assert bare.get(f"{base}/oauth/request_token").status_code == 400
