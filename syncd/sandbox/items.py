"""Items (the platform's "photos"): creation from an uploaded file, and their public views."""

from __future__ import annotations

import html
import os
import re
import secrets
from pathlib import Path
from typing import Any

from syncd.sandbox.call import ansi
from syncd.sandbox.envelope import ApiError
from syncd.sandbox.state import Record, State

# Files the sandbox refuses as "unsupported type" (error_processing_upload / chunk 500).
UNSUPPORTED_EXTENSIONS = (".exe", ".dll", ".bat", ".com", ".msi")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".aac", ".flac", ".ogg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp")
# Simulated output formats of transcoding: name -> (width, height).
FORMATS = {"video_mobile_h264": (640, 360), "video_medium": (1280, 720), "video_hd": (1920, 1080)}
# Parameters that are not custom variables when they arrive with an upload.
KNOWN_PARAMS = frozenset(
    [
        "file",
        "album_id",
        "title",
        "description",
        "tags",
        "publish",
        "publish_date",
        "absolute_url",
        "user_id",
        "format",
        "raw",
        "varname",
        "callback",
        "upload_token",
        "return_url",
        "background_return_p",
        "valid_minutes",
        "max_uploads",
        "photo_id",
        "replace_token",
        "time",
        "crop_p",
        "resumableChunkNumber",
        "resumableChunkSize",
        "resumableTotalSize",
        "resumableIdentifier",
        "resumableTotalChunks",
        "resumableCurrentChunkSize",
        "resumableFilename",
        "resumableRelativePath",
        "resumableType",
    ]
)
_CUSTOM_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_TAG_RE = re.compile(r"<[^>]*>")


def strip_html(text: str) -> str:
    return html.unescape(_TAG_RE.sub("", text)).strip()


def unsupported(filename: str) -> bool:
    return filename.lower().endswith(UNSUPPORTED_EXTENSIONS)


def custom_variables(params: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in params.items()
        if k not in KNOWN_PARAMS and not k.startswith("oauth_") and _CUSTOM_KEY.match(k)
    }


def check_albums(state: State, album_ids: list[int]) -> None:
    for album_id in album_ids:
        if state.get("albums", album_id) is None:
            raise ApiError("no_such_album", f"album {album_id} does not exist")


def create_item(
    state: State,
    *,
    src: Path,
    size: int,
    sha256: str,
    filename: str,
    meta: dict[str, Any],
    created_by: str,
    upload_token: str | None,
    user_id: int,
    now: float,
    transcode_seconds: float,
) -> Record:
    """Move `src` into the archive and record a new item; returns the record."""
    with state.lock:
        photo_id = state.next_id("photo_id")
        tree_id = state.next_id("tree_id")
        path = state.file_path(f"{photo_id}.bin")
        os.replace(src, path)
        item: Record = {
            "photo_id": photo_id,
            "tree_id": tree_id,
            "token": secrets.token_hex(8),
            "sha256": sha256,
            "size": size,
            "filename": filename,
            "title": strip_html(meta.get("title") or "") or Path(filename).stem,
            "description": meta.get("description") or "",
            "tags": list(meta.get("tags") or []),
            "album_ids": list(meta.get("album_ids") or []),
            "published": bool(meta.get("publish", True)),
            "publish_date": meta.get("publish_date"),
            "custom": dict(meta.get("custom") or {}),
            "upload_token": upload_token,
            "created_by": created_by,
            "user_id": user_id,
            "created": now,
            "encoded_at": now + transcode_seconds,
            "path": path.name,
            "coordinates": [],
            "sections": [],
            "thumbnail": None,  # {"time": s} or {"sha256", "filename", "size"} of an image
            "video_length": None,  # seconds, when known (Sandbox.set_video_length)
            "attachments": [],
        }
        state.put("items", photo_id, item)
        return item


def get_item(state: State, photo_id: str | None) -> Record:
    if photo_id is None or not photo_id.isdigit():
        raise ApiError("invalid_input", "parameter 'photo_id' must be an id")
    item = state.get("items", photo_id)
    if item is None:
        raise ApiError("no_such_photo", f"photo {photo_id} does not exist")
    return item


def progress(item: Record, now: float, transcode_seconds: float) -> float:
    if now >= item["encoded_at"]:
        return 1.0
    return max(0.0, 1.0 - (item["encoded_at"] - now) / max(transcode_seconds, 1e-9))


def kind(item: Record) -> tuple[bool, bool]:
    """(video_p, audio_p) from the file name."""
    name = item["filename"].lower()
    if name.endswith(AUDIO_EXTENSIONS):
        return False, True
    if name.endswith(IMAGE_EXTENSIONS):
        return False, False
    return True, False


def public_view(item: Record, now: float, *, bare: bool = False) -> dict[str, Any]:
    """An item as photo/list shows it. Unless `bare` (the documented shape), adds `tags`
    (list), `album_ids` (list) and `variable_<name>` (custom variables) to the platform's
    documented keys so a client can read them back."""
    video_p, audio_p = kind(item)
    encoded = now >= item["encoded_at"]
    pid, tree, token = item["photo_id"], item["tree_id"], item["token"]
    view: dict[str, Any] = {
        "photo_id": pid,
        "title": item["title"],
        "token": token,
        "tree_id": tree,
        "published_p": item["published"],
        "one": f"/video/{pid}/{slug(item['title'])}",
        "creation_date_ansi": ansi(item["created"]),
        "original_date_ansi": ansi(item["created"]),
        "video_p": video_p,
        "audio_p": audio_p,
        "video_encoded_p": encoded,
        "video_length": item.get("video_length") or 0,
        "user_id": item["user_id"],
        "original_size": item["size"],
        "original_download": f"/{tree}/{pid}/{token}/original/download",
        "content": item["description"],
        "content_text": strip_html(item["description"]),
        "number_of_tags": len(item["tags"]),
        "number_of_albums": len(item["album_ids"]),
    }
    if not bare:
        view["tags"] = list(item["tags"])
        view["album_ids"] = list(item["album_ids"])
        # Not in the documented answer: the publish date as the item holds it.
        view["publish_date_ansi"] = _publish_date_ansi(item)
    coordinates = item.get("coordinates")
    if coordinates and not bare:  # listed, says coordinate-add.md, under no documented name
        first = coordinates[0] if isinstance(coordinates[0], list) else coordinates
        view["latitude"], view["longitude"] = first
    for name, (w, h) in FORMATS.items():
        if encoded:
            view[f"{name}_download"] = f"/{tree}/{pid}/{token}/{name}/download"
            view[f"{name}_size"] = item["size"]
            view[f"{name}_width"] = w
            view[f"{name}_height"] = h
    if not bare:
        view.update({f"variable_{k}": v for k, v in item["custom"].items()})
    return view


def _publish_date_ansi(item: Record) -> str:
    """`YYYY-MM-DD HH:MM:SS`: the publish_date given (a date alone is midnight), else the
    creation time."""
    text = str(item.get("publish_date") or "").strip()
    if len(text) == len("YYYY-MM-DD"):
        return f"{text} 00:00:00"
    return text or ansi(item["created"])


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "video"
