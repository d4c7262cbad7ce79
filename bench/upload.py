"""Issue 3: one big file through `syncd push` versus a signed `curl -F` to the same sandbox.

    .venv/bin/python bench/upload.py [SIZE] [--mode direct|chunked|token] [--chunk-size 8MiB]
                                     [--repeat N]

Phases, each a fresh journal against one sandbox (a separate process, reset between runs):
  1. start-up: `syncd push --dry-run` of an empty folder (interpreter, imports, journal);
  2. scan: `syncd push --dry-run` of the file, which hashes it into the journal;
  3. upload: the real `syncd push --no-wait`, which only uploads (the hash is journalled);
  4. curl: one signed `curl -F file=@...` to /api/photo/upload.
With --mode chunked or token, phase 3 also runs in direct mode for the chunked-vs-direct
ratio. Prints figures next to the issue's targets; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

# `python bench/upload.py` puts bench/ first on sys.path: `common` is bench/common.py.
from common import (
    CurlUploader,
    GiB,
    Measured,
    MiB,
    SandboxProcess,
    human_size,
    make_big_file,
    parse_size,
    require_ok,
    run_measured,
    sandbox_process,
    start_benchmark,
    syncd_argv,
    verdict,
    workdir,
)

DEFAULT_SIZE = "1GiB"
# Targets from the issue.
TARGET_CPU_PER_GIB = 0.4  # client CPU seconds per GiB uploaded
TARGET_RSS_BYTES = 100 * MiB  # peak RSS, stated for a 2 GiB file
OVERHEAD_FILE_BYTES = 4096  # the file of the per-run overhead push
TARGET_CHUNKED_VS_DIRECT = 0.90  # chunked throughput at least 90% of direct


def fresh_journal(sb: SandboxProcess, work: Path, name: str) -> Path:
    """A copy of the sandbox's config pointing at a new journal (each run starts clean)."""
    text = sb.config.read_text(encoding="utf-8")
    old = str(work / "journal.db")
    new = str(work / f"journal-{name}.db")
    config = work / f"syncd-{name}.toml"
    config.write_text(text.replace(old, new), encoding="utf-8")
    config.chmod(0o600)
    return config


def check_landed(sb: SandboxProcess, sha256: str, size: int, who: str) -> None:
    items = sb.items()
    if len(items) != 1 or items[0]["sha256"] != sha256 or items[0]["size"] != size:
        found = [(i["size"], i["sha256"][:12]) for i in items]
        raise SystemExit(f"{who}: expected one item {sha256[:12]} of {size} bytes, found {found}")


def syncd_scan(
    sb: SandboxProcess, work: Path, data: Path, mode: str, chunk_size: str, name: str
) -> tuple[Path, list[str], Measured]:
    """A fresh journal with the file hashed into it: (config, push options, scan measured)."""
    config = fresh_journal(sb, work, name)
    opts = ["--no-wait", "--mode", mode, "--chunk-size", chunk_size, str(data)]
    scan = require_ok(run_measured(syncd_argv(config, "push", "--dry-run", *opts)), "dry run")
    return config, opts, scan


def syncd_push(config: Path, opts: list[str]) -> Measured:
    return require_ok(run_measured(syncd_argv(config, "push", "--json", *opts)), "syncd push")


def per_run_overhead(sb: SandboxProcess, work: Path) -> Measured:
    """A push of one 4 KiB file: what every run costs besides moving the bytes (start-up,
    journal, scan, one request, the end-of-run poll)."""
    tiny = work / "tiny"
    tiny.mkdir()
    (tiny / "tiny.mp4").write_bytes(os.urandom(OVERHEAD_FILE_BYTES))
    config = fresh_journal(sb, work, "tiny")
    argv = syncd_argv(config, "push", "--no-wait", "--mode", "direct", str(tiny))
    return require_ok(run_measured(argv), "one-small-file push")


def settle(sb: SandboxProcess) -> None:
    """Empty the sandbox and flush dirty pages: otherwise the previous run's gigabyte is
    written back during the next one, and whoever runs second pays for it (seen: the
    sandbox's CPU per GiB varied 1.2-2.7 s with the order). Every contestant's upload starts
    right after this, so no contestant meets the VM's memory noise from a different
    distance (one set of runs saw the sandbox pay 0.4-0.6 s of system time at once and
    0.9-2.1 s after a 3 s pause; a later re-check saw noise either way: bench/README)."""
    sb.reset()
    os.sync()


