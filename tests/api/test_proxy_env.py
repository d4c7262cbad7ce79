"""Proxy settings from the environment are honoured (read once per session)."""

from __future__ import annotations

import pytest

from syncd.api.client import Client
from syncd.config import load_config
from syncd.errors import TransportError
from syncd.sandbox import Sandbox


def _client(config_path: str) -> Client:
    return Client(load_config(config_path).site, connect_timeout=2, read_timeout=5)


def test_http_proxy_from_environment_is_used(
    sandbox: Sandbox, sandbox_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 (discard) on loopback refuses: the request must try the proxy and fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with _client(sandbox_config) as client, pytest.raises(TransportError):
        client.echo(probe="1")
    assert sandbox.count_requests("echo") == 0


def test_no_proxy_from_environment_is_used(
    sandbox: Sandbox, sandbox_config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with _client(sandbox_config) as client:
        client.echo(probe="1")
    assert sandbox.count_requests("echo") == 1
