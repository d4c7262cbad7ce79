"""`Sandbox`: the Python face of the server — start/stop, credentials, config files,
inspection, faults, OAuth approval, token expiry and a shiftable clock."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncd.sandbox import creds
from syncd.sandbox import profile as profiles
from syncd.sandbox.api_parts import coordinates_of
from syncd.sandbox.app import SandboxApp
from syncd.sandbox.control import make_route
from syncd.sandbox.creds import Credentials
from syncd.sandbox.faults import FaultInjector, RequestRecord
from syncd.sandbox.items import create_item
from syncd.sandbox.profile import Profile
from syncd.sandbox.server import SandboxHTTPServer
from syncd.sandbox.state import State

# The journal of a config written by write_config, in the data dir.
CLIENT_JOURNAL = "syncd-journal.db"
# Seconds stop() waits for the serving thread.
STOP_TIMEOUT = 10.0


class Sandbox:
    """A local TwentyThree-compatible server. `start()` serves on a background thread.

    Time: the server's clock is `time.time() + time_offset`; `set_time_offset(s)` shifts it
    (positive = server ahead of the client), `clock()` reads it. OAuth timestamp checks,
    token expiry and the HTTP `Date` header use this clock.

    Profile: how literally the sandbox reads the platform's pages (see profile.py).
    `profile` is a name, a spec (`"strict,careless=tags"`) or a Profile; None takes
    $SYNCD_SANDBOX_PROFILE, else `default`. `set_profile()` changes it while serving;
    `reset()` restores the one given here.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control: bool = True,
        seed: int = 0,
        transcode_seconds: float = 0.0,
        domain: str | None = None,
        profile: str | Profile | None = None,
    ) -> None:
        if transcode_seconds < 0:
            raise ValueError("Sandbox: transcode_seconds must be >= 0")
        self._own_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="syncd-sandbox-")) if data_dir is None else data_dir
        )
        self.host = host
        self.port = port
        self.control = control
        self.seed = seed
        self.transcode_seconds = transcode_seconds
        self._domain = domain
        self.time_offset = 0.0
        self.state = State(Path(self.data_dir))
        creds.ensure(self.state)
        self.faults = FaultInjector(seed)
        self.initial_profile = profiles.resolve(profile)
        self.app = SandboxApp(
            self.state,
            self.faults,
            lambda: self.domain,
            self.clock,
            transcode_seconds,
            control,
            self.initial_profile,
        )
        self.app.routes["/_sandbox/"] = make_route(self)
        from syncd.sandbox import (  # registers the methods
            api_misc,
            api_parts,
            api_photos,
            api_tokens,
            oauth_flow,
        )

        del api_misc, api_parts, api_photos, api_tokens
        self.app.routes["/oauth/"] = oauth_flow.route
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("Sandbox already started")
        self._server = SandboxHTTPServer((self.host, self.port), self.app)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # stop() waits for the loop's next look at the shutdown flag; the tests start
            # and stop a sandbox each, so a long look would add up (0.1 s cost ~25 s a suite).
            kwargs={"poll_interval": 0.01},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self.state.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and credentials -------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def domain(self) -> str:
        return self._domain or f"{self.host}:{self.port}"

    def credentials(self, level: str = "super") -> Credentials:
        """Privileged credentials at `level` (read, write, admin, super); "flow" gives the
        3-legged consumer (empty access token)."""
        return creds.credentials(self.state, level)

    def write_config(
        self, path: Path, *, level: str = "super", journal_path: Path | None = None
    ) -> Path:
        """Write a syncd TOML config for these credentials (mode 0600), with a [journal]
        path when `journal_path` is given (`client_journal` is the one for this site)."""
        c = self.credentials(level)
        q = json.dumps  # TOML basic strings accept JSON string escapes
        lines = [
            "[site]",
            f"domain = {q(self.domain)}",
            'scheme = "http"',
            f"consumer_key = {q(c.consumer_key)}",
            f"consumer_secret = {q(c.consumer_secret)}",
            f"access_token = {q(c.access_token)}",
            f"access_token_secret = {q(c.access_token_secret)}",
            f"oauth_base_url = {q(self.base_url)}",
        ]
        if journal_path is not None:
            lines += ["", "[journal]", f"path = {q(str(Path(journal_path).absolute()))}"]
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    @property
    def client_journal(self) -> Path:
        """A journal path for a client of this sandbox, in its data dir: a journal
        describes one site, so it lives (and goes) with the site's data."""
        return self.data_dir / CLIENT_JOURNAL

    # -- clock ---------------------------------------------------------------------------
    def clock(self) -> float:
        return time.time() + self.time_offset

    def set_time_offset(self, seconds: float) -> None:
        self.time_offset = float(seconds)

    # -- profile -------------------------------------------------------------------------
    @property
    def profile(self) -> Profile:
        return self.app.profile

    def set_profile(self, profile: str | Profile | None = None, **switches: Any) -> Profile:
        """Answer from now on by `profile` (a name, spec or Profile; None keeps the current
        one) with `switches` on top, e.g. `set_profile(careless=["tags"])`."""
        base = self.app.profile if profile is None else profiles.resolve(profile)
        self.app.profile = base.with_switches(switches)
        return self.app.profile

    # -- inspection ----------------------------------------------------------------------
    def items(self) -> list[dict[str, Any]]:
        albums = {a["album_id"]: a["title"] for a in self.state.values("albums")}
        now = self.clock()
        out = []
        for item in sorted(self.state.values("items"), key=lambda i: i["photo_id"]):
            out.append(
                {
                    "photo_id": item["photo_id"],
                    "tree_id": item["tree_id"],
                    "token": item["token"],
                    "sha256": item["sha256"],
                    "size": item["size"],
                    "title": item["title"],
                    "description": item["description"],
                    "tags": list(item["tags"]),
                    "albums": [albums[a] for a in item["album_ids"] if a in albums],
                    "album_ids": list(item["album_ids"]),
                    "published": item["published"],
                    "publish_date": item.get("publish_date"),  # as it was given
                    "upload_token": item["upload_token"],
                    "created_by": item["created_by"],
                    "filename": item["filename"],
                    "video_encoded": now >= item["encoded_at"],
                    "user_id": item["user_id"],
                    "custom": dict(item["custom"]),
                    "path": str(self.state.file_path(item["path"])),
                    "coordinates": [tuple(c) for c in coordinates_of(item)],
                    "sections": [
                        {k: s[k] for k in ("section_id", "start_time", "title", "description")}
                        for s in sorted(item.get("sections", []), key=lambda s: s["start_time"])
                    ],
                    "thumbnail": item.get("thumbnail"),
                    "replaced": item.get("replaced", 0),
                }
            )
        return out

    def set_video_length(self, photo_id: int | str, seconds: float) -> None:
        """Tell the sandbox how long an item's video is: section starts and thumbnail
        times past its end are refused from now on, as the pages say."""
        with self.state.lock:
            item = self.state.get("items", photo_id)
            if item is None:
                raise KeyError(f"no such item {photo_id}")
            item["video_length"] = float(seconds)
            self.state.put("items", photo_id, item)

    @property
    def requests(self) -> list[RequestRecord]:
        with self.app.requests_lock:
            return list(self.app.requests)

    def open_connections(self) -> int:
        """Client connections the server is still handling. After a client is killed, 0
        means every request it left behind has been finished (a body already in the
        socket's buffer is still read and acted on)."""
        return 0 if self._server is None else self._server.open_connections()

    def count_requests(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r.method == method)

    def reset(self) -> None:
        """Empty all items, albums, tokens, faults and the request log, and go back to the
        profile given at construction (credentials stay)."""
        self.state.reset()
        self.faults.clear()
        self.app.profile = self.initial_profile
        with self.app.requests_lock:
            self.app.requests.clear()

    # -- seeding -------------------------------------------------------------------------
    def add_item(
        self,
        content: bytes | None = None,
        *,
        title: str = "",
        description: str = "",
        tags: Sequence[str] = (),
        album_ids: Sequence[int] = (),
        published: bool = True,
        filename: str = "item.mp4",
    ) -> int:
        """Create an item directly, as if uploaded by the owner (no HTTP, nothing in the
        request log): a site with thousands of items in seconds. `content` defaults to a
        few bytes unique to the item. Returns its photo_id."""
        for album_id in album_ids:
            if self.state.get("albums", album_id) is None:
                raise KeyError(f"no such album {album_id}")
        src = self.state.tmp_dir / f"seed-{secrets.token_hex(8)}"
        data = content if content is not None else f"seed {secrets.token_hex(16)}".encode()
        src.write_bytes(data)
        item = create_item(
            self.state,
            src=src,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            filename=filename,
            meta={
                "title": title,
                "description": description,
                "tags": list(dict.fromkeys(tags)),
                "album_ids": list(album_ids),
                "publish": published,
            },
            created_by="sandbox.add_item",
            upload_token=None,
            user_id=1,
            now=self.clock(),
            transcode_seconds=self.transcode_seconds,
        )
        return int(item["photo_id"])

    # -- OAuth and tokens ----------------------------------------------------------------
    def approve(self, request_token: str) -> str:
        """Approve a 3-legged request token as the site's member; returns the verifier."""
        from syncd.sandbox.oauth_flow import approve

        return approve(self.state, request_token)

    def expire_upload_token(self, token: str) -> None:
        """Make an upload (or replace) token expired as of now."""
        with self.state.lock:
            rec = self.state.get("tokens", token)
            if rec is None:
                raise KeyError(f"no such upload token {token!r}")
            rec["valid_until"] = self.clock() - 1
            self.state.put("tokens", token, rec)
