"""Upload a generated file (default 1 GiB) to a sandbox in a child process, streamed from a
generator (chunked transfer encoding), and print throughput and the sandbox's peak RSS growth.
A benchmark: prints figures, never asserts.

    .venv/bin/python bench/sandbox_memory.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import requests
from requests_oauthlib import OAuth1

from syncd.sandbox.process import start_sandbox_process

# Bytes per generated block: large enough that the client is not the bottleneck.
BLOCK = 4 << 20
# How often the sampler reads the server's RSS (seconds).
SAMPLE_EVERY = 0.05


def body(boundary: bytes, size: int) -> Iterator[bytes]:
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="format"\r\n\r\njson\r\n'
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="raw"\r\n\r\n1\r\n'
    yield (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"'
        b"\r\nContent-Type: video/mp4\r\n\r\n"
    )
    block = os.urandom(BLOCK)
    sent = 0
    while sent < size:
        n = min(BLOCK, size - sent)
        yield block[:n]
        sent += n
    yield b"\r\n--" + boundary + b"--\r\n"


def main() -> int:
    size = int(float(sys.argv[1]) * (1 << 20)) if len(sys.argv) > 1 else 1 << 30
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "c.toml"
        args = ["--port", "0", "--data", f"{tmp}/d", "--write-config", str(cfg)]
        started = start_sandbox_process(args)
        proc, base = started.proc, started.base_url
        try:
            import tomllib

            site = tomllib.loads(cfg.read_text())["site"]
            auth = OAuth1(
                site["consumer_key"],
                site["consumer_secret"],
                site["access_token"],
                site["access_token_secret"],
            )
            server = psutil.Process(proc.pid)
            before = server.memory_info().rss
            peak = before
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, server.memory_info().rss)
                    time.sleep(SAMPLE_EVERY)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            boundary = b"benchboundary1234567890"
            start = time.perf_counter()
            resp = requests.post(
                f"{base}/api/photo/upload",
                data=body(boundary, size),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"},
                auth=auth,
                timeout=600,
            )
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
            print(f"status: {resp.status_code} {resp.text[:120]}")
            print(
                f"uploaded: {size / (1 << 20):.0f} MiB in {elapsed:.2f} s "
                f"= {size / (1 << 20) / elapsed:.0f} MiB/s (chunked transfer encoding)"
            )
            print(
                f"sandbox RSS: before {before / (1 << 20):.1f} MiB, peak {peak / (1 << 20):.1f} "
                f"MiB, growth {(peak - before) / (1 << 20):.1f} MiB"
            )
        finally:
            started.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
