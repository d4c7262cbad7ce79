"""What one run shares between its threads: the journal, the clock, the retry engine with its
rate gate, the bandwidth throttle, the rate meter, the album resolver, and the settings each
file gets from the deepest [[watch]] root that holds it."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from syncd.api.client import Client
from syncd.clock import Clock
from syncd.config import Config
from syncd.journal import Journal, make_owner
from syncd.local.scan import MetadataProbe
from syncd.metadata.albums import AlbumResolver
from syncd.metadata.base import base_metadata
from syncd.metadata.desired import (
    DANGLING,
    FolderListings,
    SourceLookup,
    SourceVersion,
    SourceView,
    desired_metadata,
    folder_signer,
    is_sidecar,
    metadata_signature,
    read_metadata,
    signed_image,
    source_version,
    version_of,
)
from syncd.model import FileRow, Metadata, UploadMode
from syncd.pipeline.lifecycle import Lifecycle
from syncd.plan.upload import UploadSettings, joined_tags
from syncd.progress import ProgressSink
from syncd.remote import RemoteFolder
from syncd.retry import Retrier, RetryPolicy
from syncd.throttle import RateMeter, Throttle
from syncd.upload.confirm import FieldCheck
from syncd.upload.landed import LandedCheck

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Per-run overrides of the config (command-line options). None: take the config's."""

    concurrency: int | None = None
    mode: UploadMode | None = None
    chunk_size: int | None = None
    bwlimit: int | None = None  # 0: unlimited for this run, whatever the config says
    no_wait: bool = False


class RunContext:
    """The services of one run. Built once; read by every worker."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        *,
        clock: Clock,
        progress: ProgressSink,
        policy: RetryPolicy,
        lifecycle: Lifecycle,
        options: RunOptions,
        client_factory: Callable[[], Client] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.clock = clock
        self.progress = progress
        self.lifecycle = lifecycle
        self.options = options
        self.owner = make_owner()
        self.retrier = Retrier(policy, clock, lifecycle.stop, note=progress.note)
        bwlimit = config.upload.bwlimit if options.bwlimit is None else options.bwlimit
        self.throttle = Throttle(bwlimit or None, clock, lifecycle.stop)
        self.meter = RateMeter()  # one for the run: token lifetimes follow the run's rate
        self.albums = AlbumResolver(journal, self.owner, self.retrier.pause)
        self.client_factory = client_factory or self._make_client
        # Ask the site before a file's first upload whether its content is there already
        # (another host, a lost journal), and look for another host's copy after it.
        self.ask_first = config.upload.lookup_before_upload
        # With duplicates = "upload" copies at two paths are meant to be two items.
        self.check_copies = self.ask_first and config.scan.duplicates != "upload"
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        # Identity and token lookups: the site read through signed list calls, one worker
        # thread per upload worker so lookups never queue behind each other. Requests are
        # sent once each: the upload attempt around them retries.
        self.site_lookups = self._site_lookups()
        self._retired: list[RemoteFolder] = []
        self.landed = LandedCheck(self.site_lookups, journal, warn_once=self.warn_once)
        self.fields = FieldCheck(journal, warn_once=self.warn_once)
        # Which sidecar names each folder holds, for the workers (see FolderListings).
        self.listings = FolderListings()

    def _site_lookups(self) -> RemoteFolder:
        return RemoteFolder(
            self.client_factory,
            concurrency=self.concurrency,
            call_with_retry=self._gated,
            stop=self.lifecycle.stop,
        )

    def refresh_site_lookups(self) -> None:
        """The site's settings changed (a reload with new credentials): lookups from now on
        go through new clients. The old ones finish what they are doing; closed at the end."""
        self._retired.append(self.site_lookups)
        self.site_lookups = self._site_lookups()
        self.landed.use(self.site_lookups)

    def _gated(self, fn: Callable[[], T], *, what: str) -> T:
        """One request, after any Retry-After the site asked of the run."""
        del what
        self.retrier.gate.wait()
        return fn()

    def warn_once(self, key: str, message: str) -> None:
        """Log `message` as a warning once per run per key (stderr, or the journal)."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning("%s", message)

    def close(self) -> None:
        for folder in (*self._retired, self.site_lookups):
            folder.close()

    @property
    def stop(self) -> bool:
        return self.lifecycle.stop.is_set()

    @property
    def concurrency(self) -> int:
        return self.options.concurrency or self.config.upload.concurrency

    def _make_client(self) -> Client:
        up = self.config.upload
        return Client(
            self.config.site, connect_timeout=up.connect_timeout, read_timeout=up.read_timeout
        )

    # --- what each file gets from the config ------------------------------------------

    def metadata_root(self, row: FileRow) -> Path:
        """Where the file's folder defaults start: its deepest [[watch]] root, else the root
        it was scanned under."""
        watch = self.config.watch_root_for(row.path)
        return watch.path if watch is not None else Path(row.root)

    def base_metadata(self, path: str) -> Metadata:
        return base_metadata(self.config, path)

    def sources(self) -> SourceView:
        """A look at one file's metadata sources through the run's folder listings (for
        the uploads, where a stat per sidecar name is most of a small file's cost)."""
        return SourceView(self.listings)

    def signature(self, row: FileRow, view: SourceView | None = None) -> str:
        """The signature of what the file's metadata is made of. Take it before reading the
        metadata, so an edit made while reading shows as a change later. Without a view,
        from the disk."""
        view = view or SourceView()
        return metadata_signature(
            Path(row.path),
            self.metadata_root(row),
            self.base_metadata(row.path),
            self.config.metadata,
            view.version,
            signed_image(row.meta_sig),
            view.holds,
        )

    def read_metadata(self, row: FileRow) -> Metadata:
        """The file's desired metadata. Raises SidecarError."""
        return read_metadata(
            Path(row.path),
            self.metadata_root(row),
            self.base_metadata(row.path),
            self.config.metadata,
        )

    def desired(
        self, row: FileRow, view: SourceView | None = None, *, signed: str | None = None
    ) -> tuple[Metadata, str]:
        """The desired metadata and the signature of its sources (taken first; `signed`:
        taken already by `signature(row, view)`). Without a view, every source is asked of
        the disk: the metadata stage must never trust a listing over what the scan saw."""
        return desired_metadata(
            Path(row.path),
            self.metadata_root(row),
            self.base_metadata(row.path),
            self.config.metadata,
            previous=row.meta_sig,
            view=view or SourceView(),
            signed=signed,
        )

    def probe(self) -> MetadataProbe:
        return ConfigProbe(self)

    def upload_settings(self, row: FileRow) -> UploadSettings:
        up = self.config.upload
        watch = self.config.watch_root_for(row.path)
        mode = self.options.mode or (watch.mode if watch else None) or up.mode
        return UploadSettings(
            mode=mode,
            chunk_threshold=up.chunk_threshold,
            chunk_size=self.options.chunk_size or up.chunk_size,
            on_change=self.config.reconcile.on_change,
            tag_joiner=up.tag_word_joiner,
        )

    def warn_joined_tags(self, meta: Metadata) -> None:
        """Once per run: a tag with spaces goes to the site with its words joined."""
        joined = joined_tags(meta.tags, self.config.upload.tag_word_joiner)
        if joined:
            tag, sent = joined[0]
            self.warn_once(
                "joined-tags",
                f"tags are space-separated on the site: a tag with spaces is sent with its "
                f"words joined ({tag!r} as {sent!r}; [upload] tag_word_joiner)",
            )


