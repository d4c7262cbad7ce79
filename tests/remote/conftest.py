"""Fixtures for the remote side: a site config for the sandbox, and a spy on the sandbox's
list methods that records each call's permission level and can act between requests.

The spy wraps the sandbox's own handlers (the real listing still answers); it lets a test
change the site at an exact point of a walk (before page 3 is answered, say) instead of
racing it, and makes the sandbox answer the documented, stricter shapes: list items
without tags, `no_such_tag` for a tag nobody uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.config import SiteConfig, load_config
from syncd.sandbox import Sandbox
from syncd.sandbox.call import METHODS, Call, MethodSpec
from syncd.sandbox.envelope import ApiError, Payload

SPIED = ("photo/list", "album/list")
# How long a hook waits for another request's answer before it gives up (a safety net
# against a hang if the walk never sends that request; never reached when it works).
HOOK_WAIT_SECONDS = 30.0

Hook = Callable[[str, dict[str, str]], None]


@dataclass
class ListSpy:
    """What the sandbox's list methods were asked, and what to do around each answer."""

    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    before: Hook | None = None  # runs before the listing is computed
    after: Hook | None = None  # runs after it was computed, before it is sent
    documented_shape: bool = True  # list items without `tags` and `album_ids`
    no_such_tag: bool = True  # a tag filter matching no tag in use is an error
    ignore_filters: frozenset[str] = frozenset()  # parameters dropped, as a careless site

    def photo_lists(self, **match: str) -> list[dict[str, str]]:
        return [
            params
            for name, _, params in self.calls
            if name == "photo/list" and all(params.get(k) == v for k, v in match.items())
        ]


@pytest.fixture
def site(sandbox: Sandbox, tmp_path: Path) -> SiteConfig:
    config = load_config(sandbox.write_config(tmp_path / "syncd.toml"))
    return config.site


@pytest.fixture
def spy(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> ListSpy:
    spy = ListSpy()
    lock = threading.Lock()
    for name in SPIED:
        original = METHODS[name]

        def handler(call: Call, _name: str = name, _orig: MethodSpec = original) -> Any:
            for dropped in spy.ignore_filters:
                call.params.pop(dropped, None)
            params = dict(call.params)
            with lock:
                spy.calls.append((_name, call.level, params))
            if spy.before is not None:
                spy.before(_name, params)
            if _name == "photo/list" and spy.no_such_tag and params.get("tags"):
                _refuse_unused_tags(call)
            result = _orig.handler(call)
            if spy.after is not None:
                spy.after(_name, params)
            if spy.documented_shape and isinstance(result, Payload) and _name == "photo/list":
                for item in result.value:
                    item.pop("tags", None)
                    item.pop("album_ids", None)
            return result

        monkeypatch.setitem(METHODS, name, MethodSpec(name, handler, original.level))
    return spy


def _refuse_unused_tags(call: Call) -> None:
    """The documented error for a tag filter naming a tag no item carries."""
    used = {tag for item in call.state.values("items") for tag in item["tags"]}
    if not set(call.tags() or []) <= used:
        raise ApiError("no_such_tag", "This tag isn't being used on the site.")


@pytest.fixture
def page_events() -> Iterator[dict[tuple[str, str], threading.Event]]:
    """Events a hook can set and wait on, keyed by (order, p)."""
    events: dict[tuple[str, str], threading.Event] = {}
    yield events
    for event in events.values():
        event.set()  # release any hook still waiting


def event_for(events: dict[tuple[str, str], threading.Event], key: tuple[str, str]) -> Any:
    return events.setdefault(key, threading.Event())


def wait_for(event: threading.Event, what: str) -> None:
    if not event.wait(HOOK_WAIT_SECONDS):
        raise AssertionError(f"hook: {what} never happened")
