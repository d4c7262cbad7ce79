"""Issue 13: time from a file's close to the start of its upload under `syncd watch`, with
stable_seconds = 1 (target: median under 1.5 s), median and p95 over N files.

Each file is written and closed in the watched folder; its upload starts when a worker
claims it (the journal's `uploading` event, on this machine's clock like the close). The
floor is stable_seconds itself: a file is complete once it has been quiet that long.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import require_ok, run_measured, sandbox_process, start_benchmark, syncd_argv, workdir
from watchd import Daemon, JournalPeek, percentile, watch_section

TARGET_MEDIAN = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=50, help="files (default 50)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between files")
    args = parser.parse_args()
    start_benchmark(f"latency: close to upload start, {args.n} files, stable_seconds = 1")
    with workdir("syncd-bench-latency-") as work:
        root = work / "archive"
        root.mkdir()
        with sandbox_process(work, watch_section(root)) as sb:
            require_ok(run_measured(syncd_argv(sb.config, "check")), "syncd check")
            daemon = Daemon(sb.config, work / "watch.log")
            peek = JournalPeek(work / "journal.db")
            try:
                daemon.wait_for_log("ready:")
                closed: dict[Path, float] = {}
                for i in range(args.n):
                    path = root / f"clip{i:03d}.mp4"
                    with open(path, "wb") as fh:
                        fh.write(os.urandom(64 * 1024))
                    closed[path] = time.time()
                    time.sleep(args.gap)
                latencies = []
                deadline = time.monotonic() + 300
                for path, at in closed.items():
                    while (started := peek.first_event_at(path, "uploading")) is None:
                        if time.monotonic() > deadline:
                            raise SystemExit(f"{path.name} never started uploading")
                        time.sleep(0.05)
                    latencies.append(started - at)
                landed = len(sb.items())
            finally:
                daemon.stop()
        if landed != args.n:
            raise SystemExit(f"{landed} items landed, expected {args.n}")
        median = statistics.median(latencies)
        p95 = percentile(latencies, 0.95)
        met = "met" if median < TARGET_MEDIAN else "MISSED"
        print(f"   files: {args.n}, all landed once")
        print(
            f"   close -> upload start: median {median:.2f} s, p95 {p95:.2f} s,"
            f" min {min(latencies):.2f} s, max {max(latencies):.2f} s"
        )
        print(f"   target: median < {TARGET_MEDIAN} s: {met}")


if __name__ == "__main__":
    main()
