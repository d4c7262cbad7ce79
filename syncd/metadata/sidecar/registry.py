"""The sidecar formats and the file names each one uses.

A media file `clip.mp4` may be described by `clip.mp4.<suffix>` or `clip.<suffix>` for
each format's suffixes; a folder by its `.syncd.<suffix>` folder-defaults file (JSON and
YAML only: no tool writes folder-wide XMP).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from syncd.config import SIDECAR_FORMATS

# A hand-written JSON or YAML sidecar is a few hundred bytes; 1 MiB is room for a
# description the size of a novel while keeping a stray large file from being parsed.
TEXT_SIDECAR_CAP = 1024 * 1024
# Lightroom and darktable keep their edit history in the XMP (masks, tone curves,
# base64 blobs): megabytes are normal there. Parsing 16 MiB of XML costs well under a
# second and ~10x that in memory, which a worker can afford.
XMP_SIDECAR_CAP = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SidecarFormat:
    name: str  # as in `[metadata] sidecar_order`
    suffixes: tuple[str, ...]  # per-file sidecar suffixes, preferred first
    folder_names: tuple[str, ...]  # folder-defaults file names
    cap: int  # largest file read, bytes


JSON = SidecarFormat("json", (".json",), (".syncd.json",), TEXT_SIDECAR_CAP)
YAML = SidecarFormat("yaml", (".yaml", ".yml"), (".syncd.yaml", ".syncd.yml"), TEXT_SIDECAR_CAP)
XMP = SidecarFormat("xmp", (".xmp",), (), XMP_SIDECAR_CAP)
FORMATS: tuple[SidecarFormat, ...] = (JSON, YAML, XMP)
BY_NAME = {f.name: f for f in FORMATS}
assert tuple(BY_NAME) == SIDECAR_FORMATS, "config.SIDECAR_FORMATS and FORMATS disagree"


def per_file_candidates(media_path: Path) -> list[tuple[SidecarFormat, Path]]:
    """Every per-file sidecar name `media_path` could have: `<name>.<suffix>` before
    `<stem>.<suffix>`, format by format."""
    found: list[tuple[SidecarFormat, Path]] = []
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            found.append((fmt, media_path.with_name(media_path.name + suffix)))
        for suffix in fmt.suffixes:
            by_stem = media_path.with_name(media_path.stem + suffix)
            if all(by_stem != path for _, path in found):  # a name without a suffix
                found.append((fmt, by_stem))
    return found


def folder_candidates(folder: Path) -> list[tuple[SidecarFormat, Path]]:
    """Every folder-defaults file name in `folder`."""
    return [(fmt, folder / name) for fmt in FORMATS for name in fmt.folder_names]


def format_of(path: Path) -> SidecarFormat | None:
    """The format of a sidecar or folder-defaults file, by its suffix (any case)."""
    lower = path.name.lower()
    for fmt in FORMATS:
        if any(lower.endswith(suffix) for suffix in fmt.suffixes):
            return fmt
    return None
