"""The import contracts (pyproject.toml, checked by lint-imports) cover every module.

A forbidden contract lists modules by name, so a new top-level module is allowed until
someone adds it. Each contract's exceptions are stated here; everything else must be in
its forbidden list.
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

import syncd

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Source modules of each forbidden contract -> the syncd modules they may import.
ALLOWED: dict[frozenset[str], frozenset[str]] = {
    frozenset({"syncd.sandbox"}): frozenset(),
    frozenset({"syncd.plan"}): frozenset({"syncd.model", "syncd.errors"}),
    frozenset({"syncd.service"}): frozenset(
        {"syncd.clock", "syncd.config", "syncd.errors", "syncd.model", "syncd.text"}
    ),
    frozenset(
        {
            "syncd.clock",
            "syncd.config",
            "syncd.errors",
            "syncd.model",
            "syncd.progress",
            "syncd.retry",
            "syncd.text",
            "syncd.throttle",
        }
    ): frozenset(),
}


def top_level_modules() -> set[str]:
    return {f"syncd.{m.name}" for m in pkgutil.iter_modules(syncd.__path__)}


def forbidden_contracts() -> list[dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return [c for c in config["contracts"] if c["type"] == "forbidden"]


def test_the_package_is_what_the_contracts_assume() -> None:
    # A sanity check on the walk itself: an empty or partial list would prove nothing.
    modules = top_level_modules()
    assert {"syncd.sandbox", "syncd.index", "syncd.reconcile", "syncd.plan"} <= modules
    assert len(modules) > 20


def test_every_forbidden_contract_has_its_exceptions_stated_here() -> None:
    sources = [frozenset(c["source_modules"]) for c in forbidden_contracts()]
    assert sorted(map(sorted, sources)) == sorted(map(sorted, ALLOWED))


@pytest.mark.parametrize("contract", forbidden_contracts(), ids=lambda c: c["name"][:40])
def test_a_forbidden_contract_lists_every_other_module(contract: dict[str, Any]) -> None:
    sources = frozenset(contract["source_modules"])
    expected = top_level_modules() - sources - ALLOWED[sources]
    listed = set(contract["forbidden_modules"])
    assert sorted(expected - listed) == [], "missing from the forbidden list"
    assert sorted(listed - expected) == [], "listed, but allowed or not a module"
