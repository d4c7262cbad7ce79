"""The upload signer sends what oauthlib would for the same nonce and timestamp."""

from __future__ import annotations

import re

import pytest
import requests
from oauthlib.oauth1 import Client as OAuthClient

from syncd.api.upload_signer import UploadSigner

CREDENTIALS = [
    ("ck", "cs", "tok", "ts"),
    ("key with space&=", "sëcret/+%", "tök=1", "t&s s"),
    ("ck", "cs", None, None),  # consumer-only (two-legged)
]
URLS = [
    ("POST", "http://127.0.0.1:8023/api/photo/upload"),
    ("POST", "HTTPS://Video.Example.COM:443/api/photo/redeem-upload-token"),
    ("POST", "http://video.example.com:80/api/photo%20x/upload"),
    ("GET", "https://video.example.com/api/photo/redeem-upload-token"),
    ("post", "http://127.0.0.1:8023/api/photo/upload"),  # a method in lower case
]


def fields(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


@pytest.mark.parametrize("creds", CREDENTIALS)
@pytest.mark.parametrize(("method", "url"), URLS)
def test_same_header_as_oauthlib(
    creds: tuple[str, str, str | None, str | None], method: str, url: str
) -> None:
    ck, cs, tok, ts = creds
    reference = OAuthClient(
        ck,
        client_secret=cs,
        resource_owner_key=tok,
        resource_owner_secret=ts,
        nonce="1234567890123456781700000000",
        timestamp="1700000000",
    )
    _, headers, _ = reference.sign(url, method, None, {})
    ours = UploadSigner(ck, cs, tok, ts, general=requests.auth.AuthBase()).header(
        method, url, nonce="1234567890123456781700000000", timestamp="1700000000"
    )
    assert fields(ours) == fields(headers["Authorization"])


def test_each_request_gets_a_fresh_nonce_and_the_current_time() -> None:
    signer = UploadSigner("ck", "cs", "tok", "ts", requests.auth.AuthBase(), clock=lambda: 1.7e9)
    first = fields(signer.header("POST", "http://h/api/photo/upload"))
    second = fields(signer.header("POST", "http://h/api/photo/upload"))
    assert first["oauth_timestamp"] == second["oauth_timestamp"] == "1700000000"
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert first["oauth_signature"] != second["oauth_signature"]


class Recording(requests.auth.AuthBase):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.seen.append(str(r.url))
        return r


def test_a_query_string_goes_to_the_general_signer() -> None:
    general = Recording()
    signer = UploadSigner("ck", "cs", "tok", "ts", general)
    plain = requests.Request("POST", "http://h/api/photo/upload").prepare()
    signer(plain)
    assert "Authorization" in plain.headers and general.seen == []
    query = requests.Request("POST", "http://h/api/photo/upload?x=1").prepare()
    signer(query)
    assert "Authorization" not in query.headers
    assert general.seen == ["http://h/api/photo/upload?x=1"]


def test_repr_names_no_secret() -> None:
    signer = UploadSigner("ck", "consumer-secret-x", "tok", "token-secret-y", Recording())
    assert "secret" not in repr(signer) and "ck" in repr(signer)
