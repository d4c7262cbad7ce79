"""The remote side, read-only: every item on the site in signed pages, the albums syncd
manages and their members, and items found by identity marker. Writes nothing, anywhere."""

from syncd.remote.albums import RemoteAlbums
from syncd.remote.folder import DEFAULT_CONCURRENCY, RemoteFolder, SiteWalk, WalkReport
from syncd.remote.pool import CallWithRetry, call_once

__all__ = [
    "DEFAULT_CONCURRENCY",
    "CallWithRetry",
    "RemoteAlbums",
    "RemoteFolder",
    "SiteWalk",
    "WalkReport",
    "call_once",
]
