"""Issue 13: N small files (default 10,000) dropped into a watched folder at once. All must
land exactly once; prints the daemon's peak RSS (target < 150 MiB), the time until every
file is queued (stable and hashed: ready or further) and until all have landed.

The files are written straight into the watched folder as fast as Python can (one event
burst per file, as a copy would make), 1,000 per sub-folder.
"""

from __future__ import annotations

import argparse
import os
import time

from common import sandbox_process, start_benchmark, workdir
from watchd import Daemon, JournalPeek, watch_section

MiB = 1024 * 1024
TARGET_RSS = 150 * MiB
QUEUED = ("ready", "uploading", "uploaded", "synced")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="files (default 10000)")
    parser.add_argument("--size", type=int, default=1024, help="bytes per file")
    args = parser.parse_args()
    start_benchmark(f"burst: {args.n} files of {args.size} B dropped into a watched folder")
    with workdir("syncd-bench-burst-") as work:
        root = work / "archive"
        root.mkdir()
        extra = watch_section(root) + "\n[upload]\nconcurrency = 8\n"
        with sandbox_process(work, extra) as sb:
            daemon = Daemon(sb.config, work / "watch.log")
            peek = JournalPeek(work / "journal.db")
            try:
                daemon.wait_for_log("ready:")
                cpu_before = daemon.cpu()
                started = time.monotonic()
                base = bytearray(os.urandom(args.size))
                for i in range(args.n):
                    folder = root / f"d{i // 1000:03d}"
                    if i % 1000 == 0:
                        folder.mkdir()
                    base[:8] = i.to_bytes(8, "big")
                    (folder / f"clip{i:06d}.mp4").write_bytes(base)
                written = time.monotonic() - started
                queued_at = landed_at = None
                deadline = time.monotonic() + 1800
                while landed_at is None:
                    now = time.monotonic()
                    if now > deadline:
                        raise SystemExit("timed out; see the daemon's log")
                    if queued_at is None and peek.count(QUEUED) >= args.n:
                        queued_at = now - started
                    if peek.count(("synced",)) >= args.n:
                        landed_at = now - started
                        queued_at = queued_at or landed_at
                    time.sleep(0.2)
                cpu = daemon.cpu() - cpu_before
                items = sb.items()
            finally:
                daemon.stop()
        distinct = {item["sha256"] for item in items}
        once = len(items) == args.n and len(distinct) == args.n
        print(
            f"   written in {written:.1f} s; all queued after {queued_at:.1f} s;"
            f" all landed after {landed_at:.1f} s ({args.n / landed_at:.0f} files/s)"
        )
        print(
            f"   items on the site: {len(items)} ({len(distinct)} distinct): "
            f"{'exactly once' if once else 'NOT EXACTLY ONCE'}"
        )
        print(f"   daemon CPU during the burst: {cpu:.1f} s")
        print(
            f"   daemon peak RSS: {daemon.peak_rss / MiB:.0f} MiB (target < 150 MiB:"
            f" {'met' if daemon.peak_rss < TARGET_RSS else 'MISSED'})"
        )
        if not once:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
