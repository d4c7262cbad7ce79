"""Persistence across restarts, keep-alive, config file, and the command line."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import requests
from sb_helpers import call, ok, upload

from syncd.sandbox import Sandbox


def test_restart_keeps_items_and_credentials(tmp_path: Path) -> None:
    data = tmp_path / "state"
    sb = Sandbox(data).start()
    creds = sb.credentials("write")
    photo = upload(sb, title="kept")["photo_id"]
    sb.stop()
    sb2 = Sandbox(data).start()
    try:
        assert sb2.credentials("write") == creds
        assert [i["title"] for i in sb2.items()] == ["kept"]
        assert ok(call(sb2, "photo/list", {"photo_id": photo}, level="write"))["total_count"] == "1"
        assert upload(sb2)["photo_id"] != photo  # ids are not reused
    finally:
        sb2.stop()


def test_keep_alive_reuses_one_connection(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    sockets = set()
    for _ in range(5):
        conn.request("GET", "/api/site/get")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and not resp.will_close
        sockets.add(id(conn.sock))
    conn.close()
    assert len(sockets) == 1


def test_write_config(sandbox: Sandbox, tmp_path: Path) -> None:
    path = sandbox.write_config(tmp_path / "c.toml", level="admin", journal_path=tmp_path / "j.db")
    assert os.stat(path).st_mode & 0o777 == 0o600
    cfg = tomllib.loads(path.read_text())
    c = sandbox.credentials("admin")
    assert cfg["site"]["domain"] == sandbox.domain and cfg["site"]["scheme"] == "http"
    assert cfg["site"]["consumer_secret"] == c.consumer_secret
    assert cfg["journal"]["path"] == str(tmp_path / "j.db")
    assert c.consumer_secret not in repr(c)


def test_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "syncd.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd.sandbox",
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--control",
            "--faults",
            "echo:503:count=1",
            "--write-config",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        base = first.split()[-1]
        for _ in range(6):
            proc.stdout.readline()
        assert cfg.exists()
        assert requests.get(f"{base}/api/echo").status_code == 503
        assert requests.get(f"{base}/api/echo").status_code == 200
        assert requests.get(f"{base}/_sandbox/items").json() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "syncd.sandbox", "--port", "0", "--faults", "echo:nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "nonsense" in bad.stderr
