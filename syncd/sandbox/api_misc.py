"""API methods besides items: echo, site/get, user/get, albums, tags."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from syncd.sandbox import creds
from syncd.sandbox.call import USERS, Call, api_method
from syncd.sandbox.envelope import ApiError, Payload
from syncd.sandbox.items import strip_html

# Parameters of the envelope itself, not echoed back.
FORMAT_PARAMS = frozenset({"format", "raw", "varname", "callback"})


def site_info(domain: str, site_id: str) -> dict[str, str]:
    return {
        "site_id": site_id,
        "site_name": "Sandbox",
        "product_key": "sandbox",
        "site_key": "sandbox-site",
        "domain": domain,
        "license_id": "1",
        "allow_signup_p": "0",
    }


@api_method("echo", "none")
def echo(call: Call) -> Payload:
    mirrored = {k: v for k, v in call.params.items() if k not in FORMAT_PARAMS}
    return Payload("echo", mirrored)


@api_method("site/get", "anonymous")
def site_get(call: Call) -> Payload:
    return Payload("site", site_info(call.domain, creds.site_id(call.state)))


@api_method("user/get", "read")
def user_get(call: Call) -> Payload:
    user_id = call.int_param("user_id", call.user_id)
    user = USERS.get(user_id or 0)
    if user is None:
        raise ApiError("no_such_user", f"user {user_id} does not exist")
    return Payload("user", {**user, "email": f"{user['username']}@sandbox.invalid"})


def _album(call: Call) -> dict:
    album_id = call.require("album_id")
    album = call.state.get("albums", album_id) if album_id.isdigit() else None
    if album is None:
        raise ApiError("no_such_album", f"album {album_id} does not exist")
    return album


def _album_view(album: dict, photo_counts: Counter) -> dict:
    return {
        "album_id": album["album_id"],
        "title": album["title"],
        "token": album["token"],
        "hide_p": album["hide_p"],
        "content": album["description"],
        "content_text": strip_html(album["description"]),
        "user_id": album["user_id"],
        "number_of_photos": photo_counts.get(album["album_id"], 0),
    }


@api_method("album/create", "write")
def album_create(call: Call) -> Payload:
    title = strip_html(call.get("title") or "")
    if not title:
        raise ApiError("invalid_input", "parameter 'title' is required")
    user_id = call.int_param("user_id")
    if user_id is not None and call.level != "super":
        raise ApiError("permission_denied", "user_id requires 'super' permission")
    if user_id is not None and user_id not in USERS:
        raise ApiError("no_such_user", f"user {user_id} does not exist")
    album_id = call.state.next_id("album_id")
    album = {
        "album_id": album_id,
        "title": title,
        "description": call.get("description") or "",
        "hide_p": call.flag("hide_p"),
        "token": secrets.token_hex(8),
        "user_id": user_id or call.user_id or 1,
        "created": call.now(),
    }
    call.state.put("albums", album_id, album)
    return Payload("album", {"album_id": album_id, "token": album["token"]})


# album/list orderby values -> album sort key. `creation_date` is the documented name (ties
# broken by album_id, as ids grow with creation); `created` and `album_id` are older
# sandbox spellings kept for callers that use them.
ALBUM_ORDER_KEYS: dict[str, Callable[[dict], Any]] = {
    "title": lambda a: a["title"].lower(),
    "creation_date": lambda a: (a["created"], a["album_id"]),
    "created": lambda a: a["created"],
    "album_id": lambda a: a["album_id"],
}


@api_method("album/list", "none")
def album_list(call: Call) -> Payload:
    p, size = call.page()
    albums = call.state.values("albums")
    counts: Counter = Counter(a for i in call.state.values("items") for a in i["album_ids"])
    if not (call.flag("include_hidden_p") and call.level in ("read", "write", "admin", "super")):
        albums = [a for a in albums if not a["hide_p"]]
    if (album_ids := call.ids("album_id")) is not None:
        albums = [a for a in albums if a["album_id"] in album_ids]
    if (user_id := call.int_param("user_id")) is not None:
        albums = [a for a in albums if a["user_id"] == user_id]
    if (photo_id := call.get("photo_id")) is not None:
        item = call.state.get("items", photo_id) if photo_id.isdigit() else None
        if item is None:
            raise ApiError("no_such_photo", f"photo {photo_id} does not exist")
        albums = [a for a in albums if a["album_id"] in item["album_ids"]]
    if (search := call.get("search")) is not None:
        albums = [a for a in albums if search.lower() in a["title"].lower()]
    orderby = call.get("orderby", "title")
    if orderby not in ALBUM_ORDER_KEYS:
        raise ApiError("invalid_input", f"orderby must be one of {sorted(ALBUM_ORDER_KEYS)}")
    order = call.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ApiError("invalid_input", "parameter 'order' must be 'asc' or 'desc'")
    key = ALBUM_ORDER_KEYS[orderby]
    albums.sort(key=key, reverse=order == "desc")
    page = albums[(p - 1) * size : p * size]
    return Payload(
        "albums", [_album_view(a, counts) for a in page], "album", (p, size, len(albums))
    )


@api_method("album/update", "write")
def album_update(call: Call) -> Payload:
    with call.state.lock:
        album = _album(call)
        if (title := call.get("title")) is not None:
            if not strip_html(title):
                raise ApiError("couldnt_update_album", "an album title cannot be empty")
            album["title"] = strip_html(title)
        if (description := call.get("description")) is not None:
            album["description"] = description
        if call.get("hide_p") not in (None, ""):
            album["hide_p"] = call.flag("hide_p")
        call.state.put("albums", album["album_id"], album)
    return Payload("album", {"album_id": album["album_id"], "token": album["token"]})


@api_method("album/delete", "write")
def album_delete(call: Call) -> Payload:
    with call.state.lock:
        album = _album(call)
        call.state.delete("albums", album["album_id"])
        for item in call.state.values("items"):  # items leave the deleted album
            if album["album_id"] in item["album_ids"]:
                item["album_ids"].remove(album["album_id"])
                call.state.put("items", item["photo_id"], item)
    return Payload("album", {"album_id": album["album_id"]})


@api_method("tag/list", "none")
def tag_list(call: Call) -> Payload:
    p, size = call.page()
    counts: Counter = Counter(t for i in call.state.values("items") for t in i["tags"])
    tags = list(counts.items())
    if call.flag("exclude_machine_tags_p"):
        tags = [(t, c) for t, c in tags if ":" not in t]
    if (search := call.get("search")) is not None:
        tags = [(t, c) for t, c in tags if search.lower() in t.lower()]
    orderby = call.get("orderby", "tag")
    if orderby not in ("tag", "count"):
        raise ApiError("invalid_input", "orderby must be 'tag' or 'count'")
    order = call.get("order", "asc" if orderby == "tag" else "desc")
    if order not in ("asc", "desc"):
        raise ApiError("invalid_input", "parameter 'order' must be 'asc' or 'desc'")
    tags.sort(key=(lambda tc: tc[0]) if orderby == "tag" else (lambda tc: (tc[1], tc[0])))
    if order == "desc":
        tags.reverse()
    page = tags[(p - 1) * size : p * size]
    rows = [{"tag": t, "count": c, "url": f"/tag/{t}"} for t, c in page]
    return Payload("tags", rows, "tag", (p, size, len(tags)))
