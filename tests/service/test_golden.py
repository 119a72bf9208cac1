"""The golden corpus: every route gives the same bytes as when the corpus was recorded.

A fixed corpus (2000 generated firms with the generator's mess plus hand-made edge rows, in
`golden/firms.csv.gz`) is scored with a fixed bundle (`golden/model/`) by the command line (local
and Dask engines), the API's CSV upload, its JSON batch and single routes, what-if and next-grade.
Each route's reply, with only the per-request identifiers blanked, must hash to the digest recorded
in `golden/digests.json`: a refactor that changes one byte of any answer fails here, naming the route.

A deliberate change of answers is re-recorded (and the diff of the written replies reviewed) with

    TECHSCORE_GOLDEN_RECORD=/tmp/golden-out .venv/bin/python -m pytest tests/service/test_golden.py

which writes every reply into that folder and the new digests into `golden/digests.json`.

The digests hold for one machine and set of installed packages: on 2026-12-02 a new machine (fresh
installs of the same requirements) gave other bytes for every scored reply at an unchanged revision,
the command line's included. When the corpus fails on a revision that passed elsewhere, re-record on
that revision first (a `git worktree` of it, run with this venv and `PYTHONPATH` pointing at it), then
check the change against those digests: a refactor must still give the same bytes as its base.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.trust import trust_bundle
from service.api.app import create_app
from service.api.auth import create_key
from service.api.settings import Settings

pytestmark = pytest.mark.slow
GOLDEN = Path(__file__).with_name("golden")
AS_OF = "2026-06-30"
RECORD = os.environ.get("TECHSCORE_GOLDEN_RECORD")
IDS = [  # per-request values: new on every call, blanked before hashing
    (re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'), b'"<id>"'),
    (re.compile(rb'"assessed_at":"[^"]*"'), b'"assessed_at":"<t>"'),
]
WHAT_IF = {"invention_patents_granted": "+2", "rd_expense_y0": "+20%"}
SAMPLE = 100  # firms sent through what-if and next-grade (each answer searches many candidates)


def _blank(body: bytes) -> bytes:
    for pattern, repl in IDS:
        body = pattern.sub(repl, body)
    return body


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("golden")
    shutil.copytree(GOLDEN / "model", d / "model")
    (d / "firms.csv").write_bytes(gzip.decompress((GOLDEN / "firms.csv.gz").read_bytes()))
    return d


@pytest.fixture(scope="module")
def replies() -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    yield got
    if RECORD:
        out = Path(RECORD)
        out.mkdir(parents=True, exist_ok=True)
        for name, body in got.items():
            (out / name).write_bytes(body)
        digests = {name: hashlib.sha256(body).hexdigest() for name, body in sorted(got.items())}
        (GOLDEN / "digests.json").write_text(json.dumps(digests, indent=1) + "\n")


def _check(replies: dict[str, bytes], name: str, body: bytes) -> None:
    assert replies.setdefault(name, body) == body, f"{name}: two engines of one run disagree"
    if not RECORD:
        expected = json.loads((GOLDEN / "digests.json").read_text())[name]
        assert hashlib.sha256(body).hexdigest() == expected, f"{name}: the reply differs from the golden corpus"


def _cli(work: Path, *extra: str) -> None:
    techscore = Path(sys.executable).with_name("techscore")
    r = subprocess.run([str(techscore), "score", str(work / "firms.csv"), "--model", str(work / "model"),
                        "--as-of", AS_OF, "--quiet", *extra], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_command_line(work, replies, engine):
    out = work / f"{engine}.csv"
    _cli(work, "-o", str(out), "--engine", engine, "--workers", "2" if engine == "dask" else "1")
    _check(replies, "cli.scored.csv", out.read_bytes())
    _check(replies, "cli.rejects.csv", out.with_name(f"{engine}.rejects.csv").read_bytes())


@pytest.fixture(scope="module")
def api(work, tmp_path_factory):
    registry = work / "trusted.json"
    trust_bundle(str(registry), work / "model")
    key = create_key(work / "keys.json", "officer", "golden")[1]
    settings = Settings(model_dir=work / "model", database_url=f"sqlite:///{work / 'audit.db'}",
                        keys_file=work / "keys.json", trusted_bundles_file=registry)
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        yield client


@pytest.fixture(scope="module")
def profiles(work) -> list[dict[str, str]]:
    import pandas as pd

    frame = pd.read_csv(work / "firms.csv", dtype=str, keep_default_na=False)
    return [{k: v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]


def test_csv_upload(work, api, replies):
    r = api.post("/v1/scores/csv", files={"file": ("firms.csv", (work / "firms.csv").read_bytes(), "text/csv")})
    assert r.status_code == 200, r.text
    _check(replies, "api.csv", _blank(r.content))


def test_json_batch(api, profiles, replies):
    bodies = []
    for start in range(0, len(profiles), 1000):
        r = api.post("/v1/scores/batch", json=profiles[start:start + 1000])
        assert r.status_code == 200, r.text
        bodies.append(_blank(r.content))
    _check(replies, "api.batch.jsonl", b"\n".join(bodies))


def test_single_route(api, profiles, replies):
    bodies = []
    for p in profiles:
        r = api.post("/v1/scores", json=p)
        bodies.append(b"%d " % r.status_code + _blank(r.content))
    _check(replies, "api.single.jsonl", b"\n".join(bodies))


@pytest.mark.parametrize("route", ["what-if", "next-grade"])
def test_decision_routes(api, profiles, replies, route):
    bodies = []
    for p in profiles[::len(profiles) // SAMPLE]:
        body = {"profile": p, "changes": WHAT_IF} if route == "what-if" else {"profile": p}
        r = api.post(f"/v1/scores/{route}", json=body)
        bodies.append(b"%d " % r.status_code + _blank(r.content))
    _check(replies, f"api.{route}.jsonl", b"\n".join(bodies))
