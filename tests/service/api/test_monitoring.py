import json

import pytest
from fastapi.testclient import TestClient

from features.clean import CleanColumns
from features.validate import validate_frame
from models.bundle import load_bundle
from models.drift import DriftReference
from models.scoring import Scorer
from service.api.app import create_app
from service.api.auth import create_key
from service.api.monitoring import DriftMonitor
from service.api.settings import Settings


def test_monitor_records_every_scoring_path(model_dir, portfolio):
    bundle, _ = load_bundle(model_dir)
    scorer = Scorer(bundle)
    monitor = DriftMonitor(window=500, min_rows=50)
    monitor.attach(scorer)
    monitor.attach(scorer)  # idempotent: one listener
    assert monitor.report(scorer)["status"] == "insufficient_data"
    clean = validate_frame(portfolio.head(800)).frame
    batch = scorer.score(CleanColumns.from_frame(clean))
    out = monitor.report(scorer)
    assert out["n"] == 500 and out["model_version"] == scorer.version
    expected = DriftReference.from_dict(bundle.extras["drift_reference"]).compare(batch.values[-500:], batch.score[-500:])
    assert out["score"] == expected["score"] and out["features"] == expected["features"]


@pytest.fixture()
def client(model_dir, tmp_path):
    keys = tmp_path / "keys.json"
    _, secret = create_key(keys, "officer")
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{tmp_path / 'audit.db'}", keys_file=keys)
    with TestClient(create_app(settings)) as c:
        c.headers["X-API-Key"] = secret
        yield c


def test_drift_endpoint_reflects_scored_firms(client, portfolio):
    assert client.get("/v1/monitoring/drift").json()["status"] == "insufficient_data"
    rows = json.loads(portfolio.head(150).drop(columns=["default_12m", "true_pd"]).to_json(orient="records", date_format="iso"))
    r = client.post("/v1/scores/batch", json=rows)
    assert r.status_code == 200, r.text
    scored = r.json()["scored"]
    drift = client.get("/v1/monitoring/drift").json()
    assert drift["n"] == scored >= 100
    assert drift["status"] in {"stable", "watch", "act"} and drift["thresholds"] == {"watch": 0.1, "act": 0.25}
    assert len(drift["features"]) == len(load_bundle(client.app.state.api.settings.model_dir)[0].feature_names)


def test_model_report_endpoint(client, model_dir):
    r = client.get("/v1/model/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "data:image/png;base64," in r.text and 'data-metric="champion.auc"' in r.text
    numbers = client.get("/v1/model/report", params={"format": "json"}).json()
    assert numbers == json.loads((model_dir / "metrics.json").read_text())["validation"]


def test_monitoring_needs_a_key(client):
    del client.headers["X-API-Key"]
    assert client.get("/v1/monitoring/drift").status_code == 401
    assert client.get("/v1/model/report").status_code == 401
