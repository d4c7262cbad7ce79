"""Chunks written in place with an incremental sha256: order, duplicates (also with other
bytes, also concurrent), file part before the fields, and a restart mid-session with --data."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from sb_helpers import call, ok

from syncd.sandbox import Sandbox
from syncd.sandbox.process import start_sandbox_process

CHUNK = 4096
REDEEM = "/api/photo/redeem-upload-token"


def _data(n_chunks: int, tail: int = 1234, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n_chunks * CHUNK + tail)


def _token(sb: Sandbox) -> str:
    resp = call(sb, "photo/get-upload-token", {"title": "in place"}, post=True)
    return ok(resp)["uploadtoken"]["upload_token"]


def _fields(token: str, data: bytes, n: int, ident: str = "f1") -> dict[str, Any]:
    return {
        "upload_token": token,
        "resumableChunkNumber": n,
        "resumableChunkSize": CHUNK,
        "resumableTotalSize": len(data),
        "resumableIdentifier": ident,
        "resumableFilename": "movie.mp4",
    }


def _part(data: bytes, n: int) -> bytes:
    total = max(1, len(data) // CHUNK)
    start = (n - 1) * CHUNK
    return data[start : start + CHUNK] if n < total else data[start:]


def _send(base: str, token: str, data: bytes, n: int, payload: bytes | None = None) -> str:
    resp = requests.post(
        base + REDEEM,
        data=_fields(token, data, n),
        files={"file": ("blob", _part(data, n) if payload is None else payload)},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.text


def _stored(sb: Sandbox) -> tuple[str, bytes]:
    (item,) = sb.items()
    return item["sha256"], Path(item["path"]).read_bytes()


def test_out_of_order_and_duplicates_hash_the_right_bytes(sandbox: Sandbox) -> None:
    data = _data(6)  # 6 chunks, the last one CHUNK + 1234 bytes
    token = _token(sandbox)
    base = sandbox.base_url
    garbage = bytes(CHUNK)
    # 1 at the prefix; 3 and 5 ahead of it; 2 fills the gap up to 4; a resent 1 carrying
    # other bytes must change neither the file nor the hash; 4 then 6 (the last) complete it.
    for n, payload in [(1, None), (3, None), (5, None), (1, garbage), (2, None), (3, garbage)]:
        assert "stored" in _send(base, token, data, n, payload)
        assert sandbox.items() == []
    assert "stored" in _send(base, token, data, 4)
    assert _send(base, token, data, 6).startswith("ok")
    sha, content = _stored(sandbox)
    assert content == data
    assert sha == hashlib.sha256(data).hexdigest()
    assert not list(sandbox.state.chunks_dir.iterdir())  # the session file became the item


def test_concurrent_duplicates_in_random_order(sandbox: Sandbox) -> None:
    data = _data(12, tail=5)
    token = _token(sandbox)
    order = [n for n in range(1, 13) for _ in range(3)]  # every chunk three times
    random.Random(3).shuffle(order)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: _send(sandbox.base_url, token, data, n), order))
    assert sum(a.startswith("ok") for a in answers) == 1
    sha, content = _stored(sandbox)
    assert content == data and sha == hashlib.sha256(data).hexdigest()


def test_file_part_before_the_fields_still_lands(sandbox: Sandbox) -> None:
    """The parser meets the file before the chunk's parameters: it goes to a temporary file
    and is copied into place afterwards."""
    data = _data(2, tail=10)
    token = _token(sandbox)
    for n in (2, 1):
        boundary = "b0undary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + _part(data, n)
            + b"\r\n"
        ]
        for k, v in _fields(token, data, n).items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
            parts.append(f"{head}{v}\r\n".encode())
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        resp = requests.post(
            sandbox.base_url + REDEEM,
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
    sha, content = _stored(sandbox)
    assert content == data and sha == hashlib.sha256(data).hexdigest()


def _start(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    started = start_sandbox_process(["--port", "0", "--data", str(data_dir), "--control"])
    return started.proc, started.base_url


def test_restart_mid_session_with_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    with Sandbox(data_dir) as sb:
        token = _token(sb)
    data = _data(5, tail=77)
    proc, base = _start(data_dir)
    try:
        for n in (1, 2, 4):  # 1, 2 hashed while streaming; 4 ahead of the prefix
            assert "stored" in _send(base, token, data, n)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only what is on disk counts
        proc.wait(timeout=10)
    proc, base = _start(data_dir)
    try:
        test = {k: v for k, v in _fields(token, data, 2).items() if k != "resumableFilename"}
        assert requests.get(base + REDEEM, params=test, timeout=30).status_code == 200
        test["resumableChunkNumber"] = 3
        assert requests.get(base + REDEEM, params=test, timeout=30).status_code == 204
        assert "stored" in _send(base, token, data, 2, payload=bytes(CHUNK))  # duplicate
        assert "stored" in _send(base, token, data, 3)
        assert _send(base, token, data, 5).startswith("ok")
        (item,) = requests.get(base + "/_sandbox/items", timeout=30).json()
        assert item["size"] == len(data)
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert Path(item["path"]).read_bytes() == data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_in_order_chunks_are_never_read_back(sandbox: Sandbox, monkeypatch: Any) -> None:
    """In order, each chunk is hashed while it streams in: completion re-reads nothing.
    Out of order, only the chunks that arrived ahead of the prefix are read back."""
    from syncd.sandbox import chunkstore

    reads: list[tuple[int, int]] = []
    real = chunkstore._hash_range

    def counted(path: Path, hasher: Any, start: int, end: int) -> Any:
        reads.append((start, end))
        return real(path, hasher, start, end)

    monkeypatch.setattr(chunkstore, "_hash_range", counted)
    data = _data(4, tail=3)
    token = _token(sandbox)
    for n in (1, 2, 3, 4):
        _send(sandbox.base_url, token, data, n)
    assert reads == []
    assert _stored(sandbox)[0] == hashlib.sha256(data).hexdigest()
    token = _token(sandbox)
    for n in (1, 3, 2, 4):
        _send(sandbox.base_url, token, data, n)
    assert reads == [(2 * CHUNK, 3 * CHUNK)]  # chunk 3 only
