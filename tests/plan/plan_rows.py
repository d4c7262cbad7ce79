"""A journal row for the plan tests: every field a plan does not care about filled in
once, so each test names only what it is about."""

from __future__ import annotations

from typing import Any

from syncd.model import FileRow, ItemState


def file_row(**fields: Any) -> FileRow:
    """A row of /r/clip.mp4 (100 bytes, not hashed, pending, never attempted, no claim and
    no metadata applied) with `fields` set."""
    values: dict[str, Any] = {
        "path": "/r/clip.mp4",
        "root": "/r",
        "size": 100,
        "mtime_ns": 1,
        "inode": 2,
        "sha256": None,
        "state": ItemState.PENDING,
        "photo_id": None,
        "attempts": 0,
        "error_code": None,
        "error_message": None,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_until": None,
        "stable_since": None,
        "duplicate_of": None,
        "desired_digest": None,
        "applied_digest": None,
        "upload_mode": None,
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    values.update(fields)
    return FileRow(**values)
