"""`make demo`: start the sandbox, push examples/, show what landed.

Everything lives in .demo/ (sandbox data, config, journal), so running the
demo again shows the other half of the promise: nothing is uploaded twice.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from syncd.api.client import Client
from syncd.config import load_config
from syncd.sandbox.process import start_sandbox_process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / ".demo"


def show_site(config_path: Path) -> None:
    config = load_config(config_path)
    with Client(config.site) as client:
        site = client.site_get()
        albums = {str(a["album_id"]): str(a["title"]) for a in client.iter_albums()}
        print(f"\nOn the site {site.get('site_name', '')!s} ({config.site.domain}):")
        for item in client.iter_photos(include_unpublished_p="1", orderby="title", order="asc"):
            album_page = client.album_list(photo_id=item.photo_id)
            names = [albums.get(str(a["album_id"]), "?") for a in album_page.items]
            tags = [t for t in item.tags if not t.startswith("syncd:")]
            marker = [t for t in item.tags if t.startswith("syncd:")]
            state = "published" if item.published else "unpublished"
            print(f"  photo {item.photo_id}: {item.title!r} ({state})")
            print(f"      albums: {', '.join(names) or '-'}")
            print(f"      tags:   {', '.join(tags) or '-'}   identity: {', '.join(marker)}")


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    config = DEMO / "syncd.toml"
    sandbox_args = ["--port", "0", "--data", str(DEMO / "sandbox"), "--write-config", str(config)]
    with start_sandbox_process(sandbox_args) as sandbox:
        print(f"sandbox running at {sandbox.base_url} (data in {DEMO / 'sandbox'})")
        text = config.read_text()
        if "[journal]" not in text:
            config.write_text(text + f'\n[journal]\npath = "{DEMO / "journal.db"}"\n')
        print(f"$ syncd -c {config.relative_to(ROOT)} push --no-wait examples/\n", flush=True)
        push = subprocess.run(
            [sys.executable, "-m", "syncd", "-c", str(config), "push", "--no-wait", str(HERE)],
            check=False,
        )
        show_site(config)
        print(f"\nsyncd push exited {push.returncode}. Run `make demo` again: nothing is re-sent.")
        return push.returncode


if __name__ == "__main__":
    sys.exit(main())
