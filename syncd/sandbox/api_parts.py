"""API methods on the parts of an item: its sections (chapters) and coordinates.

Read from the per-method pages (photo-section-{create,list,update,delete}.md,
photo-coordinate-{add,delete}.md). Where they leave something open, every profile takes
the reading least helpful to a client:

- section/create, update and delete, coordinate/add and delete answer only a message and
  `"photo": {}`, as the pages' examples do: no section_id for a created section. A
  client learns ids from photo/section/list, which requires the item's `token`.
- `title` and `description` are marked required by section/create: both must be given
  (the description may be empty). section/update requires `title`; an omitted
  `description` becomes "" (its documented default); an omitted `start_time` is kept.
- `start_time` is 0 or more and at most the video's length (the pages), checked where
  the sandbox knows the length (`Sandbox.set_video_length`); fractions are kept.
- An unknown `section_id`, or deleting a coordinate the item does not have, is
  `invalid_input`: error-codes.md has no "no such section" or "no such coordinate".
- An item keeps any number of coordinates ("You can add multiple coordinates");
  coordinate/delete removes one whose latitude and longitude match (to 7 decimals).
"""

from __future__ import annotations

import hashlib
from typing import Any

from syncd.sandbox.call import Call, api_method
from syncd.sandbox.envelope import ApiError, Payload
from syncd.sandbox.items import get_item, slug, strip_html
from syncd.sandbox.state import Record

# Largest start time or frame time accepted where the video's length is unknown.
MAX_SECONDS = 1e7
# Coordinates compare equal to 7 decimals (about a centimetre).
COORDINATE_DIGITS = 7


def coordinates_of(item: Record) -> list[list[float]]:
    """An item's coordinates as a list of [latitude, longitude] (older sandbox data kept
    one pair, or None)."""
    value = item.get("coordinates")
    if not value:
        return []
    if all(isinstance(v, int | float) for v in value):
        return [[float(value[0]), float(value[1])]]
    return [[float(a), float(b)] for a, b in value]


def check_time(item: Record, seconds: float, name: str) -> None:
    """A time in the video must not be past its end (when the length is known)."""
    length = item.get("video_length")
    if length is not None and seconds > float(length):
        raise ApiError(
            "invalid_input",
            f"parameter {name!r} ({seconds:g} s) is beyond the end of the video ({length:g} s)",
        )


def _start(call: Call, item: Record) -> float | None:
    start = call.float_param("start_time", 0, MAX_SECONDS)
    if start is not None:
        check_time(item, start, "start_time")
    return start


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _section(item: Record, call: Call) -> Record:
    raw = call.require("section_id")
    for section in item["sections"]:
        if str(section["section_id"]) == raw:
            return section
    raise ApiError("invalid_input", f"photo {item['photo_id']} has no section {raw!r}")


def _done(message: str) -> Payload:
    return Payload("photo", {}, extra={"message": message})


@api_method("photo/section/list", "none")
def section_list(call: Call) -> Payload:
    item = get_item(call.state, call.get("photo_id"))
    if call.require("token") != item["token"]:
        raise ApiError("invalid_photo_token", "the token does not match the photo")
    pid = item["photo_id"]
    sections = sorted(item["sections"], key=lambda s: (s["start_time"], s["section_id"]))
    rows: list[dict[str, Any]] = [
        {
            "section_id": s["section_id"],
            "start_time": _number(s["start_time"]),
            "title": s["title"],
            "description": s["description"],
            "link": f"/video/{pid}/{s['section_id']}/{slug(s['title'])}",
        }
        for s in sections
    ]
    return Payload("sections", rows, "section", (1, max(1, len(rows)), len(rows)))


@api_method("photo/section/create", "write")
def section_create(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        title = strip_html(call.require("title"))
        if call.get("description") is None:
            raise ApiError("invalid_input", "parameter 'description' is required")
        start = _start(call, item)
        item["sections"].append(
            {
                "section_id": call.state.next_id("object_id"),
                "title": title,
                "description": call.get("description") or "",
                "start_time": start or 0.0,
            }
        )
        call.state.put("items", item["photo_id"], item)
    return _done("The section was created")


@api_method("photo/section/update", "write")
def section_update(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        section = _section(item, call)
        section["title"] = strip_html(call.require("title"))
        section["description"] = call.get("description") or ""
        start = _start(call, item)
        if start is not None:
            section["start_time"] = start
        call.state.put("items", item["photo_id"], item)
    return _done("The section was updated")


@api_method("photo/section/delete", "write")
def section_delete(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        section = _section(item, call)
        item["sections"] = [s for s in item["sections"] if s is not section]
        call.state.put("items", item["photo_id"], item)
    return _done("The section was deleted")


@api_method("photo/coordinate/add", "write")
def coordinate_add(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        lat = call.float_param("latitude", -90, 90)
        lon = call.float_param("longitude", -180, 180)
        if lat is None or lon is None:
            if (lat is None) != (lon is None):
                raise ApiError("invalid_input", "latitude must be used along with longitude")
            place = call.get("search_string")
            if not place:
                raise ApiError("invalid_input", "give latitude and longitude, or search_string")
            lat, lon = _geocode(place)
        item["coordinates"] = [*coordinates_of(item), [lat, lon]]
        call.state.put("items", item["photo_id"], item)
    return _done("The coordinate was added")


def _geocode(place: str) -> tuple[float, float]:
    """A stable fake geocoder: the same text always lands on the same spot."""
    h = int(hashlib.sha256(place.encode()).hexdigest()[:8], 16) % 10**6
    return (h % 1800) / 10 - 90, (h // 1800 % 3600) / 10 - 180


@api_method("photo/coordinate/delete", "write")
def coordinate_delete(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        call.require("latitude")
        call.require("longitude")
        lat = call.float_param("latitude", -90, 90)
        lon = call.float_param("longitude", -180, 180)
        assert lat is not None and lon is not None
        coords = coordinates_of(item)
        for i, (a, b) in enumerate(coords):
            if _same(a, lat) and _same(b, lon):
                del coords[i]
                break
        else:
            raise ApiError(
                "invalid_input", f"photo {item['photo_id']} has no coordinate {lat:g},{lon:g}"
            )
        item["coordinates"] = coords
        call.state.put("items", item["photo_id"], item)
    return _done("The coordinate was deleted")


def _same(a: float, b: float) -> bool:
    return round(a, COORDINATE_DIGITS) == round(b, COORDINATE_DIGITS)
