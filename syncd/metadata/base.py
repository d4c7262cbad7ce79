"""The lowest metadata layer, from the config: `[upload] publish`, and the album and tags
of the deepest `[[watch]]` folder that holds the file (Config.watch_root_for)."""

from __future__ import annotations

from pathlib import Path

from syncd.config import Config
from syncd.metadata.sidecar.provenance import Provenance, Source, SourceKind
from syncd.model import Metadata


def config_base(config: Config, path: Path | str) -> tuple[Metadata, Provenance]:
    """The config's defaults for the file at `path`, and where each came from."""
    watch = config.watch_root_for(path)
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


def base_metadata(config: Config, path: Path | str) -> Metadata:
    """config_base without the sources: what the pipeline layers sidecars onto."""
    return config_base(config, path)[0]
