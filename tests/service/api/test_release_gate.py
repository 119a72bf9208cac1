"""A bundle whose release verdict is not_ready is served only with an explicit, recorded admin override."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.trust import trust_bundle
from service.api.app import create_app
from service.cli.main import app as cli
from service.api.release_gate import NotReadyError, admit

REASONS = ["grade A: observed default rate 7.50% is above its mean PD 0.40% (one-sided binomial p = 0.0001)"]


@pytest.fixture()
def not_ready(model_dir, tmp_path):
    """The session's bundle with the manifest's verdict set to not_ready, registered as trusted."""
    d = tmp_path / "not_ready"
    shutil.copytree(model_dir, d)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["metrics"]["release"] = {"release": "not_ready", "reasons": REASONS, "notes": []}
    (d / "manifest.json").write_text(json.dumps(manifest))
    trust_bundle(os.environ["TECHSCORE_TRUSTED_BUNDLES_FILE"], d)  # a changed manifest is another bundle
    return d


def test_admit_refuses_without_override_and_records_one(not_ready, tmp_path):
    manifest = json.loads((not_ready / "manifest.json").read_text())
    record = tmp_path / "audit" / "overrides.jsonl"
    with pytest.raises(NotReadyError, match="not ready for release: grade A"):
        admit(manifest, not_ready, False, "nobody", record)
    assert not record.exists()
    admit(manifest, not_ready, True, "admin key admin-1", record)
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["by"] == "admin key admin-1" and lines[0]["reasons"] == REASONS
    assert lines[0]["model_version"] == manifest["version"] and lines[0]["event"] == "release_override"
    ready = {**manifest, "metrics": {**manifest["metrics"], "release": {"release": "ready", "reasons": []}}}
    assert admit(ready, not_ready, False, "x", record) is None and len(record.read_text().splitlines()) == 1


def test_service_start_and_reload_need_the_override(settings, not_ready, model_dir, keys, tmp_path):
    record = tmp_path / "overrides.jsonl"
    base = settings.model_copy(update={"model_dir": not_ready, "release_overrides_file": record})
    with TestClient(create_app(base)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "not ready for release" in r.text
    assert not record.exists()
    with TestClient(create_app(base.model_copy(update={"allow_not_ready": True}))) as c:
        assert c.get("/readyz").status_code == 200
    assert json.loads(record.read_text())["by"] == "TECHSCORE_ALLOW_NOT_READY at start-up"
    with TestClient(create_app(base.model_copy(update={"model_dir": model_dir, "models_root": not_ready.parent}))) as c:
        r = c.post("/v1/model/reload", json={"model_dir": not_ready.name}, headers=keys.h("admin"))
        assert r.status_code == 409 and "not ready for release" in r.json()["detail"]
        r = c.post("/v1/model/reload", json={"model_dir": not_ready.name, "override_not_ready": True}, headers=keys.h("admin"))
        assert r.status_code == 200
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert [x["by"] for x in lines] == ["TECHSCORE_ALLOW_NOT_READY at start-up", "admin key admin-1"]


def test_cli_serve_refuses_a_not_ready_bundle(not_ready, monkeypatch):
    monkeypatch.delenv("TECHSCORE_ALLOW_NOT_READY", raising=False)
    monkeypatch.setenv("TECHSCORE_MODEL_DIR", "unset")  # serve sets it; monkeypatch puts it back
    r = CliRunner().invoke(cli, ["serve", "--model", str(not_ready)])
    assert r.exit_code == 2 and "--allow-not-ready" in r.output
