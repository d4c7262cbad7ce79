"""API methods on items: upload, list, update, delete, replace, transcoding, extras."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from syncd.sandbox.api_parts import MAX_SECONDS, check_time
from syncd.sandbox.call import USERS, Call, api_method
from syncd.sandbox.envelope import ApiError, Payload
from syncd.sandbox.items import (
    FORMATS,
    IMAGE_EXTENSIONS,
    check_albums,
    create_item,
    custom_variables,
    get_item,
    kind,
    progress,
    public_view,
    strip_html,
    unsupported,
)
from syncd.sandbox.state import Record

# Longest search text honoured; more is cut (keeps list answers cheap).
MAX_SEARCH_CHARS = 200


# photo/list orderby values -> item sort key.
def _published_at(item: dict[str, Any]) -> float:
    """publish_date is text ("YYYY-MM-DD[ HH:MM:SS]"); items without one sort by creation."""
    text = item.get("publish_date")
    if text:
        try:
            return dt.datetime.fromisoformat(str(text)).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            pass
    return float(item["created"])


ORDER_KEYS = {
    "published": lambda i: (_published_at(i), i["photo_id"]),
    "created": lambda i: (i["created"], i["photo_id"]),
    "uploaded": lambda i: (i["created"], i["photo_id"]),
    "title": lambda i: (i["title"].lower(), i["photo_id"]),
    "views": lambda i: (0, i["photo_id"]),
    "photo_id": lambda i: (i["photo_id"],),
}


def upload_meta(call: Call, *, for_token: bool = False) -> dict[str, Any]:
    """Metadata fields common to photo/upload and photo/get-upload-token."""
    album_ids = call.ids("album_id") or []
    if len(album_ids) > 1 and not for_token:
        album_ids = album_ids[:1]  # photo/upload takes a single album
    check_albums(call.state, album_ids)
    user_id = call.int_param("user_id")
    if user_id is not None:
        if call.level != "super":
            raise ApiError("permission_denied", "user_id requires 'super' permission")
        if user_id not in USERS:
            raise ApiError("no_such_user", f"user {user_id} does not exist")
    return {
        "title": strip_html(call.get("title") or ""),
        "description": call.get("description") or "",
        "tags": call.tags() or [],
        "album_ids": album_ids,
        "publish": call.flag("publish", True),
        "publish_date": call.get("publish_date"),
        "user_id": user_id,
        "custom": custom_variables(call.params),
    }


def refuse_if_unprocessable(call: Call, filename: str) -> None:
    if call.effect is not None and call.effect.error_processing_upload:
        raise ApiError("error_processing_upload", "the file could not be processed (fault)")
    if unsupported(filename):
        raise ApiError("error_processing_upload", f"file type of {filename!r} is not supported")


@api_method("photo/upload", "write")
def photo_upload(call: Call) -> Payload:
    f = call.file()
    meta = upload_meta(call)
    refuse_if_unprocessable(call, f.filename)
    if f.size == 0:
        raise ApiError("error_processing_upload", "the uploaded file is empty")
    item = create_item(
        call.state,
        src=f.path,
        size=f.size,
        sha256=f.sha256,
        filename=f.filename,
        meta=meta,
        created_by="photo/upload",
        upload_token=None,
        user_id=meta["user_id"] or call.user_id or 1,
        now=call.now(),
        transcode_seconds=call.transcode_seconds,
    )
    return Payload("upload", _ids(item), extra={"message": "The file was uploaded"})


def _ids(item: Record) -> dict[str, Any]:
    return {"photo_id": item["photo_id"], "tree_id": item["tree_id"], "token": item["token"]}


def _visible(call: Call, item: Record) -> bool:
    if item["published"]:
        return True
    return call.flag("include_unpublished_p") and call.level in ("read", "write", "admin", "super")


# The documented description of error no_such_tag (error-codes.md).
NO_SUCH_TAG_MESSAGE = "This tag isn't being used on the site."


@api_method("photo/list", "none")
def photo_list(call: Call) -> Payload:
    p, size = call.page()
    now = call.now()
    careless = call.profile.careless

    def given(name: str) -> bool:
        """A filter the site honours; a careless site drops the ones it ignores."""
        return name not in careless and call.get(name) is not None

    everything = call.state.values("items")
    items = [i for i in everything if _visible(call, i)]
    album_ids = call.ids("album_id") if given("album_id") else None
    if album_ids:
        items = [i for i in items if set(album_ids) & set(i["album_ids"])]
    elif given("photo_id") and (photo_ids := call.ids("photo_id")) is not None:
        items = [i for i in items if i["photo_id"] in photo_ids]
    if given("token"):
        items = [i for i in items if i["token"] == call.get("token")]
    if given("user_id") and (user_id := call.int_param("user_id")) is not None:
        items = [i for i in items if i["user_id"] == user_id]
    if given("upload_token"):
        items = [i for i in items if i["upload_token"] == call.get("upload_token")]
    if given("tags") and (tags := call.tag_filter()) is not None:
        mode = call.get("tag_mode", "and") if "tag_mode" not in careless else "and"
        if mode not in ("and", "any"):
            raise ApiError("invalid_input", "parameter 'tag_mode' must be 'and' or 'any'")
        test = all if mode == "and" else any
        if call.profile.no_such_tag and tags:
            in_use = {t for i in everything for t in i["tags"]}
            if not test(t in in_use for t in tags):
                raise ApiError("no_such_tag", NO_SUCH_TAG_MESSAGE)
        items = [i for i in items if test(t in i["tags"] for t in tags)]
    if given("search"):
        needle = (call.get("search") or "")[:MAX_SEARCH_CHARS].lower()
        items = [i for i in items if needle in (i["title"] + " " + i["description"]).lower()]
    if given("video_encoded_p") and call.get("video_encoded_p") != "":
        if call.level not in ("read", "write", "admin", "super"):
            raise ApiError("permission_denied", "video_encoded_p requires 'read' permission")
        want = call.flag("video_encoded_p")
        items = [i for i in items if (now >= i["encoded_at"]) == want]
    orderby = call.get("orderby", "published") or "published"
    if orderby not in ORDER_KEYS:
        raise ApiError("invalid_input", f"orderby must be one of {sorted(ORDER_KEYS)}")
    order = call.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError("invalid_input", "parameter 'order' must be 'asc' or 'desc'")
    items.sort(key=ORDER_KEYS[orderby], reverse=order == "desc")
    total = len(items)
    page = items[(p - 1) * size : p * size]
    bare = call.profile.documented_shapes
    return Payload(
        "photos", [public_view(i, now, bare=bare) for i in page], "photo", (p, size, total)
    )


@api_method("photo/update", "write")
def photo_update(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        if (title := call.get("title")) is not None:
            item["title"] = strip_html(title)
        if (description := call.get("description")) is not None:
            item["description"] = description
        if (tags := call.tags()) is not None:
            item["tags"] = tags  # replaces all tags
        if (album_ids := call.ids("album_id")) is not None:
            check_albums(call.state, album_ids)
            item["album_ids"] = album_ids  # replaces album membership (documented choice)
        if call.get("published_p") not in (None, ""):
            item["published"] = call.flag("published_p")
        call.state.put("items", item["photo_id"], item)
    if call.profile.documented_shapes:
        return Payload("photo", {})  # the page's example answer: an empty object
    return Payload("photo", public_view(item, call.now()))


@api_method("photo/delete", "write")
def photo_delete(call: Call) -> Payload:
    with call.state.lock:
        item = get_item(call.state, call.get("photo_id"))
        call.state.delete("items", item["photo_id"])
        call.state.file_path(item["path"]).unlink(missing_ok=True)
    return Payload("photo", {"photo_id": item["photo_id"]})


def replace_file(call: Call, item: Record, src_path: Any, size: int, sha: str, name: str) -> Record:
    """Swap an item's file; transcoding starts again."""
    with call.state.lock:
        fresh = call.state.get("items", item["photo_id"])
        if fresh is None:
            raise ApiError("no_such_photo", f"photo {item['photo_id']} does not exist")
        os.replace(src_path, call.state.file_path(fresh["path"]))
        now = call.now()
        fresh.update(sha256=sha, size=size, filename=name, encoded_at=now + call.transcode_seconds)
        fresh["replaced"] = fresh.get("replaced", 0) + 1
        call.state.put("items", fresh["photo_id"], fresh)
        return fresh


