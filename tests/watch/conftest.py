"""The watch tests use the pipeline tests' helpers (real subprocesses, sandbox inspection)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """The folder a test's daemon watches."""
    root = tmp_path / "archive"
    root.mkdir()
    return root
