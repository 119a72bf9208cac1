"""A real uvicorn process over loopback: start it, score a firm, read the record back, stop it."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from features.schema import example_profiles
from service.api.auth import create_key
from tests.local_server import ROOT, free_port, serve_process


def _start(model_dir: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str]:
    """`techscore serve` on a free port, ready: (process, url, officer key)."""
    _, key = create_key(tmp_path / "keys.json", "officer", "loop")
    port = free_port()
    env = os.environ | {"TECHSCORE_MODEL_DIR": str(model_dir), "TECHSCORE_KEYS_FILE": str(tmp_path / "keys.json"),
                        "TECHSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}", "PYTHONPATH": str(ROOT)}
    return serve_process(env, port, tmp_path / "server.log"), f"http://127.0.0.1:{port}", key


def _descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, theirs, …), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_serve_over_loopback(model_dir, tmp_path):
    proc, url, key = _start(model_dir, tmp_path)
    try:
        r = httpx.post(url + "/v1/scores", json=example_profiles()["mature"], headers={"X-API-Key": key})
        assert r.status_code == 200
        out = r.json()
        back = httpx.get(f"{url}/v1/assessments/{out['assessment_id']}", headers={"X-API-Key": key})
        assert back.json()["output"] == out
        assert httpx.post(url + "/v1/scores", json={}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_server_killed_with_sigkill_leaves_no_process_behind(model_dir, tmp_path):
    """The batch workers (and their fork server) end with the server, even when it cannot clean up."""
    proc, url, key = _start(model_dir, tmp_path)
    try:
        r = httpx.post(url + "/v1/scores/batch", json=list(example_profiles().values()), headers={"X-API-Key": key})
        assert r.status_code == 200 and r.json()["scored"] == 3
        below = _descendants(proc.pid)
        assert len(below) >= 2  # the fork server and a worker
    finally:
        proc.kill()
        proc.wait(timeout=30)
    deadline = time.time() + 60
    while _alive(below) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(below), "processes outlived the server"


def _alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has ended: it only waits to be reaped)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive
