"""POST /v1/scores/batch scored in worker processes: the event loop answers meanwhile, a dead worker is a 503
and is replaced, the worker scores only the bundle the server admitted, and the drift window counts its firms."""
from __future__ import annotations

import os
import pickle
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from features.schema import example_profiles
from models.bundle import DATA_FILE
from service.api.app import create_app
from service.api.errors import ApiProblem

FIRMS = list(example_profiles().values())
WAIT_SECONDS = 120  # a bound on waiting for a state the test causes: past it the test fails, it never hangs


@pytest.fixture()
def batch_app(settings, tmp_path):
    """An app of its own (own audit file) allowing a 1000-firm batch."""
    mine = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'audit.db'}", "batch_limit": 1000,
                                       "max_body_bytes": 16 << 20})
    with TestClient(create_app(mine)) as client:
        yield client


def _worker_pid(client: TestClient) -> int:
    """The pid of the app's one batch worker (started by a first batch, which also loads the model there)."""
    api = client.app.state.api
    assert api.batches.processes == 1
    return client.portal.call(api.batches.run, os.getpid)


def _until(condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the state the test waits for never came"
        time.sleep(0.01)


def test_healthz_is_answered_while_a_1000_firm_batch_is_scored(batch_app, keys):
    """The batch's worker is stopped (SIGSTOP) while it holds the batch: /healthz is answered meanwhile,
    and the batch once the worker goes on."""
    api, order = batch_app.app.state.api, []
    pid = _worker_pid(batch_app)
    firms = [FIRMS[i % 3] for i in range(1000)]
    os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(batch_app.post, "/v1/scores/batch", json=firms, headers=keys.h())
            _until(lambda: api.batches.running == 1)
            order.append(f"healthz {batch_app.get('/healthz').status_code}")
            order.append(f"batch still running: {not job.done()}")
            os.kill(pid, signal.SIGCONT)
            r = job.result()
    finally:
        os.kill(pid, signal.SIGCONT)
    order.append(f"batch {r.status_code}")
    assert order == ["healthz 200", "batch still running: True", "batch 200"]
    assert r.json()["scored"] == 1000


def test_a_worker_killed_mid_batch_is_a_503_and_the_next_batch_is_scored(batch_app, keys):
    api = batch_app.app.state.api
    pid = _worker_pid(batch_app)
    os.kill(pid, signal.SIGSTOP)  # held, so that the batch is surely inside it when it is killed
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(batch_app.post, "/v1/scores/batch", json=FIRMS, headers=keys.h())
        _until(lambda: api.batches.running == 1)
        os.kill(pid, signal.SIGKILL)
        r = job.result()
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "1" and "retry" in r.json()["detail"] and "重试" in r.json()["detail"]
    again = batch_app.post("/v1/scores/batch", json=FIRMS, headers=keys.h())
    assert again.status_code == 200 and again.json()["scored"] == 3
    assert _worker_pid(batch_app) != pid
    assert all(a["assessment"]["assessment_id"] for a in again.json()["results"])


def test_the_worker_refuses_a_bundle_changed_on_disk_after_the_server_admitted_it(settings, tmp_path, keys):
    """The worker loads the model itself, pinned to the manifest the server checked: a file changed since
    (before the first batch) makes the batch a 503 asking for a reload, never a score from other files."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(settings.model_dir, model)
    mine = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'audit.db'}", "model_dir": model})
    with TestClient(create_app(mine)) as client:
        data = model / DATA_FILE
        data.write_bytes(data.read_bytes() + b" ")
        r = client.post("/v1/scores/batch", json=FIRMS[:1], headers=keys.h())
        assert r.status_code == 503 and "reload" in r.json()["detail"] and "重新加载" in r.json()["detail"]
        assert client.post("/v1/scores", json=FIRMS[0], headers=keys.h()).status_code == 200  # loaded before


def test_the_drift_window_counts_the_firms_scored_in_the_workers(batch_app, keys):
    api = batch_app.app.state.api
    scorer = api.scoring().model.scorer
    before = api.monitor.report(scorer)["n"]
    firms = [FIRMS[i % 3] for i in range(120)] + [{"firm_id": "bad", "revenue_y0": -1}]
    r = batch_app.post("/v1/scores/batch", json=firms, headers=keys.h())
    assert r.status_code == 200 and r.json()["scored"] == 120
    assert api.monitor.report(scorer)["n"] == before + 120


def test_a_problem_crosses_the_process_boundary_whole():
    problem = ApiProblem(422, "bad", [{"field": "x", "rule": "ge:0"}], {"Retry-After": "5"})
    back = pickle.loads(pickle.dumps(problem))
    assert (back.status, back.detail, back.errors, back.headers) == (422, "bad", [{"field": "x", "rule": "ge:0"}],
                                                                      {"Retry-After": "5"})