def set_thumbnail(call: Call, item: Record, thumbnail: dict[str, Any]) -> Record:
    """A video's thumbnail becomes a frame ({"time"}) or an image ({"sha256", ...})."""
    with call.state.lock:
        fresh = get_item(call.state, str(item["photo_id"]))
        fresh["thumbnail"] = thumbnail
        call.state.put("items", fresh["photo_id"], fresh)
        return fresh


@api_method("photo/replace", "write")
def photo_replace(call: Call) -> Payload:
    """photo-replace.md: "Replace a photo, replace a video or update the thumbnail of a
    video". `file` is optional: `time` alone picks the video's thumbnail frame; an image
    sent for a video becomes its thumbnail; anything else replaces the item's file (a
    video sent with `time` takes its thumbnail from that frame)."""
    item = get_item(call.state, call.get("photo_id"))
    f = call.files.get("file")
    seconds = call.float_param("time", 0, MAX_SECONDS)
    call.flag("crop_p")
    video_p, _ = kind(item)
    done = {"message": "The photo was successfully replaced"}
    if f is None:
        if seconds is None:
            raise ApiError("no_file", "give a file, or a time to take the thumbnail from")
        if not video_p:
            raise ApiError("invalid_input", f"photo {item['photo_id']} is not a video: no frame")
        check_time(item, seconds, "time")
        return Payload("photo", _ids(set_thumbnail(call, item, {"time": seconds})), extra=done)
    refuse_if_unprocessable(call, f.filename)
    if video_p and f.filename.lower().endswith(IMAGE_EXTENSIONS):
        image = {"sha256": f.sha256, "filename": f.filename, "size": f.size}
        return Payload("photo", _ids(set_thumbnail(call, item, image)), extra=done)
    item = replace_file(call, item, f.path, f.size, f.sha256, f.filename)
    if seconds is not None and kind(item)[0]:
        check_time(item, seconds, "time")
        item = set_thumbnail(call, item, {"time": seconds})
    return Payload("photo", _ids(item), extra=done)


@api_method("photo/get-transcoding-progress", "read")
def transcoding_progress(call: Call) -> Payload:
    item = get_item(call.state, call.get("photo_id"))
    value = progress(item, call.now(), call.transcode_seconds)
    as_pct = call.flag("percentage_formated_p")
    shown: Any = f"{round(value * 100)}%" if as_pct else round(value, 3)
    result = {name: shown for name in FORMATS}
    result["all"] = shown
    return Payload("progress", result)


@api_method("photo/attachment/upload", "write")
def attachment_upload(call: Call) -> Payload:
    item = get_item(call.state, call.get("photo_id"))
    f = call.file()
    with call.state.lock:
        item = get_item(call.state, str(item["photo_id"]))
        attachment_id = call.state.next_id("object_id")
        os.replace(f.path, call.state.file_path(f"attachment-{attachment_id}.bin"))
        item["attachments"].append(
            {"attachment_id": attachment_id, "filename": f.filename, "size": f.size}
        )
        call.state.put("items", item["photo_id"], item)
    return Payload("attachment", {"attachment_id": attachment_id, "photo_id": item["photo_id"]})
