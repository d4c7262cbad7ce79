"""The client against the sandbox over real HTTP: signatures checked by the server side,
streamed multipart uploads, paging, and every transport fault classified once."""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from syncd.api import Client, FileSlice
from syncd.api.session import BLOCKSIZE
from syncd.config import Secret, SiteConfig
from syncd.errors import (
    ApiError,
    ConnectError,
    ConnectionCut,
    CredentialsError,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    SyncdError,
    TimeoutError_,
    TransportError,
)
from syncd.sandbox import Sandbox

MIB = 1024 * 1024
# Large enough that the body cannot sit in loopback socket buffers: a cut mid-body is seen
# by the sender before it has handed over everything.
CUT_BODY_SIZE = 48 * MIB


def site_for(sandbox: Sandbox, level: str = "super", **overrides: str) -> SiteConfig:
    c = sandbox.credentials(level)
    values: dict = {
        "domain": sandbox.domain,
        "scheme": "http",
        "consumer_key": c.consumer_key,
        "consumer_secret": Secret(c.consumer_secret),
        "access_token": c.access_token,
        "access_token_secret": Secret(c.access_token_secret),
        "oauth_base_url": sandbox.base_url,
    }
    values.update(overrides)
    return SiteConfig(**values)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    with Client(site_for(sandbox), read_timeout=5.0) as c:
        yield c


def media(tmp_path: Path, name: str = "clip.mp4", size: int = 200_000) -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(i % 253 for i in range(size)))
    return path


