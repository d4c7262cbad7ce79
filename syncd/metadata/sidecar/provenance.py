"""Where each value of a file's metadata came from: the config, a folder-defaults file, a
per-file sidecar (and its format), or syncd's own default. `syncd metadata PATH` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# The Metadata fields a layer sets one value for (tags and custom are per item).
SCALAR_FIELDS = (
    "title",
    "description",
    "albums",
    "publish",
    "publish_date",
    "chapters",
    "coordinates",
    "thumbnail",
)


class SourceKind(StrEnum):
    CONFIG = "config"
    FOLDER = "folder defaults"
    SIDECAR = "sidecar"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Source:
    """One origin. `path` is the file (the config, a `.syncd.*`, a sidecar); `detail` says
    which part of it (`[[watch]] tags`) or, for a default, what it was made from."""

    kind: SourceKind
    path: str | None = None
    format: str | None = None  # "json" | "yaml" | "xmp" for folder defaults and sidecars
    detail: str | None = None

    def __str__(self) -> str:
        if self.kind is SourceKind.CONFIG:
            where = f" {self.path}" if self.path else ""
            return f"config{where}: {self.detail}" if self.detail else f"config{where}"
        if self.kind is SourceKind.DEFAULT:
            return f"default: {self.detail}" if self.detail else "default"
        return f"{self.path} ({self.kind.value}, {self.format})"

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind.value}
        for name in ("path", "format", "detail"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Provenance:
    """Source of each set value: `fields` by Metadata field name, `tags` by tag, `custom`
    by variable. A field no layer set (and no default filled) has no entry."""

    fields: Mapping[str, Source] = field(default_factory=dict)
    tags: Mapping[str, Source] = field(default_factory=dict)
    custom: Mapping[str, Source] = field(default_factory=dict)


class LayerLike(Protocol):
    """What a validated layer tells provenance (desired._Layer has these)."""

    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def custom(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def replace_tags(self) -> bool: ...


class SourceTracker:
    """Follows the layering: each `record` mirrors what desired._apply does to the values."""

    def __init__(self, base: Provenance | None = None) -> None:
        base = base or Provenance()
        self.fields = dict(base.fields)
        self.tags = dict(base.tags)
        self.custom = dict(base.custom)

    def record(self, layer: LayerLike, source: Source) -> None:
        for name in SCALAR_FIELDS:
            if getattr(layer, name) is not None:
                self.fields[name] = source
        if layer.replace_tags:
            self.tags = {}
        for tag in layer.tags:
            self.tags.setdefault(tag, source)  # a tag is from where it first appeared
        for variable, _value in layer.custom:
            self.custom[variable] = source

    def set_field(self, name: str, source: Source) -> None:
        self.fields[name] = source

    def result(self) -> Provenance:
        return Provenance(fields=dict(self.fields), tags=dict(self.tags), custom=dict(self.custom))
