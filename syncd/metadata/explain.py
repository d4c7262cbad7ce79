"""What `syncd metadata PATH` shows: a file's desired metadata and where each value came
from, as text lines or as a JSON-ready dict. No I/O here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncd.metadata.sidecar.fields import format_time
from syncd.metadata.sidecar.provenance import Provenance, Source
from syncd.model import Metadata
from syncd.text import printable

# The value column is padded to the longest value up to this width; longer ones push
# their source further right rather than wrap.
VALUE_COLUMN_MAX = 40


def metadata_dict(meta: Metadata) -> dict[str, Any]:
    """Metadata as plain JSON values; unset optional fields are null."""
    return {
        "title": meta.title,
        "description": meta.description,
        "tags": list(meta.tags),
        "albums": list(meta.albums),
        "publish": meta.publish,
        "publish_date": meta.publish_date,
        "custom": dict(meta.custom),
        "chapters": (
            None
            if meta.chapters is None
            else [
                {"start": c.start, "title": c.title, "description": c.description}
                for c in meta.chapters
            ]
        ),
        "coordinates": (
            None
            if meta.coordinates is None
            else {"latitude": meta.coordinates.latitude, "longitude": meta.coordinates.longitude}
        ),
        "thumbnail": (
            None
            if meta.thumbnail is None
            else {"time": meta.thumbnail.time, "file": meta.thumbnail.file}
        ),
    }


def explain_dict(path: Path, root: Path, meta: Metadata, sources: Provenance) -> dict[str, Any]:
    """`syncd metadata --json`: the metadata, each value's source, and the digest."""
    return {
        "path": str(path),
        "root": str(root),
        "metadata": metadata_dict(meta),
        "sources": {
            **{
                name: sources.fields[name].as_dict()
                for name in metadata_dict(meta)
                if name in sources.fields
            },
            "tags": {tag: src.as_dict() for tag, src in sources.tags.items()},
            "custom": {name: src.as_dict() for name, src in sources.custom.items()},
        },
        "digest": meta.digest(),
    }


def explain_lines(path: Path, root: Path, meta: Metadata, sources: Provenance) -> list[str]:
    """`syncd metadata`: one line per value, `<field> <value>  <- <source>`."""
    rows: list[tuple[str, str, Source | None]] = []

    def field(name: str, value: str | None) -> None:
        rows.append((name, "(not set)" if value is None else value, sources.fields.get(name)))

    field("title", _quoted(meta.title))
    field("description", _quoted(meta.description))
    _items(rows, "tags", [(_q(t), sources.tags.get(t)) for t in meta.tags])
    if meta.albums:
        albums = ", ".join(_q(a) for a in meta.albums)
        rows.append(("albums", albums, sources.fields.get("albums")))
    else:
        field("albums", None if "albums" not in sources.fields else "(none)")
    field("publish", "true" if meta.publish else "false")
    field("publish_date", meta.publish_date)
    custom = [
        (f"{name} = {_quoted(value)}", sources.custom.get(name)) for name, value in meta.custom
    ]
    _items(rows, "custom", custom)
    if meta.chapters is None:
        field("chapters", None)
    elif not meta.chapters:
        field("chapters", "(none)")
    else:
        source = sources.fields.get("chapters")
        _items(rows, "chapters", [(_chapter(c.start, c.title), source) for c in meta.chapters])
    coords = meta.coordinates
    field("coordinates", None if coords is None else f"{coords.latitude}, {coords.longitude}")
    thumb = meta.thumbnail
    if thumb is None:
        field("thumbnail", None)
    elif thumb.time is not None:
        field("thumbnail", f"frame at {format_time(thumb.time)}")
    else:
        field("thumbnail", f"image {_quoted(thumb.file)}")

    width = min(VALUE_COLUMN_MAX, max(len(value) for _, value, _ in rows))
    lines = [f"file: {printable(str(path))}", f"root: {printable(str(root))}"]
    for label, value, source in rows:
        head = f"{label + ':' if label else '':<14}{printable(value)}"
        if source is None:
            lines.append(head.rstrip())
        else:
            lines.append(f"{head:<{14 + width}}  <- {printable(str(source))}")
    lines.append(f"digest: {meta.digest()}")
    return lines


def _items(
    rows: list[tuple[str, str, Source | None]], label: str, items: list[tuple[str, Source | None]]
) -> None:
    if not items:
        rows.append((label, "(none)", None))
    for i, (value, source) in enumerate(items):
        rows.append((label if i == 0 else "", value, source))


def _q(text: str) -> str:
    # JSON quoting shows newlines, quotes and control characters as escapes, on one line.
    return json.dumps(text, ensure_ascii=False)


def _quoted(text: str | None) -> str | None:
    return None if text is None else _q(text)


def _chapter(start: float, title: str) -> str:
    return f"{format_time(start)} {_q(title)}"
