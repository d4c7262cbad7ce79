"""Issue 5: re-push of an unchanged tree — how long it takes and how many HTTP requests it makes.

    .venv/bin/python bench/rescan.py [N] [--size 16] [--concurrency C]

Pushes N tiny files once (timed too, for information), then pushes the same, unchanged tree
again and counts the requests the sandbox saw during the second push. Targets: under 5 s and
zero upload requests. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

# `python bench/rescan.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import (
    human_size,
    make_many_files,
    require_ok,
    run_measured,
    sandbox_process,
    start_benchmark,
    syncd_argv,
    verdict,
    workdir,
)

DEFAULT_COUNT = 10_000
DEFAULT_SIZE = 16  # bytes; distinct content per file (8-byte index stamp)
TARGET_SECONDS = 5.0
UPLOAD_METHODS = ("photo/upload", "photo/redeem-upload-token", "photo/get-upload-token")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("count", nargs="?", type=int, default=DEFAULT_COUNT, help="files (10000)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="bytes per file (>= 8)")
    p.add_argument("--concurrency", type=int, default=None, help="syncd workers (config: 4)")
    args = p.parse_args(argv)
    if args.count < 1 or args.size < 8:
        p.error("N must be >= 1 and --size >= 8")

    start_benchmark(f"rescan: {args.count} files of {human_size(args.size)}")
    with workdir("syncd-bench-rescan-") as work:
        tree = work / "tree"
        started = time.perf_counter()
        make_many_files(tree, args.count, args.size)
        print(f"   generated in {time.perf_counter() - started:.1f} s")
        # The first push skips the identity lookups before each first upload: the sandbox
        # answers one by scanning every item (a real site has an index), which made this
        # seeding take minutes at 10,000 files. The re-push, what is measured, asks nothing.
        with sandbox_process(work, "\n[upload]\nlookup_before_upload = false\n") as sb:
            push = syncd_argv(sb.config, "push", "--no-wait", "--json", "--mode", "direct")
            if args.concurrency:
                push += ["--concurrency", str(args.concurrency)]
            first = require_ok(run_measured([*push, str(tree)]), "first push")
            landed = len(sb.items())
            if landed != args.count:
                raise SystemExit(f"first push landed {landed} of {args.count} files")
            seen = len(sb.requests())
            second = require_ok(run_measured([*push, str(tree)]), "second push")
            during = sb.requests()[seen:]
            after = len(sb.items())

    by_method = collections.Counter(r["method"] for r in during)
    uploads = sum(by_method[m] for m in UPLOAD_METHODS)
    print(
        f"-- first push: {first.wall:.2f} s, {args.count / first.wall:.1f} files/s, "
        f"cpu {first.cpu:.2f} s, rss {human_size(first.maxrss)}"
    )
    print(
        f"-- re-push of the unchanged tree: {second.wall:.2f} s, cpu {second.cpu:.2f} s, "
        f"rss {human_size(second.maxrss)} "
        f"[target < {TARGET_SECONDS:.0f} s: {verdict(second.wall < TARGET_SECONDS)}]"
    )
    detail = ", ".join(f"{m} {n}" for m, n in by_method.most_common()) or "none"
    print(
        f"   HTTP requests during it: {len(during)} ({detail}); upload requests {uploads} "
        f"[target 0: {verdict(uploads == 0)}]; items on the site {after}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
