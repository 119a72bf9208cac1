import json

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.auth import create_key
from service.api.settings import Settings
from training.synthetic_tabular import generate_loan_book


@pytest.fixture()
def generic_client(book_model, tmp_path):
    keys = tmp_path / "keys.json"
    _, secret = create_key(keys, "officer")
    settings = Settings(model_dir=book_model / "model", database_url=f"sqlite:///{tmp_path / 'audit.db'}", keys_file=keys)
    with TestClient(create_app(settings)) as c:
        c.headers["X-API-Key"] = secret
        yield c


def test_generic_model_scores_rows_with_reasons_and_audit(generic_client):
    rows = json.loads(generate_loan_book(5, seed=21).drop(columns=["defaulted"]).to_json(orient="records"))
    rows[2]["credit_amount"] = "a lot"
    r = generic_client.post("/v1/scores/rows", json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["scored"], body["rejected"]) == (4, 1)
    bad = body["results"][2]
    assert not bad["ok"] and bad["errors"][0]["field"] == "credit_amount" and bad["errors"][0]["rule"] == "number"
    first = body["results"][0]["assessment"]
    assert first["firm_id"] == rows[0]["loan_id"]
    assert [d["key"] for d in first["dimensions"]] == ["applicant", "loan"]
    assert first["score"] == pytest.approx(first["base_points"] + sum(d["points"] for d in first["dimensions"]) + first["clip_points"])
    stored = generic_client.get(f"/v1/assessments/{first['assessment_id']}")
    assert stored.status_code == 200 and stored.json()["output"] == first
    drift = generic_client.get("/v1/monitoring/drift").json()
    assert drift["n"] == 4 and drift["status"] == "insufficient_data"


def test_rows_missing_a_model_column_are_a_clear_422(generic_client):
    r = generic_client.post("/v1/scores/rows", json=[{"age": 30}])
    assert r.status_code == 422 and "credit_amount" in r.json()["detail"]


def test_firm_profile_endpoint_refuses_a_generic_model(generic_client, portfolio):
    row = json.loads(portfolio.head(1).drop(columns=["default_12m", "true_pd"]).to_json(orient="records", date_format="iso"))[0]
    r = generic_client.post("/v1/scores", json=row)
    assert r.status_code == 409 and "/v1/scores/rows" in r.json()["detail"]


def test_model_info_describes_the_generic_model(generic_client):
    info = generic_client.get("/v1/model").json()
    assert [d["key"] for d in info["dimensions"]] == ["applicant", "loan"]
    by_key = {i["key"]: i for i in info["indicators"]}
    assert by_key["age"]["direction"] == -1 and by_key["age"]["label_zh"] == "年龄"
    assert "loan_id" not in by_key and by_key["checking_status"]["unit"] == "categorical"
