"""YAML sidecars: the JSON sidecar's keys, written as YAML.

PyYAML's safe loader (no Python objects, ever), with its plain-scalar rules narrowed
to YAML 1.2's core schema. YAML 1.1, which `yaml.safe_load` follows, would read
`tags: [NO, SE]` as `[False, "SE"]`, `publish: yes` as a boolean, `start: 1:30` as the
number 90 and `publish_date: 2024-05-31` as a date object; here they stay the text they
look like, and validation then judges them exactly as it judges JSON: only
`true`/`false` are booleans, only plain decimal numbers are numbers. Anchors and
aliases, explicit tags (`!!timestamp`, `!!python/...`), non-text keys and keys given
twice are refused with the line they are on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark, MarkedYAMLError, YAMLError
from yaml.nodes import MappingNode, Node
from yaml.reader import ReaderError

from syncd.errors import SidecarError
from syncd.metadata.sidecar.fields import describe_type

_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"


class _Refused(Exception):
    """A construct sidecars do not accept, at a place in the file."""

    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and no aliases, tags or duplicates."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # PyYAML's per-class registry

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                "aliases (*name) are not accepted in a sidecar; write the value out",
                event.start_mark,
            )
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            shown = tag.replace(_STANDARD_TAG_PREFIX, "!!")
            raise _Refused(
                f"YAML tags ({shown}) are not accepted in a sidecar; write a plain value",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Refused(f"keys must be text, got {describe_type(key)}", key_node.start_mark)
            if key in mapping:
                raise _Refused(f"{key}: given twice", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_CORE_SCALARS: list[tuple[str, str, str]] = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    # Decimal only: "017" stays text (YAML 1.1 would read octal 15), so do "1_000", "0x1F".
    ("int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    (
        "float",
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$",
        "-+0123456789.",
    ),
]
for _kind, _pattern, _first in _CORE_SCALARS:
    StrictSafeLoader.add_implicit_resolver(
        f"{_STANDARD_TAG_PREFIX}{_kind}", re.compile(_pattern), list(_first)
    )
# The empty plain scalar (`key:` with nothing after it) is null, as in every YAML.
StrictSafeLoader.add_implicit_resolver(f"{_STANDARD_TAG_PREFIX}null", re.compile(r"^$"), [""])


def load_yaml(path: Path, text: str) -> dict[str, Any]:
    """The mapping in `text` (a YAML sidecar's content); SidecarError naming the line."""
    try:
        data = yaml.load(text, Loader=StrictSafeLoader)  # a SafeLoader subclass: safe
    except _Refused as exc:
        raise SidecarError(f"{path}: {exc.message}{_at(exc.mark)}") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ", ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise SidecarError(f"{path}: invalid YAML{where}: {problem}") from None
    except ReaderError as exc:  # a control character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SidecarError(
            f"{path}: invalid YAML at line {line}: the control character U+{char:04X} "
            "is not allowed"
        ) from None
    except YAMLError as exc:
        raise SidecarError(f"{path}: invalid YAML: {exc}") from None
    if data is None:  # an empty file, or only comments: nothing set
        return {}
    if not isinstance(data, dict):
        raise SidecarError(
            f"{path}: expected a YAML mapping (key: value lines), got {describe_type(data)}"
        )
    return data


def _at(mark: Mark | None) -> str:
    return f" (line {mark.line + 1})" if mark is not None else ""
