"""`syncd watch` keeps chapters and the thumbnail image in step: an edit of the sidecar or
of the image alone reaches the item, with no upload of the video again."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from pipeline_helpers import wait_for
from watch_helpers import WAIT, watch_config

from syncd.config import load_config
from syncd.journal import Journal
from syncd.sandbox import Sandbox
from syncd.watch import Watch


@pytest.mark.slow(seconds=2)
def test_watch_sends_an_edited_chapter_and_an_edited_thumbnail_image(
    sandbox: Sandbox, sandbox_config: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    watch_config(sandbox_config, archive)
    config = load_config(sandbox_config)
    film = archive / "film.mp4"
    poster = archive / "poster.png"
    sidecar = archive / "film.mp4.json"

    def the_film() -> dict[str, object] | None:
        return next((i for i in sandbox.items() if i["filename"] == "film.mp4"), None)

    def uploads_of_the_film() -> int:
        return sum(1 for i in sandbox.items() if i["filename"] == "film.mp4")

    with Journal.open(config.journal_path) as journal:
        watch = Watch(config, journal)
        thread = threading.Thread(target=watch.run, daemon=True)
        thread.start()
        try:
            wait_for("the root watched", lambda: watch.observer_states, WAIT)
            poster.write_bytes(b"\x89PNG first")
            sidecar.write_text(
                json.dumps({"thumbnail": "poster.png", "chapters": [{"start": 0, "title": "A"}]})
            )
            film.write_bytes(b"a film" * 200)
            first = hashlib.sha256(b"\x89PNG first").hexdigest()
            wait_for(
                "the film with its thumbnail and chapter",
                lambda: (
                    (item := the_film())
                    and item["thumbnail"]
                    and item["thumbnail"]["sha256"] == first  # type: ignore[index]
                    and item["sections"]
                ),
                WAIT,
            )

            sidecar.write_text(
                json.dumps({"thumbnail": "poster.png", "chapters": [{"start": 0, "title": "B"}]})
            )
            wait_for(
                "the chapter retitled",
                lambda: [s["title"] for s in the_film()["sections"]] == ["B"],  # type: ignore[index]
                WAIT,
            )

            poster.write_bytes(b"\x89PNG second")  # the image alone
            second = hashlib.sha256(b"\x89PNG second").hexdigest()
            wait_for(
                "the new image as the thumbnail",
                lambda: the_film()["thumbnail"]["sha256"] == second,  # type: ignore[index]
                WAIT,
            )
            assert uploads_of_the_film() == 1
            assert sandbox.count_requests("photo/section/create") == 1
            assert sandbox.count_requests("photo/section/update") == 1
        finally:
            watch.lifecycle.request_drain()
            thread.join(timeout=WAIT)
        assert not thread.is_alive()
