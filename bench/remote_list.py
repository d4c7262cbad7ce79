"""Issue 14 (listing): walk a site of N items with `RemoteFolder`, a few pages at a time,
beside the same walk one page at a time, in the same run against the same sandbox.

    .venv/bin/python bench/remote_list.py [N] [--concurrency C] [--repeat R] [--latency MS]

The items are created through the sandbox's Python API before it starts (no uploads), then
the sandbox runs as a process of its own. Each round walks the site once per contestant
(order rotating per round) and checks that the walk passed on exactly the N items. Prints
wall time, requests (as the walk counted them and as the sandbox logged them), and the
sandbox's CPU per walk; the summary compares each contestant's fastest round. Asserts
nothing about time.

Two settings: loopback as it is (where both ends share the machine's cores and latency is
nil), and with every photo/list answer held back --latency ms by the sandbox's `delay`
fault, as a site across the internet would answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# `python bench/remote_list.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import SandboxProcess, sandbox_process, start_benchmark, workdir

from syncd.config import load_config
from syncd.remote import DEFAULT_CONCURRENCY, RemoteFolder
from syncd.sandbox import Sandbox

DEFAULT_COUNT = 10_000
DEFAULT_REPEAT = 3
# A round trip to a site across the internet; the delay fault holds back each answer.
DEFAULT_LATENCY_MS = 50.0


def seed(count: int):  # type: ignore[no-untyped-def]
    """prepare(data_dir) for sandbox_process: `count` items, every tenth unpublished."""

    def prepare(data_dir: Path) -> None:
        started = time.perf_counter()
        sb = Sandbox(data_dir)
        try:
            for i in range(count):
                sb.add_item(title=f"item {i}", published=i % 10 != 0)
        finally:
            sb.state.close()
        print(f"   {count} items created in {time.perf_counter() - started:.1f} s (no HTTP)")

    return prepare


def one_walk(sb: SandboxProcess, concurrency: int, count: int) -> tuple[float, int, int, float]:
    """(wall seconds, requests counted by the walk, requests the sandbox saw, sandbox CPU)."""
    site = load_config(sb.config).site
    logged, cpu = len(sb.requests()), sb.cpu_seconds()
    with RemoteFolder.for_site(site, concurrency=concurrency) as folder:
        started = time.perf_counter()
        site_walk = folder.walk()
        ids = {item.photo_id for item in site_walk}
        wall = time.perf_counter() - started
    report = site_walk.report
    assert report is not None
    if len(ids) != count or report.items != count or not report.certified:
        raise SystemExit(f"the walk at concurrency {concurrency} passed on {len(ids)} items")
    seen = sum(1 for r in sb.requests()[logged:] if r["method"] == "photo/list")
    return wall, report.requests, seen, sb.cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("count", nargs="?", type=int, default=DEFAULT_COUNT, help="items (10000)")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="pages at once (4)")
    p.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="rounds (3)")
    p.add_argument("--latency", type=float, default=DEFAULT_LATENCY_MS, help="ms per answer (50)")
    args = p.parse_args(argv)
    if args.count < 0 or args.concurrency < 1 or args.repeat < 1 or args.latency <= 0:
        p.error("N must be >= 0, --concurrency and --repeat >= 1, --latency > 0")

    start_benchmark(f"remote listing: {args.count} items, {args.repeat} round(s)")
    contestants = [args.concurrency, 1]
    with (
        workdir("syncd-bench-list-") as work,
        sandbox_process(work, prepare=seed(args.count)) as sb,
    ):
        for latency_ms in (0.0, args.latency):
            if latency_ms:
                rule = {"method": "photo/list", "delay": latency_ms / 1000}
                sb.control("faults", rule)
            print(f"-- answers held back {latency_ms:g} ms:")
            walls = rounds(sb, contestants, args.count, args.repeat)
            for concurrency in contestants:
                label = "one page at a time" if concurrency == 1 else f"{concurrency} at a time"
                print(
                    f"   {label}: best {min(walls[concurrency]):.2f} s, "
                    f"median {statistics.median(walls[concurrency]):.2f} s"
                )
            speedup = min(walls[1]) / min(walls[args.concurrency])
            print(f"   speed-up of {args.concurrency} pages at a time: {speedup:.2f}x")
            sb.control("faults/clear", {})
    return 0


def rounds(
    sb: SandboxProcess, contestants: list[int], count: int, repeat: int
) -> dict[int, list[float]]:
    walls: dict[int, list[float]] = {c: [] for c in contestants}
    for round_number in range(repeat):
        order = contestants if round_number % 2 == 0 else contestants[::-1]
        for concurrency in order:
            wall, counted, logged, cpu = one_walk(sb, concurrency, count)
            walls[concurrency].append(wall)
            print(
                f"   round {round_number + 1}, {concurrency} page(s) at a time: "
                f"{wall:.2f} s, {counted} requests (sandbox saw {logged}), "
                f"{count / wall:,.0f} items/s, sandbox cpu {cpu:.2f} s"
            )
            sys.stdout.flush()
    return walls


if __name__ == "__main__":
    sys.exit(main())
