"""Issue 4: many small files — files/second of `syncd push --no-wait` versus a sequential loop
of signed `curl -F` uploads to the same sandbox.

    .venv/bin/python bench/many.py [N] [SIZE] [--concurrency C] [--curl-sample K]

syncd's figure is end to end: scan, hash, upload and journal of every file, one process.
The curl loop uploads the same files one after another, one process per file, as a shell
script would (`--curl-sample K` times only the first K files; the rate is per file either
way). Prints figures next to the issue's target; asserts nothing about time.

syncd runs twice: as configured (before each file's first upload it asks the site whether
the content is there already, and after it whether another host uploaded it too: issue 12)
and with `[upload] lookup_before_upload = false`; the difference is what those lookups
cost, printed beside the other figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# `python bench/many.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import (
    CurlUploader,
    Measured,
    SandboxProcess,
    human_size,
    make_many_files,
    parse_size,
    require_ok,
    run_measured,
    sandbox_process,
    start_benchmark,
    syncd_argv,
    verdict,
    workdir,
)

DEFAULT_COUNT = 2000
DEFAULT_SIZE = "64KiB"
TARGET_RATIO = 3.0  # syncd files/s at least 3x the curl loop's


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("count", nargs="?", type=int, default=DEFAULT_COUNT, help="files (2000)")
    p.add_argument("size", nargs="?", default=DEFAULT_SIZE, help="bytes per file (64KiB)")
    p.add_argument("--concurrency", type=int, default=None, help="syncd workers (config: 4)")
    p.add_argument("--curl-sample", type=int, default=0, help="curl only the first K files")
    args = p.parse_args(argv)
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        p.error(str(exc))
    if args.count < 1 or size < 8:
        p.error("N must be >= 1 and SIZE >= 8 bytes")

    start_benchmark(f"many: {args.count} files of {human_size(size)}")
    with workdir("syncd-bench-many-") as work:
        tree = work / "tree"
        started = time.perf_counter()
        paths = make_many_files(tree, args.count, size)
        print(f"   generated in {time.perf_counter() - started:.1f} s (page cache)")
        with sandbox_process(work) as sb:
            push = ["push", "--no-wait", "--json", "--mode", "direct", str(tree)]
            if args.concurrency:
                push[1:1] = ["--concurrency", str(args.concurrency)]
            syncd, sb_cpu_syncd, lists = push_once(sb, sb.config, push, args.count)
            plain = without_lookups(sb.config, work)
            bare, sb_cpu_bare, bare_lists = push_once(sb, plain, push, args.count)

            curl = CurlUploader(sb.config)
            sample = paths[: args.curl_sample] if args.curl_sample > 0 else paths
            sb_cpu = sb.cpu_seconds()
            started = time.perf_counter()
            curl_cpu = 0.0
            for path in sample:
                curl_cpu += curl.upload(path, path.stem).cpu
            curl_wall = time.perf_counter() - started
            sb_cpu_curl = sb.cpu_seconds() - sb_cpu
            landed = len(sb.items())
            if landed != len(sample):
                raise SystemExit(f"curl loop landed {landed} of {len(sample)} files")
            sb.reset()

    syncd_rate = args.count / syncd.wall
    curl_rate = len(sample) / curl_wall
    ratio = syncd_rate / curl_rate
    print(
        f"-- syncd push ({args.concurrency or 'config'} workers): {syncd.wall:.2f} s, "
        f"{syncd_rate:.1f} files/s, client cpu {syncd.cpu:.2f} s "
        f"({1000 * syncd.cpu / args.count:.2f} ms/file), rss {human_size(syncd.maxrss)}; "
        f"sandbox cpu {sb_cpu_syncd:.2f} s"
    )
    extra = syncd.wall - bare.wall
    print(
        f"-- the same push without lookups (lookup_before_upload = false): {bare.wall:.2f} s, "
        f"{args.count / bare.wall:.1f} files/s, client cpu {bare.cpu:.2f} s "
        f"({1000 * bare.cpu / args.count:.2f} ms/file); sandbox cpu {sb_cpu_bare:.2f} s"
    )
    print(
        f"-- lookups before/after each first upload: {lists - bare_lists} photo/list requests "
        f"({(lists - bare_lists) / args.count:.1f} per file), {extra:+.2f} s wall "
        f"({100 * extra / bare.wall:+.0f} %), "
        f"{1000 * (syncd.cpu - bare.cpu) / args.count:+.2f} ms client cpu per file"
    )
    print(
        f"-- curl loop ({len(sample)} files): {curl_wall:.2f} s, {curl_rate:.1f} files/s, "
        f"curl cpu {curl_cpu:.2f} s; sandbox cpu {sb_cpu_curl:.2f} s"
    )
    print(
        f"-- syncd / curl loop: {ratio:.2f}x [target >= {TARGET_RATIO}: "
        f"{verdict(ratio >= TARGET_RATIO)}]"
    )
    return 0


def push_once(
    sb: SandboxProcess, config: Path, push: list[str], count: int
) -> tuple[Measured, float, int]:
    """One measured push of the whole tree with a fresh journal to an empty site, then the
    site emptied again: (measure, sandbox cpu seconds, photo/list requests)."""
    sb_cpu = sb.cpu_seconds()
    measured = require_ok(run_measured(syncd_argv(config, *push)), "syncd push")
    sb_cpu = sb.cpu_seconds() - sb_cpu
    landed = len(sb.items())
    if landed != count:
        raise SystemExit(f"syncd push landed {landed} of {count} files")
    lists = sum(1 for r in sb.requests() if r["method"] == "photo/list")
    sb.reset()
    return measured, sb_cpu, lists


def without_lookups(config: Path, work: Path) -> Path:
    """A copy of the config with the lookups off and a journal of its own."""
    text = config.read_text(encoding="utf-8")
    text = text.replace(str(work / "journal.db"), str(work / "journal-without-lookups.db"))
    plain = work / "syncd-without-lookups.toml"
    plain.write_text(text + "\n[upload]\nlookup_before_upload = false\n", encoding="utf-8")
    plain.chmod(0o600)
    return plain


if __name__ == "__main__":
    sys.exit(main())
