"""The session's User-Agent names the syncd release, from the one place the version lives."""

from __future__ import annotations

import tomllib
from pathlib import Path

import syncd
from syncd.api.session import USER_AGENT, make_session

REPO = Path(__file__).resolve().parents[2]


def test_user_agent_names_this_release() -> None:
    session = make_session("http://127.0.0.1:8023")
    try:
        assert session.headers["User-Agent"] == USER_AGENT == f"syncd/{syncd.__version__}"
    finally:
        session.close()


def test_the_package_version_is_read_from_syncd() -> None:
    # One place for the version: what pip installs is what the User-Agent says.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "syncd.__version__"}
