"""A real uvicorn process over loopback: start it, score a firm, read the record back, stop it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from features.schema import example_profiles
from service.api.auth import create_key

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_over_loopback(model_dir, tmp_path):
    _, key = create_key(tmp_path / "keys.json", "officer", "loop")
    port = _free_port()
    env = os.environ | {"TECHSCORE_MODEL_DIR": str(model_dir), "TECHSCORE_KEYS_FILE": str(tmp_path / "keys.json"),
                        "TECHSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}", "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        r = httpx.post(url + "/v1/scores", json=example_profiles()["mature"], headers={"X-API-Key": key})
        assert r.status_code == 200
        out = r.json()
        back = httpx.get(f"{url}/v1/assessments/{out['assessment_id']}", headers={"X-API-Key": key})
        assert back.json()["output"] == out
        assert httpx.post(url + "/v1/scores", json={}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert "Traceback" not in (tmp_path / "server.log").read_text()
