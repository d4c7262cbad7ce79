"""Executes metadata actions: bring an uploaded item in line with its desired metadata.

A direct upload or upload token already carries title, description, tags,
albums and publish flag, so most items go straight from `uploading` to `synced`
(see upload/core.py). A row reaches `uploaded` only when something is left: a
second album (photo/upload takes one), or an item found by its identity marker
(an earlier attempt that landed, its metadata maybe older than a sidecar edit).
Those get one `photo/update` here.
"""

from __future__ import annotations

import logging

from syncd.api.client import Client
from syncd.journal import Journal
from syncd.model import FileRow, ItemState, Metadata
from syncd.plan.upload import upload_fields
from syncd.progress import ProgressSink

log = logging.getLogger(__name__)


class MetadataApplier:
    def __init__(
        self, journal: Journal, client: Client, *, owner: str, progress: ProgressSink
    ) -> None:
        self.journal = journal
        self.client = client
        self.owner = owner
        self.progress = progress

    def finish(
        self,
        row: FileRow,
        meta: Metadata,
        album_ids: dict[str, str],
    ) -> ItemState:
        """`uploaded` -> `synced`: one photo/update with all the desired metadata."""
        assert row.photo_id and row.sha256
        fields = upload_fields(meta, row.sha256, album_ids)
        fields["published_p"] = fields.pop("publish")
        self.client.photo_update(row.photo_id, **fields)
        digest = meta.digest()
        self.journal.transition(
            row.path,
            ItemState.UPLOADED,
            ItemState.SYNCED,
            detail="metadata applied",
            applied_digest=digest,
            desired_digest=digest,
        )
        self.progress.file_finished(row.path, "synced", row.photo_id)
        return ItemState.SYNCED
