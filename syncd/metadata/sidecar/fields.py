"""Validation of the vocabulary keys for chapters, coordinates and the thumbnail.

Shared by every sidecar format (the readers hand over plain values, as JSON would give
them), so a mistake reads the same whether it was made in JSON, YAML or XMP.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.errors import SidecarError
from syncd.model import Chapter, Coordinates, Thumbnail

# Builds the error for (key, problem) in the file being validated.
Err = Callable[[str, str], SidecarError]

# "HH:MM:SS" or "MM:SS", seconds may carry a fraction ("00:01:30.5").
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d{2}(?:\.\d+)?)")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
CHAPTER_KEYS = frozenset({"start", "title", "description"})
COORDINATE_KEYS = frozenset({"latitude", "longitude"})
# Images photo/replace takes as a thumbnail.
THUMBNAIL_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
# Media the site keeps as a photo or as audio: the scan's image and audio extensions
# (syncd.local.scan, which this package may not import; a test keeps them equal). Such an
# item has no frame to pick, and photo/replace with an image would swap the item's own file.
NOT_VIDEO_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "gif", "tif", "tiff", "heic", "webp", "bmp"}
    | {"mp3", "m4a", "aac", "wav", "flac", "ogg", "oga", "opus", "wma", "aif", "aiff"}
)
# The largest thumbnail image read (hashed when the metadata is read, sent by photo/replace):
# a poster frame is a few MiB at most.
MAX_THUMBNAIL_BYTES = 16 * 1024 * 1024
# Coordinates are kept to 7 decimals (about a centimetre): enough for any camera, and
# the same place given as degrees-minutes or as decimals compares equal.
COORDINATE_DECIMALS = 7


def describe_type(value: Any) -> str:
    """A value's type as JSON names it, for messages ("got number 5")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_time(err: Err, key: str, value: Any) -> float:
    """Seconds from a number, or from "HH:MM:SS" / "MM:SS" / "90" text."""
    if _is_number(value):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        clock = _CLOCK.fullmatch(text)
        if clock:
            hours, minutes, secs = clock.groups()
            if float(secs) >= 60 or (hours is not None and int(minutes) >= 60):
                raise err(key, f"{value!r}: minutes and seconds must be below 60")
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        elif _SECONDS.fullmatch(text):
            seconds = float(text)
        else:
            raise err(key, f"{value!r} is not a time (HH:MM:SS, MM:SS, or seconds)")
    else:
        raise err(key, f"expected a time (HH:MM:SS, MM:SS, or seconds), got {describe_type(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise err(key, f"{value!r} is not a time of 0 seconds or more")
    return seconds


def format_time(seconds: float) -> str:
    """`90.5` -> "00:01:30.5": how chapter starts and thumbnail times are shown."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    fraction = f".{millis:03d}".rstrip("0").rstrip(".")
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}{fraction}"


def _is_time_text(text: str) -> bool:
    return bool(_CLOCK.fullmatch(text) or _SECONDS.fullmatch(text))


def _text(err: Err, key: str, value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise err(key, f"expected a string, got {describe_type(value)}")
    value = value.strip()
    if required and not value:
        raise err(key, "must not be empty")
    return value or None


def chapters(err: Err, value: Any) -> tuple[Chapter, ...]:
    """A list of {start, title, description?}: sorted by start, starts unique."""
    if not isinstance(value, list):
        raise err("chapters", f"expected an array of chapters, got {describe_type(value)}")
    found: list[Chapter] = []
    where: dict[float, int] = {}
    for i, item in enumerate(value):
        key = f"chapters[{i}]"
        if not isinstance(item, dict):
            raise err(key, f"expected an object {{start, title}}, got {describe_type(item)}")
        for name in item:
            if name not in CHAPTER_KEYS:
                known = ", ".join(sorted(CHAPTER_KEYS))
                raise err(f"{key}.{name}", f"unknown key; known keys: {known}")
        for name in ("start", "title"):
            if name not in item:
                raise err(key, f"{name} is required")
        start = parse_time(err, f"{key}.start", item["start"])
        if start in where:
            raise err(key, f"starts at {format_time(start)}, as chapters[{where[start]}] does")
        where[start] = i
        title = _text(err, f"{key}.title", item["title"], required=True)
        assert title is not None
        description = _text(err, f"{key}.description", item.get("description"), required=False)
        found.append(Chapter(start=start, title=title, description=description))
    return tuple(sorted(found, key=lambda c: c.start))


def coordinates(err: Err, value: Any) -> Coordinates:
    """{latitude, longitude} in degrees, range-checked."""
    if not isinstance(value, dict):
        raise err(
            "coordinates", f"expected an object {{latitude, longitude}}, got {describe_type(value)}"
        )
    for name in value:
        if name not in COORDINATE_KEYS:
            raise err(f"coordinates.{name}", "unknown key; known keys: latitude, longitude")
    degrees = {}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        key = f"coordinates.{name}"
        if name not in value:
            raise err("coordinates", f"{name} is required")
        number = value[name]
        if not _is_number(number):
            raise err(key, f"expected a number of degrees, got {describe_type(number)}")
        if not -limit <= number <= limit:
            raise err(key, f"{number!r} is out of range (-{limit} to {limit} degrees)")
        degrees[name] = round(float(number), COORDINATE_DECIMALS)
    return Coordinates(latitude=degrees["latitude"], longitude=degrees["longitude"])


def thumbnail(err: Err, value: Any, folder: Path | None) -> Thumbnail:
    """A time (seconds, or "HH:MM:SS"/"MM:SS"), or an image file's name in `folder`.

    `folder` is None for folder defaults, where only a time makes sense (an image is
    one file's own).
    """
    if _is_number(value) or (isinstance(value, str) and _is_time_text(value.strip())):
        return Thumbnail(time=parse_time(err, "thumbnail", value))
    if not isinstance(value, str):
        raise err(
            "thumbnail",
            f"expected a time in seconds or an image file name, got {describe_type(value)}",
        )
    name = value.strip()
    if folder is None:
        raise err("thumbnail", "an image is per file: name it in the file's own sidecar")
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise err("thumbnail", f"{value!r}: give the name of an image next to the media file")
    if Path(name).suffix.lower() not in THUMBNAIL_IMAGE_SUFFIXES:
        kinds = ", ".join(sorted(THUMBNAIL_IMAGE_SUFFIXES))
        raise err("thumbnail", f"{name!r} is neither a time nor an image file ({kinds})")
    if not (folder / name).is_file():
        raise err("thumbnail", f"{name!r}: no such file in {folder}")
    return Thumbnail(file=name)
