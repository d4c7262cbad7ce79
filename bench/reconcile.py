"""Issue 14: `syncd reconcile` over a site of N items that match an archive of N files.

    .venv/bin/python bench/reconcile.py [N] [--size BYTES]

The archive is generated (N distinct small files), and the site is seeded with one item
per file through the sandbox's Python API before it starts (each carrying the file's bytes,
title and identity marker, as a finished push leaves them; no uploads). Then, each as a
`syncd` subprocess against the sandbox in its own process:

1. `reconcile --adopt` with no journal: the journal rebuilt from the site (zero uploads);
2. `push`: nothing to send (zero requests of any kind is the expectation);
3. `reconcile`: nothing to do (target: under 30 s);
4. 1 % drift made behind syncd's back (titles edited and items unpublished on the site,
   items deleted there, files rewritten locally), then `reconcile` repairing all of it;
5. `reconcile` again: in step.

Prints wall time, CPU, peak RSS and the requests the sandbox saw (by method) for each.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import sys
import time
from pathlib import Path

# `python bench/reconcile.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import (
    Measured,
    SandboxProcess,
    human_size,
    make_many_files,
    run_measured,
    sandbox_process,
    start_benchmark,
    syncd_argv,
    verdict,
    workdir,
)

from syncd.api.client import Client
from syncd.config import load_config
from syncd.model import identity_tag
from syncd.sandbox import Sandbox

DEFAULT_COUNT = 10_000
DEFAULT_SIZE = 64
TARGET_NOOP_SECONDS = 30.0
DRIFT_FRACTION = 0.01
UPLOAD_METHODS = ("photo/upload", "photo/redeem-upload-token", "photo/get-upload-token")


def seed(files: list[Path]):  # type: ignore[no-untyped-def]
    """prepare(data_dir): one item per file, as a finished push would have left it."""

    def prepare(data_dir: Path) -> None:
        started = time.perf_counter()
        sb = Sandbox(data_dir)
        try:
            for path in files:
                data = path.read_bytes()
                marker = identity_tag(hashlib.sha256(data).hexdigest())
                sb.add_item(data, title=path.stem, tags=[marker], filename=path.name)
        finally:
            sb.state.close()
        print(f"   {len(files)} items seeded in {time.perf_counter() - started:.1f} s (no HTTP)")

    return prepare


def step(sb: SandboxProcess, what: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> Measured:
    seen, cpu = len(sb.requests()), sb.cpu_seconds()
    m = run_measured(argv)
    if m.returncode not in ok:
        tail = (m.stderr or m.stdout)[-3000:]
        raise SystemExit(f"{what}: exit {m.returncode}\n{tail}")
    during = sb.requests()[seen:]
    by_method = collections.Counter(r["method"] for r in during)
    uploads = sum(by_method[m] for m in UPLOAD_METHODS)
    detail = ", ".join(f"{name} {n}" for name, n in by_method.most_common()) or "none"
    print(
        f"-- {what}: {m.wall:.2f} s wall, cpu {m.cpu:.2f} s, rss {human_size(m.maxrss)}, "
        f"sandbox cpu {sb.cpu_seconds() - cpu:.2f} s, exit {m.returncode}"
    )
    print(f"   requests: {len(during)} ({detail}); upload requests {uploads}")
    try:
        summary = json.loads(m.stdout).get("summary")
    except (ValueError, AttributeError):
        summary = None
    if summary is not None:
        print(f"   summary: {json.dumps(summary, sort_keys=True)}")
    sys.stdout.flush()
    return m


def make_drift(sb: SandboxProcess, files: list[Path], fraction: float) -> int:
    """About `fraction` of the items drift: a quarter each retitled and unpublished on the
    site, deleted on the site, and rewritten locally. Returns how many."""
    count = max(4, int(len(files) * fraction))
    chosen = files[:: max(1, len(files) // count)][:count]
    ids = {item["filename"]: str(item["photo_id"]) for item in sb.items()}
    quarter = max(1, count // 4)
    with Client(load_config(sb.config).site) as client:
        for n, path in enumerate(chosen):
            photo_id = ids[path.name]
            kind = min(3, n // quarter)
            if kind == 0:
                client.photo_update(photo_id, title=f"edited by hand {n}")
            elif kind == 1:
                client.photo_update(photo_id, published_p="0")
            elif kind == 2:
                client.photo_delete(photo_id)
            else:
                path.write_bytes(os.urandom(path.stat().st_size))
    return len(chosen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("count", nargs="?", type=int, default=DEFAULT_COUNT, help="items (10000)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="bytes per file (>= 8)")
    args = p.parse_args(argv)
    if args.count < 4 or args.size < 8:
        p.error("N must be >= 4 and --size >= 8")

    start_benchmark(f"reconcile: {args.count} items, files of {human_size(args.size)}")
    with workdir("syncd-bench-reconcile-") as work:
        tree = work / "tree"
        started = time.perf_counter()
        files = make_many_files(tree, args.count, args.size)
        print(f"   {args.count} files generated in {time.perf_counter() - started:.1f} s")
        with sandbox_process(work, prepare=seed(files)) as sb:
            run = [*syncd_argv(sb.config, "reconcile", "--no-wait", "--json"), str(tree)]
            adopt = step(sb, "reconcile --adopt, no journal", [*run[:-1], "--adopt", str(tree)])
            push = step(sb, "push after the rebuild", syncd_argv(sb.config, "push", str(tree)))
            del push
            noop = step(sb, "reconcile, nothing to do", run)
            drifted = make_drift(sb, files, DRIFT_FRACTION)
            print(f"   {drifted} items made to drift ({DRIFT_FRACTION:.0%})")
            repair = step(sb, "reconcile repairing the drift", run)
            step(sb, "reconcile again", run)
            landed = len(sb.items())

    print(
        f"== no-op reconcile: {noop.wall:.2f} s "
        f"[target < {TARGET_NOOP_SECONDS:.0f} s: {verdict(noop.wall < TARGET_NOOP_SECONDS)}]; "
        f"repair of {drifted}: {repair.wall:.2f} s; rebuild with --adopt: {adopt.wall:.2f} s; "
        f"{landed} items on the site at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
