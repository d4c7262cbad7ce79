"""The session's User-Agent names the syncd release, from the one place the version lives."""

from __future__ import annotations

from importlib.metadata import version

import syncd
from syncd.api.session import USER_AGENT, make_session


def test_user_agent_names_this_release() -> None:
    session = make_session("http://127.0.0.1:8023")
    try:
        assert session.headers["User-Agent"] == USER_AGENT == f"syncd/{syncd.__version__}"
    finally:
        session.close()


def test_package_metadata_takes_its_version_from_syncd() -> None:
    assert version("syncd") == syncd.__version__