def sparse(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def test_signed_echo_with_non_ascii_params(sandbox: Sandbox, client: Client) -> None:
    answer = client.echo(title="Ærø — 日本 & more=1", n=3)
    assert answer["echo"] == {"title": "Ærø — 日本 & more=1", "n": "3"}
    assert client.last_server_date is not None
    client.site_get()  # echo's documented answer carries no permission_level; this one does
    assert client.last_permission_level == "super"
    (record,) = [r for r in sandbox.requests if r.method == "echo"]
    assert record.http_method == "POST"


def test_posts_carry_no_query_string(sandbox: Sandbox, client: Client) -> None:
    client.echo(a="1")
    client.photo_list()
    for record in sandbox.requests:
        assert "?" not in record.path, record


def test_multipart_upload_is_signed_and_keeps_non_ascii(
    sandbox: Sandbox, client: Client, tmp_path: Path
) -> None:
    path = media(tmp_path, "film ø.mp4")
    result = client.photo_upload(
        FileSlice(path), {"title": "Ærø — 日本", "tags": "syncd:abcd holiday", "publish": "0"}
    )
    (item,) = sandbox.items()
    assert str(item["photo_id"]) == result.photo_id and result.token == item["token"]
    assert item["title"] == "Ærø — 日本"
    assert item["tags"] == ["syncd:abcd", "holiday"]
    assert item["published"] is False
    assert item["size"] == path.stat().st_size
    assert Path(item["path"]).read_bytes() == path.read_bytes()


def test_wrong_secret_is_invalid_signature(sandbox: Sandbox, tmp_path: Path) -> None:
    site = site_for(sandbox, access_token_secret=Secret("wrong-secret-xyz"))
    with Client(site) as bad:
        with pytest.raises(CredentialsError) as info:
            bad.echo()
        with pytest.raises(CredentialsError):
            bad.photo_upload(FileSlice(media(tmp_path)), {"title": "x"})
    assert info.value.code == "invalid_signature" and info.value.stops_run
    assert "wrong-secret-xyz" not in str(info.value)
    assert sandbox.items() == []


@pytest.mark.parametrize(
    ("call", "cls", "code"),
    [
        (lambda c: c.photo_update("999999", title="x"), NotFound, "no_such_photo"),
        (lambda c: c.photo_delete("999999"), NotFound, "no_such_photo"),
        (lambda c: c.album_update("999999", title="x"), NotFound, "no_such_album"),
        (lambda c: c.album_create(""), ApiError, "invalid_input"),
    ],
)
def test_api_errors_from_the_server(client: Client, call, cls: type, code: str) -> None:
    with pytest.raises(cls) as info:
        call(client)
    assert info.value.code == code and not info.value.retryable


def test_read_level_cannot_upload(sandbox: Sandbox, tmp_path: Path) -> None:
    with Client(site_for(sandbox, "read")) as reader:
        reader.site_get()
        assert reader.last_permission_level == "read"
        with pytest.raises(CredentialsError) as info:
            reader.photo_upload(FileSlice(media(tmp_path)), {"title": "x"})
    assert info.value.code == "permission_denied"


def test_paging_walks_every_item(sandbox: Sandbox, client: Client, tmp_path: Path) -> None:
    path = media(tmp_path, size=1000)
    ids = {client.photo_upload(FileSlice(path), {"title": f"t{i}"}).photo_id for i in range(7)}
    page = client.photo_list(size=3, p=3)
    assert (page.p, page.size, page.total_count, len(page.items)) == (3, 3, 7, 1)
    assert {i.photo_id for i in client.iter_photos()} == ids
    before = sandbox.count_requests("photo/list")
    small = list(client.iter_photos(size=2))  # size is always the maximum: one request
    assert len(small) == 7 and sandbox.count_requests("photo/list") == before + 1


def test_token_flow_and_albums(sandbox: Sandbox, client: Client, tmp_path: Path) -> None:
    album = client.album_create("Archive ø")
    token = client.get_upload_token(title="via token", album_id=album["album_id"])
    client.update_upload_token(token["upload_token"], title="renamed")
    answer = client.redeem_upload_token(token["upload_token"], FileSlice(media(tmp_path)))
    assert answer.status == 200
    (item,) = client.photo_list(upload_token=token["upload_token"]).items
    assert item.title == "renamed"
    assert [a["title"] for a in client.iter_albums()] == ["Archive ø"]
    assert "all" in client.transcoding_progress(item.photo_id)
    client.photo_update(item.photo_id, tags="a b")
    assert {t["tag"] for t in client.tag_list()} == {"a", "b"}
    client.photo_delete(item.photo_id)
    assert sandbox.items() == []


def test_redeem_never_follows_the_redirect(client: Client, tmp_path: Path) -> None:
    token = client.get_upload_token(title="r", return_url="http://example.invalid/cb")
    answer = client.redeem_upload_token(token["upload_token"], FileSlice(media(tmp_path)))
    assert answer.status == 301
    assert answer.location and answer.location.startswith("http://example.invalid/cb?")
    assert "photo_id=" in answer.location


def test_chunks_and_chunk_test(sandbox: Sandbox, client: Client, tmp_path: Path) -> None:
    path = media(tmp_path, size=250_000)
    token = client.get_upload_token(title="chunked")["upload_token"]
    chunk, total = 100_000, 250_000
    common = {
        "resumableChunkSize": str(chunk),
        "resumableTotalSize": str(total),
        "resumableIdentifier": "id-1",
        "resumableTotalChunks": "2",
        "resumableFilename": path.name,
    }
    first = {**common, "resumableChunkNumber": "1", "resumableCurrentChunkSize": str(chunk)}
    before = int(time.time())
    assert client.test_chunk(token, first) is False
    after = int(time.time())
    # Unsigned GETs may come from a 30-minute cache; `time=<now>` asks for a fresh answer.
    (test,) = [r for r in sandbox.requests if r.http_method == "GET"]
    (sent,) = parse_qs(urlsplit(test.path).query)["time"]
    assert before <= int(sent) <= after
    assert client.redeem_chunk(token, FileSlice(path, 0, chunk), first) == 200
    assert client.test_chunk(token, first) is True
    last = {**common, "resumableChunkNumber": "2", "resumableCurrentChunkSize": str(total - chunk)}
    assert client.redeem_chunk(token, FileSlice(path, chunk, total - chunk), last) == 200
    (item,) = sandbox.items()
    assert Path(item["path"]).read_bytes() == path.read_bytes()


# fault options -> (error class, ambiguous, retry_after)
UPLOAD_FAULTS = [
    pytest.param({"status": 500}, ServerError, True, None, id="500"),
    pytest.param({"status": 502}, ServerError, True, None, id="502"),
    pytest.param({"status": 504}, ServerError, True, None, id="504"),
    pytest.param({"status": 503}, ServerError, True, None, id="503"),
    pytest.param({"status": 503, "retry_after": 7}, RateLimited, False, 7.0, id="503-retry-after"),
    pytest.param({"status": 429, "retry_after": 3}, RateLimited, False, 3.0, id="429-retry-after"),
    pytest.param({"status": 429}, RateLimited, False, None, id="429"),
    pytest.param({"cut_after_store": True}, ConnectionCut, True, None, id="cut-after-store"),
    pytest.param({"delay": 3.0}, TimeoutError_, True, None, id="slower-than-read-timeout"),
]


@pytest.mark.parametrize(("fault", "cls", "ambiguous", "retry_after"), UPLOAD_FAULTS)
def test_upload_faults_are_classified(
    sandbox: Sandbox,
    tmp_path: Path,
    fault: dict,
    cls: type,
    ambiguous: bool,
    retry_after: float | None,
) -> None:
    sandbox.faults.add(method="photo/upload", count=1, **fault)
    with Client(site_for(sandbox), read_timeout=1.0) as c:
        with pytest.raises(cls) as info:
            c.photo_upload(FileSlice(media(tmp_path)), {"title": "x"})
        error = info.value
        assert type(error) is cls
        assert error.retryable and not error.stops_run
        assert error.ambiguous is ambiguous
        assert error.retry_after == retry_after
        # The fault fired once: the next attempt (fresh reader, fresh nonce) goes through.
        c.photo_upload(FileSlice(media(tmp_path)), {"title": "y"})
    titles = [i["title"] for i in sandbox.items()]
    if fault.get("delay"):
        assert "y" in titles  # the slow first attempt may or may not land: truly ambiguous
    else:
        assert titles == (["x", "y"] if fault.get("cut_after_store") else ["y"])


def test_cut_mid_body_is_not_ambiguous(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(method="photo/upload", count=1, cut_after_bytes=100_000)
    with Client(site_for(sandbox)) as c, pytest.raises(ConnectionCut) as info:
        c.photo_upload(FileSlice(sparse(tmp_path, "big.mp4", CUT_BODY_SIZE)), {"title": "x"})
    assert info.value.ambiguous is False and info.value.retryable
    assert sandbox.items() == []


def test_connection_refused_tls_and_dns(sandbox: Sandbox) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = SiteConfig(f"127.0.0.1:{port}", "k", Secret("s"), "t", Secret("ts"), scheme="http")
    with Client(dead) as c, pytest.raises(ConnectError) as info:
        c.echo()
    assert "refused" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    assert info.value.ambiguous is False
    # https to a plain-HTTP port: the TLS handshake fails, and the message says so.
    tls = SiteConfig(sandbox.domain, "k", Secret("s"), "t", Secret("ts"), scheme="https")
    with Client(tls) as c, pytest.raises(ConnectError, match=r"TLS handshake with 127\.0\.0\.1"):
        c.echo()
    nowhere = SiteConfig("no-such-host.invalid", "k", Secret("s"), "t", Secret("ts"))
    with Client(nowhere) as c, pytest.raises(ConnectError, match="DNS lookup of no-such-host"):
        c.echo()


@pytest.mark.parametrize("domain", ["127.0.0.1:99999", "bad host.example"])
def test_a_url_that_can_never_work_is_not_a_transport_fault(tmp_path: Path, domain: str) -> None:
    """requests' InvalidURL is not the network failing: retrying cannot help, so it is an
    InvalidRequest (never retried, stops the run) naming the settings to check."""
    site = SiteConfig(domain, "k", Secret("s-hush"), "t", Secret("ts-hush"), scheme="http")
    with Client(site) as c:
        for attempt in (
            lambda: c.echo(),
            lambda: c.photo_upload(FileSlice(media(tmp_path)), {"title": "x"}),
        ):
            with pytest.raises(SyncdError) as info:
                attempt()
            error = info.value
            assert isinstance(error, InvalidRequest), repr(error)
            assert not isinstance(error, TransportError)
            assert not error.retryable and error.stops_run
            assert "site.domain" in error.message and "hush" not in error.message


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_call_is_one_request_even_on_a_transient_fault(
    sandbox: Sandbox, client: Client, status: int
) -> None:
    """The client retries nothing (one retry engine, syncd/retry.py, decides): a transient
    fault is raised as retryable after exactly one request, and the next call goes through."""
    sandbox.faults.add(method="photo/list", count=1, status=status, retry_after=0)
    with pytest.raises(SyncdError) as info:
        client.call("photo/list")
    assert info.value.retryable
    assert sandbox.count_requests("photo/list") == 1
    assert client.call("photo/list")["status"] == "ok"
    assert sandbox.count_requests("photo/list") == 2
    # Issue 11 removed `call(retries=)`: a second retry loop must not come back.
    assert "retries" not in inspect.signature(Client.call).parameters


def test_large_upload_streams_in_blocks(sandbox: Sandbox, tmp_path: Path) -> None:
    size = 64 * MIB
    path = sparse(tmp_path, "big.mp4", size)
    blocks: list[int] = []
    with Client(site_for(sandbox)) as c:
        c.photo_upload(FileSlice(path, on_read=blocks.append), {"title": "big"})
    assert sum(blocks) == size
    assert len(blocks) >= size // (4 * MIB)  # never the whole file at once
    assert max(blocks) <= 4 * MIB
    # urllib3's default 16 KiB blocks would give thousands of tiny reads; ours are ~1 MiB.
    assert max(blocks) >= BLOCKSIZE // 2
    (item,) = sandbox.items()
    assert item["size"] == size
