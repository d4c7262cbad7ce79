"""Shared fixtures. The sandbox is the other end of the wire for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox on an ephemeral loopback port, control endpoints on."""
    sb = Sandbox(data_dir=tmp_path / "sandbox-data", control=True, seed=1234)
    sb.start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sandbox_config(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A syncd config file for the sandbox's privileged (super) credentials."""
    path = tmp_path / "syncd.toml"
    sandbox.write_config(path, journal_path=tmp_path / "journal.db")
    return path