class ConfigProbe:
    """What the scan needs to know about metadata (local.scan.MetadataProbe), answered
    from the config and the sidecar rules of syncd.metadata.desired."""

    dangling = DANGLING

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    def is_source(self, name: str) -> bool:
        return is_sidecar(Path(name))

    def version_of(self, st: os.stat_result) -> tuple[int, ...]:
        return version_of(st)

    def source_version(self, path: Path) -> SourceVersion:
        return source_version(path)

    def root_of(self, path: str, scan_root: str) -> str:
        watch = self._ctx.config.watch_root_for(path)
        return str(watch.path) if watch is not None else scan_root

    def signature(
        self, path: str, root: str, lookup: SourceLookup, previous: str | None = None
    ) -> str:
        ctx = self._ctx
        base = ctx.base_metadata(path)
        image = signed_image(previous)  # the thumbnail image the last signature covered
        return metadata_signature(
            Path(path), Path(root), base, ctx.config.metadata, lookup, image=image
        )

    def signer(
        self, folder: str, scan_root: str, lookup: SourceLookup, names: Collection[str] | None
    ) -> Callable[[str, str | None], str]:
        ctx = self._ctx
        anyone = str(Path(folder) / "_")  # settings and layers are the same for its files
        root = self.root_of(anyone, scan_root)
        base = ctx.base_metadata(anyone)
        sign = folder_signer(Path(folder), Path(root), base, ctx.config.metadata, lookup, names)

        def signature(name: str, previous: str | None) -> str:
            return sign(name, signed_image(previous))  # the image the last one covered

        return signature

    def digest(self, path: str, root: str) -> str:
        ctx = self._ctx
        base = ctx.base_metadata(path)
        return read_metadata(Path(path), Path(root), base, ctx.config.metadata).digest()
