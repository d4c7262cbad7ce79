"""Executes metadata plans: one photo/update brings an item in line with its desired metadata.

A direct upload or upload token already carries title, description, tags, albums and
publish flag, so most items go straight from `uploading` to `synced` (upload/core.py).
Metadata work is what is left: rows in `uploaded` (an earlier attempt found on the site,
whose metadata may predate a sidecar edit, or a follow-up update that failed), and
`synced` rows whose desired metadata changed since it was applied (a sidecar or folder
default edited, a file renamed, the config changed).
"""

from __future__ import annotations

import logging

from syncd.api.client import Client
from syncd.journal import Journal
from syncd.model import FileRow
from syncd.plan.upload import MetadataPlan
from syncd.progress import ProgressSink

log = logging.getLogger(__name__)


class MetadataApplier:
    """Applies metadata plans for one worker (it holds that worker's Client)."""

    def __init__(
        self, journal: Journal, client: Client, *, owner: str, progress: ProgressSink
    ) -> None:
        self.journal = journal
        self.client = client
        self.owner = owner
        self.progress = progress

    def apply(self, row: FileRow, plan: MetadataPlan, digest: str, meta_sig: str | None) -> bool:
        """Send the plan's photo/update and record the digest as applied. False when the
        row changed meanwhile (another worker, a rescan): nothing is recorded then."""
        self.client.photo_update(plan.photo_id, **plan.fields)
        return self.journal.finish_metadata(
            row,
            self.owner,
            digest=digest,
            meta_sig=meta_sig,
            detail=f"metadata applied to photo {plan.photo_id}",
        )
