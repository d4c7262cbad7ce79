"""The lowest metadata layer, from the config: `[upload] publish`, and the album and tags
of the deepest `[[watch]]` folder that holds the push/watch root (the rule `Run` uses)."""

from __future__ import annotations

from pathlib import Path

from syncd.config import Config, WatchRoot
from syncd.metadata.sidecar.provenance import Provenance, Source, SourceKind
from syncd.model import Metadata


def watch_root_for(config: Config, root: Path) -> WatchRoot | None:
    """The deepest configured [[watch]] folder that is `root` or holds it, if any."""
    holding = [w for w in config.watch if root == w.path or w.path in root.parents]
    return max(holding, key=lambda w: len(w.path.parts), default=None)


def config_base(config: Config, root: Path) -> tuple[Metadata, Provenance]:
    """The config's defaults for files under `root`, and where each came from."""
    watch = watch_root_for(config, root)
    where = str(config.source) if config.source else None

    def source(detail: str) -> Source:
        return Source(SourceKind.CONFIG, path=where, detail=detail)

    meta = Metadata(
        tags=watch.tags if watch else (),
        albums=(watch.album,) if watch and watch.album else (),
        publish=config.upload.publish,
    )
    fields = {"publish": source("[upload] publish")}
    tags = {}
    if watch is not None:
        if meta.albums:
            fields["albums"] = source(f"[[watch]] album (path {watch.path})")
        tags = {t: source(f"[[watch]] tags (path {watch.path})") for t in meta.tags}
    return meta, Provenance(fields=fields, tags=tags)


def base_metadata(config: Config, root: Path) -> Metadata:
    """config_base without the sources: what the pipeline layers sidecars onto."""
    return config_base(config, root)[0]
