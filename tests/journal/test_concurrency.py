"""claim() is exclusive across threads and processes; owner liveness is real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from syncd.journal import Journal, make_owner, owner_is_alive
from syncd.model import ItemState as S
from syncd.model import LocalFile

ROWS = 300
SHA = "cd" * 32

# A claimer process: claims until nothing is left, prints each claimed path.
CLAIMER = """
import sys
from pathlib import Path
from syncd.journal import Journal, make_owner
j = Journal.open(Path(sys.argv[1]))
owner = make_owner()
print("ready", flush=True)
sys.stdin.readline()  # start together
while (row := j.claim(owner, 60)) is not None:
    print(row.path, flush=True)
j.close()
"""


def fill(path: Path, n: int) -> None:
    with Journal.open(path) as j:
        j.observe_batch([LocalFile(f"/r/{i:05d}.mp4", 1, 1, i) for i in range(n)], "/r")
        for i in range(n):
            assert j.mark_ready(f"/r/{i:05d}.mp4", SHA, expect_size=1, expect_mtime_ns=1)


def test_claim_is_exclusive_across_8_threads(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    fill(path, ROWS)
    claimed: list[str] = []
    start = threading.Barrier(8)
    with Journal.open(path) as j:

        def worker(k: int) -> None:
            start.wait()
            while (row := j.claim(f"h:{k}:1", 60)) is not None:
                assert row.attempts == 1
                claimed.append(row.path)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert j.counts()[S.UPLOADING] == ROWS
    dupes = [p for p, n in Counter(claimed).items() if n > 1]
    assert dupes == []
    assert len(claimed) == ROWS


def test_claim_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    fill(path, ROWS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    claimed = [line for out in outputs for line in out]
    assert sorted(claimed) == sorted(set(claimed))  # nothing claimed twice
    assert len(claimed) == ROWS
    with Journal.open(path) as j:
        assert j.counts()[S.UPLOADING] == ROWS


def test_owner_liveness_with_real_processes(tmp_path: Path) -> None:
    me = make_owner()
    host, pid, start = me.rsplit(":", 2)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert owner_is_alive(me)
    # same pid, different start time: a recycled pid is not us
    assert not owner_is_alive(f"{host}:{pid}:{int(start) + 1}") or start == "0"
    # a process that has exited (and been reaped) is dead
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert not owner_is_alive(f"{host}:{child.stdout.strip()}:1")
    # killed but not yet reaped (a zombie) is dead too
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        zombie_owner = f"{host}:{zombie.pid}:0"
        assert owner_is_alive(zombie_owner)
        zombie.kill()
        deadline = time.monotonic() + 10
        while owner_is_alive(zombie_owner) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not owner_is_alive(zombie_owner)
    finally:
        zombie.kill()
        zombie.wait()
    assert not owner_is_alive(f"{host}:0:1")
    # another host: we cannot know, so alive until its lease expires
    assert owner_is_alive("some-other-host.example:1:1")
    assert not owner_is_alive("garbage")


def test_recover_dead_process_claim(tmp_path: Path) -> None:
    """A real worker process claims and is killed; its row is recovered before the lease ends."""
    path = tmp_path / "j.db"
    fill(path, 1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    script = (
        "import sys, os, signal\n"
        "from pathlib import Path\n"
        "from syncd.journal import Journal, make_owner\n"
        "j = Journal.open(Path(sys.argv[1]))\n"
        "assert j.claim(make_owner(), 3600) is not None\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], env=env, timeout=60)
    assert result.returncode == -9
    with Journal.open(path) as j:
        row = j.get("/r/00000.mp4")
        assert row is not None and row.state is S.UPLOADING
        assert j.recover_abandoned(is_owner_alive=owner_is_alive) == ["/r/00000.mp4"]
        row = j.get("/r/00000.mp4")
        assert row is not None and (row.state, row.attempts) == (S.RETRY, 1)
