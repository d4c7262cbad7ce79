"""Shared fixtures. The sandbox is the other end of the wire for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` run first, the longest first (`@pytest.mark.slow(seconds=N)`
    says about how long one takes on an idle machine); the rest keep their order.

    Under `make test` (-n 4 --dist loadgroup) every test without an xdist_group is a work
    unit of its own, dealt to the workers from the front of this order as they come free:
    the long tests start at once, side by side, and the many short ones fill in around
    them, instead of one long test running alone at the end. (Plain `--dist load` would
    hand each worker a block of consecutive tests, all the slow ones to one worker.)"""

    def order(item: pytest.Item) -> tuple[bool, float]:
        slow = item.get_closest_marker("slow")
        return slow is None, -float(slow.kwargs.get("seconds", 0)) if slow else 0.0

    items.sort(key=order)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox on an ephemeral loopback port, control endpoints on. Its profile
    comes from $SYNCD_SANDBOX_PROFILE (default: `default`), so `make test-strict` runs
    every test against the strict answers; a test turns on single switches with
    `sandbox.set_profile(no_such_tag=True)`."""
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


@pytest.fixture
def unread_pipe() -> Iterator[int]:
    """The write end of a pipe whose read end is closed (`... | head -1` after head exits):
    every write to it fails with EPIPE (Python ignores SIGPIPE). Closed after the test."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        yield write_end
    finally:
        os.close(write_end)