def chunk_stream_rate(sb: SandboxProcess, chunk_size: int) -> float:
    """MiB/s between the first and the last chunk POST's arrival (the sandbox log has start
    times): the client's chunk pace, without the sandbox's final assembly (a second full
    copy and hash of the file, answered with the last chunk)."""
    starts = sorted(
        r["time"]
        for r in sb.requests()
        if r["method"] == "photo/redeem-upload-token" and r["http_method"] == "POST"
    )
    if len(starts) < 2:
        return float("nan")
    return (len(starts) - 1) * chunk_size / MiB / (starts[-1] - starts[0])


def mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds if seconds > 0 else float("inf")


def median_by_wall(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall)[len(runs) // 2]


def best_wall(runs: list[Measured]) -> float:
    """The fastest round: the one the VM's system-time noise (see settle) touched least."""
    return min(m.wall for m in runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("size", nargs="?", default=DEFAULT_SIZE, help="file size (default 1GiB)")
    p.add_argument("--mode", choices=["direct", "chunked", "token"], default="direct")
    p.add_argument("--chunk-size", default="8MiB", help="chunk size for chunked mode")
    p.add_argument("--repeat", type=int, default=1, help="runs of each phase (median shown)")
    args = p.parse_args(argv)
    try:
        size = parse_size(args.size)
        parse_size(args.chunk_size)
    except ValueError as exc:
        p.error(str(exc))
    if size <= 0 or args.repeat < 1:
        p.error("SIZE must be > 0 and --repeat >= 1")

    start_benchmark(f"upload: one {human_size(size)} file, mode {args.mode}")
    with workdir("syncd-bench-upload-") as work:
        data = work / "data"
        empty = work / "empty"
        data.mkdir()
        empty.mkdir()
        big = data / "big.mp4"
        sha256 = make_big_file(big, size)
        print(f"   generated {big.name}: {human_size(size)} sha256 {sha256[:16]}... (page cache)")
        modes = [args.mode] if args.mode == "direct" else [args.mode, "direct"]
        results: dict[str, list[tuple[Measured, Measured]]] = {m: [] for m in modes}
        curl_runs: list[Measured] = []
        streams: list[float] = []
        with sandbox_process(work) as sb:
            curl = CurlUploader(sb.config)
            startup = require_ok(
                run_measured(
                    syncd_argv(fresh_journal(sb, work, "empty"), "push", "--dry-run", str(empty))
                ),
                "start-up run",
            )
            overhead = per_run_overhead(sb, work)
            sb.reset()
            for i in range(args.repeat):
                # Rotate the order each round so no contestant always follows the same one.
                order = [*modes, "curl"]
                for who in order[i % len(order) :] + order[: i % len(order)]:
                    if who == "curl":
                        settle(sb)
                        cpu = sb.cpu_seconds()
                        curl_runs.append(curl.upload(big, "big"))
                        check_landed(sb, sha256, size, "curl")
                        _print_run(f"curl #{i + 1}", size, curl_runs[-1], sb.cpu_seconds() - cpu)
                        continue
                    # The scan (hashing) first, then settle: the upload starts at once.
                    config, opts, scan = syncd_scan(
                        sb, work, data, who, args.chunk_size, f"{who}{i}"
                    )
                    settle(sb)
                    cpu = sb.cpu_seconds()
                    runs = (scan, syncd_push(config, opts))
                    check_landed(sb, sha256, size, f"syncd {who}")
                    results[who].append(runs)
                    if who == "chunked":
                        streams.append(chunk_stream_rate(sb, parse_size(args.chunk_size)))
                    _print_run(f"syncd {who} #{i + 1}", size, runs[1], sb.cpu_seconds() - cpu)
            sb.reset()
        _report(args, size, startup, overhead, results, curl_runs, streams)
    return 0


def _print_run(label: str, size: int, m: Measured, server_cpu: float) -> None:
    # The sandbox's CPU shows when it, not the client, is the bottleneck (CPU ~ wall).
    print(
        f"   {label:<18} {m.wall:7.2f} s  {mib_s(size, m.wall):7.1f} MiB/s  "
        f"cpu {m.cpu:6.2f} s  rss {human_size(m.maxrss):>10}  sandbox cpu {server_cpu:5.2f} s"
    )
    sys.stdout.flush()


def _report(
    args: argparse.Namespace,
    size: int,
    startup: Measured,
    overhead: Measured,
    results: dict[str, list[tuple[Measured, Measured]]],
    curl_runs: list[Measured],
    streams: list[float],
) -> None:
    gib = size / GiB
    curl = median_by_wall(curl_runs)
    curl_rate = mib_s(size, curl.wall)
    print()
    print(
        f"   start-up (empty dry run): {startup.wall:.2f} s wall, {startup.cpu:.2f} CPU-s, "
        f"rss {human_size(startup.maxrss)}"
    )
    print(
        f"   per-run overhead (push of one {OVERHEAD_FILE_BYTES // 1024} KiB file): "
        f"{overhead.wall:.2f} s wall, {overhead.cpu:.2f} CPU-s"
    )
    rates: dict[str, float] = {}
    best_walls: dict[str, float] = {}
    curl_best = best_wall(curl_runs)
    moving_rates: dict[str, float] = {}  # without the per-run overhead
    for mode, runs in results.items():
        scan = median_by_wall([s for s, _ in runs])
        up = median_by_wall([u for _, u in runs])
        rate = mib_s(size, up.wall)
        rates[mode] = rate
        best_walls[mode] = best_wall([u for _, u in runs])
        total_wall = scan.wall + up.wall
        net_cpu = max(0.0, up.cpu - startup.cpu)
        print(f"-- syncd {mode}:")
        print(
            f"   scan (dry run, hashes): {scan.wall:.2f} s wall, {scan.cpu:.2f} CPU-s, "
            f"{mib_s(size, scan.wall):.0f} MiB/s"
        )
        moving = max(up.wall - overhead.wall, 1e-9)
        moving_rates[mode] = mib_s(size, moving)
        print(
            f"   upload phase: {up.wall:.2f} s, {rate:.1f} MiB/s "
            f"(without the per-run overhead: {moving:.2f} s, {mib_s(size, moving):.1f} MiB/s)"
        )
        print(f"   total incl. hashing: {total_wall:.2f} s, {mib_s(size, total_wall):.1f} MiB/s")
        print(
            f"   upload CPU: {up.cpu:.2f} s (user {up.user:.2f}, sys {up.sys:.2f}) = "
            f"{up.cpu / gib:.3f} CPU-s/GiB; without start-up {net_cpu / gib:.3f} CPU-s/GiB "
            f"[target <= {TARGET_CPU_PER_GIB}: {verdict(net_cpu / gib <= TARGET_CPU_PER_GIB)}]"
        )
        rss_note = "" if size >= 2 * GiB else " (target is stated for 2 GiB)"
        print(
            f"   peak RSS: upload {human_size(up.maxrss)}, scan {human_size(scan.maxrss)} "
            f"[target < 100 MiB{rss_note}: {verdict(up.maxrss < TARGET_RSS_BYTES)}]"
        )
        # The verdict compares best rounds: the noise here only ever adds time (system
        # time in the sandbox, landing on either contestant), so each one's fastest round
        # is the best estimate of what it costs; medians move with where the noise fell.
        best_ratio = curl_best / best_walls[mode]
        print(
            f"   vs curl: {best_ratio:.2f}x curl's throughput (best rounds), "
            f"{rate / curl_rate:.2f}x (medians) [target >= 1.0: {verdict(best_ratio >= 1.0)}]"
        )
    print("-- curl:")
    print(
        f"   {curl.wall:.2f} s, {curl_rate:.1f} MiB/s, cpu {curl.cpu:.2f} s "
        f"({curl.cpu / gib:.3f} CPU-s/GiB), rss {human_size(curl.maxrss)}"
    )
    if args.mode != "direct":
        ratio = rates[args.mode] / rates["direct"]
        best_ratio = best_walls["direct"] / best_walls[args.mode]
        ok = best_ratio >= TARGET_CHUNKED_VS_DIRECT
        print(
            f"-- {args.mode} vs direct: {best_ratio:.2f} (best rounds), {ratio:.2f} (medians) "
            f"[target >= {TARGET_CHUNKED_VS_DIRECT}: {verdict(ok)}] "
            f"(chunk size {args.chunk_size})"
        )
        if streams:
            stream = statistics.median(streams)
            print(
                f"   chunk streaming rate (first to last chunk request, before the sandbox "
                f"assembles the file): {stream:.1f} MiB/s = "
                f"{stream / curl_rate:.2f} of curl's whole-file rate"
            )


if __name__ == "__main__":
    sys.exit(main())
