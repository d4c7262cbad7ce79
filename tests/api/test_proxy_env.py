"""Proxy settings from the environment are honoured (read once per session), by form calls
and by uploads, which take their own path to the session's adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.api.body import FileSlice
from syncd.api.client import Client
from syncd.config import load_config
from syncd.errors import TransportError
from syncd.sandbox import Sandbox


def _client(config_path: str) -> Client:
    return Client(load_config(config_path).site, connect_timeout=2, read_timeout=5)


def _echo(client: Client, tmp: Path) -> None:
    client.echo(probe="1")


def _upload(client: Client, tmp: Path) -> None:
    media = tmp / "clip.mp4"
    media.write_bytes(b"proxy test bytes")
    client.photo_upload(FileSlice(media), {"title": "through the proxy settings"})


CALLS: dict[str, Callable[[Client, Path], None]] = {"echo": _echo, "photo/upload": _upload}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_http_proxy_from_environment_is_used(
    sandbox: Sandbox,
    sandbox_config: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    method: str,
) -> None:
    # Port 9 (discard) on loopback refuses: the request must try the proxy and fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with _client(sandbox_config) as client, pytest.raises(TransportError):
        CALLS[method](client, tmp_path)
    assert sandbox.count_requests(method) == 0


@pytest.mark.parametrize("method", sorted(CALLS))
def test_no_proxy_from_environment_is_used(
    sandbox: Sandbox,
    sandbox_config: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    method: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with _client(sandbox_config) as client:
        CALLS[method](client, tmp_path)
    assert sandbox.count_requests(method) == 1
