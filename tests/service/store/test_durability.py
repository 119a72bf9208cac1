"""kill -9 of a real server mid-stream loses no answered assessment, on SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from features.schema import example_profiles
from service.api.auth import create_key
from service.store.audit import AuditStore
from tests.local_server import ROOT, free_port, ready, serve_process

KILL_AFTER = 40  # answers before the kill
TOTAL = 120


@pytest.mark.slow
def test_every_answered_assessment_survives_kill_9(model_dir, tmp_path, audit_url):
    _, key = create_key(tmp_path / "keys.json", "officer", "durable")
    env = os.environ | {"TECHSCORE_MODEL_DIR": str(model_dir), "TECHSCORE_KEYS_FILE": str(tmp_path / "keys.json"),
                        "TECHSCORE_DATABASE_URL": audit_url, "PYTHONPATH": str(ROOT)}
    port, log = free_port(), tmp_path / "server.log"
    proc = serve_process(env, port, log)
    answered: list[str] = []
    lock, killed = threading.Lock(), threading.Event()

    def one(_: int) -> None:
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/v1/scores", json=example_profiles()["startup"],
                           headers={"X-API-Key": key}, timeout=30)
        except httpx.HTTPError:
            return  # the server is gone: no answer, no promise
        if r.status_code == 200:
            with lock:
                answered.append(r.json()["assessment_id"])
                if len(answered) == KILL_AFTER and not killed.is_set():
                    killed.set()
                    proc.send_signal(signal.SIGKILL)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(TOTAL)))
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL and len(answered) >= KILL_AFTER
        proc = serve_process(env, port, log)  # the same store after the crash
        found = [a for a in answered
                 if httpx.get(f"http://127.0.0.1:{port}/v1/assessments/{a}", headers={"X-API-Key": key}).status_code == 200]
    finally:
        proc.kill()
        proc.wait()
    assert found == answered
    store = AuditStore(audit_url)
    assert set(answered) <= store.ids()
    store.close()


@pytest.mark.slow
def test_two_workers_share_one_postgresql_store(model_dir, tmp_path, pg_url):
    """`techscore serve --workers 2`: both workers write to and read from the one store."""
    _, key = create_key(tmp_path / "keys.json", "officer", "shared")
    env = os.environ | {"TECHSCORE_MODEL_DIR": str(model_dir), "TECHSCORE_KEYS_FILE": str(tmp_path / "keys.json"),
                        "TECHSCORE_DATABASE_URL": pg_url, "PYTHONPATH": str(ROOT)}
    port, log = free_port(), tmp_path / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        workers: set[str] = set()
        while len(workers) < 2:  # the worker processes have started
            assert proc.poll() is None, log.read_text()
            workers = set(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split())
            proc_wait(proc)
        while not ready(url):
            assert proc.poll() is None, log.read_text()
            proc_wait(proc)

        def one(_: int) -> str:
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them over the workers
                r = client.post(url + "/v1/scores", json=example_profiles()["growth"], headers={"X-API-Key": key})
                assert r.status_code == 200, r.text
                return r.json()["assessment_id"]

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(one, range(40)))
        assert all(httpx.get(f"{url}/v1/assessments/{a}", headers={"X-API-Key": key}).status_code == 200 for a in ids)
        assert len(workers) >= 2  # two workers (and multiprocessing's resource tracker)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    store = AuditStore(pg_url)
    assert set(ids) <= store.ids()
    with store.engine.connect() as conn:  # migrated once, by `serve` before its workers started
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    store.close()


def proc_wait(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        pass
