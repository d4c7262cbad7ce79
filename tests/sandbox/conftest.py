"""The sandbox's own tests describe its default answers: every sandbox they start (the
`sandbox` fixture, direct constructions, `python -m syncd.sandbox` children) uses the
default profile whatever $SYNCD_SANDBOX_PROFILE says. test_sb_profile.py covers the
strict profile and each switch explicitly."""

from __future__ import annotations

import pytest

from syncd.sandbox.profile import PROFILE_ENV


@pytest.fixture(autouse=True)
def default_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "default")
