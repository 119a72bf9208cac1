"""The scoring API through the ASGI client: every endpoint, every error shape."""
from __future__ import annotations

import json
from datetime import date

import pytest

from features.registry import INDICATORS
from features.schema import FIELD_NAMES, FirmProfile, example_profiles, violations_from_error
from features.validate import profiles_to_columns
from service.api.models import Assessment
from service.api.errors import MEDIA_TYPE
from tests.answers_json import record

GROWTH = example_profiles()["growth"]


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(MEDIA_TYPE)
    body = r.json()
    assert body["status"] == status and body["type"].startswith("urn:techscore:problem:") and body["title"]
    return body


def test_score_matches_the_scoring_core_and_adds_up(client, keys, scorer):
    r = client.post("/v1/scores", json=GROWTH, headers=keys.h())
    assert r.status_code == 200, r.text
    out = r.json()
    expected = record(scorer.score(profiles_to_columns([FirmProfile.model_validate(GROWTH)])), 0)
    assert {k: out[k] for k in expected} == json.loads(json.dumps(expected))
    assert out["score"] == pytest.approx(out["base_points"] + sum(d["points"] for d in out["dimensions"])
                                         + out["clip_points"], abs=1e-9)
    assert set(out) == set(Assessment.model_fields)
    for reason in out["reasons_down"] + out["reasons_up"]:
        assert reason["text_zh"] and reason["text_en"] and reason["indicator"] in {i.key for i in INDICATORS}


def test_a_knocked_out_firm_is_scored_and_lists_the_knockout(client, keys):
    r = client.post("/v1/scores", json=GROWTH | {"current_overdue": True, "max_dpd_24m": 20, "tax_grade": "D"},
                    headers=keys.h())
    assert [k["code"] for k in r.json()["knockouts"]] == ["KO_OVERDUE", "KO_TAX_D"]


def test_chinese_labels_are_accepted_as_field_names(client, keys):
    zh = {"统一社会信用代码": GROWTH["firm_id"], "营业收入(当年)": 6800.0, "评估基准日": "2025-06-30"}
    r = client.post("/v1/scores", json=zh, headers=keys.h())
    assert r.status_code == 200, r.text
    assert r.json()["firm_id"] == GROWTH["firm_id"]


def test_stored_assessment_is_exactly_what_was_returned(client, keys):
    r = client.post("/v1/scores", json=GROWTH, headers=keys.h())
    out = r.json()
    got = client.get(f"/v1/assessments/{out['assessment_id']}", headers=keys.h())
    assert got.status_code == 200
    stored = got.json()
    assert stored["output"] == out
    assert stored["input"] == GROWTH
    assert stored["key_id"] == "officer-1" and stored["channel"] == "single"
    assert stored["model_version"] == out["model_version"]


def test_officers_see_only_their_own_assessments_admins_see_all(client, keys):
    aid = client.post("/v1/scores", json=GROWTH, headers=keys.h()).json()["assessment_id"]
    assert client.get(f"/v1/assessments/{aid}", headers=keys.h("other_officer")).status_code == 404
    assert client.get(f"/v1/assessments/{aid}", headers=keys.h("admin")).status_code == 200
    firm = GROWTH["firm_id"]
    mine = client.get("/v1/assessments", params={"firm_id": firm}, headers=keys.h()).json()["assessments"]
    theirs = client.get("/v1/assessments", params={"firm_id": firm}, headers=keys.h("other_officer")).json()
    everyone = client.get("/v1/assessments", params={"firm_id": firm}, headers=keys.h("admin")).json()
    assert aid in [a["assessment_id"] for a in mine]
    assert theirs["assessments"] == []
    assert len(everyone["assessments"]) >= len(mine)
    times = [a["assessed_at"] for a in mine]
    assert times == sorted(times, reverse=True)  # newest first


def test_unknown_assessment_is_404_problem(client, keys):
    _problem(client.get("/v1/assessments/no-such-id", headers=keys.h()), 404)


def test_history_needs_a_firm_id(client, keys):
    body = _problem(client.get("/v1/assessments", headers=keys.h()), 422)
    assert body["errors"][0]["field"] == "firm_id"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "ts_wrong"}])
def test_scoring_without_a_valid_key_is_401(client, headers):
    body = _problem(client.post("/v1/scores", json=GROWTH, headers=headers), 401)
    assert "X-API-Key" in body["detail"]


def test_every_v1_endpoint_needs_a_key(client):
    assert client.get("/v1/model").status_code == 401
    assert client.get("/v1/assessments", params={"firm_id": "x"}).status_code == 401
    assert client.post("/v1/scores/batch", json=[]).status_code == 401
    assert client.post("/v1/scores/csv", content=b"firm_id\n").status_code == 401
    assert client.post("/v1/model/reload").status_code == 401


def test_reload_is_admin_only(client, keys):
    _problem(client.post("/v1/model/reload", headers=keys.h()), 403)


def test_every_bad_field_is_listed_with_path_rule_and_problem(client, keys):
    bad = GROWTH | {"revenue_y0": -5, "tax_grade": "Q", "rd_staff": 1000, "founded_on": "2016-13-01", "foo": 1}
    body = _problem(client.post("/v1/scores", json=bad, headers=keys.h()), 422)
    found = {(e["path"], e["rule"]) for e in body["errors"]}
    assert found == {("/revenue_y0", "ge:0"), ("/tax_grade", "enum"), ("/founded_on", "date"),
                     ("/foo", "unknown_field"), ("/rd_staff", "rd_staff_le_staff")}
    # the wording is the batch validator's, byte for byte
    try:
        FirmProfile.model_validate(GROWTH | {"revenue_y0": -5})
    except Exception as exc:  # noqa: BLE001
        expected = violations_from_error(exc)[0]["message"]
    assert next(e["problem"] for e in body["errors"] if e["field"] == "revenue_y0") == expected
    assert "营业收入" in expected and "Revenue" in expected


def test_invalid_uscc_and_missing_firm_id(client, keys):
    body = _problem(client.post("/v1/scores", json=GROWTH | {"firm_id": GROWTH["firm_id"][:-1] + "0"},
                                headers=keys.h()), 422)
    assert [e["rule"] for e in body["errors"]] == ["uscc_check"]
    body = _problem(client.post("/v1/scores", json={"revenue_y0": 1.0}, headers=keys.h()), 422)
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("firm_id", "required")]


def test_date_rules_are_checked_against_today_when_as_of_is_missing(client, keys):
    profile = {k: v for k, v in GROWTH.items() if k != "as_of"} | {"founded_on": "2199-01-01",
                                                                  "latest_round_date": None}
    body = _problem(client.post("/v1/scores", json=profile, headers=keys.h()), 422)
    assert [e["rule"] for e in body["errors"]] == ["founded_on_le_as_of"]


def test_not_json_is_400_and_not_an_object_is_422(client, keys):
    _problem(client.post("/v1/scores", content=b"{not json", headers=keys.h()), 400)
    _problem(client.post("/v1/scores", json=[1, 2], headers=keys.h()), 422)


def test_body_over_the_limit_is_413(client, keys):
    big = GROWTH | {"name": "x" * 70_000}
    body = _problem(client.post("/v1/scores", json=big, headers=keys.h()), 413)
    assert "65,536" in body["detail"]


def test_body_over_the_limit_without_content_length_is_413(client, keys):
    def chunks():
        for _ in range(100):
            yield b" " * 1024
    _problem(client.post("/v1/scores", content=chunks(), headers=keys.h()), 413)


def test_batch_scores_good_firms_and_reports_bad_ones_in_place(client, keys):
    firms = list(example_profiles().values())
    firms.insert(1, GROWTH | {"revenue_y0": -1})
    r = client.post("/v1/scores/batch", json=firms, headers=keys.h())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["scored"], body["rejected"]) == (3, 1)
    assert [i["index"] for i in body["results"]] == [0, 1, 2, 3]
    assert [i["ok"] for i in body["results"]] == [True, False, True, True]
    assert body["results"][1]["errors"][0]["path"] == "/1/revenue_y0"
    assert [i["assessment"]["firm_id"] for i in body["results"] if i["ok"]] == [f["firm_id"] for f in example_profiles().values()]
    single = client.post("/v1/scores", json=firms[2], headers=keys.h()).json()
    assert body["results"][2]["assessment"]["score"] == single["score"]
    stored = client.get(f"/v1/assessments/{body['results'][3]['assessment']['assessment_id']}", headers=keys.h())
    assert stored.json()["channel"] == "batch" and stored.json()["input"] == firms[3]


def test_batch_over_the_limit_is_413_and_not_an_array_is_422(client, keys):
    _problem(client.post("/v1/scores/batch", json=[GROWTH] * 6, headers=keys.h()), 413)
    _problem(client.post("/v1/scores/batch", json=GROWTH, headers=keys.h()), 422)


def test_model_endpoint_lists_manifest_metrics_and_catalogue(client, keys):
    body = client.get("/v1/model", headers=keys.h()).json()
    assert body["manifest"]["sha256"] and body["metrics"]["holdout"]["auc"] > 0.5
    assert [d["key"] for d in body["dimensions"]] == ["tech_ip", "rd_input", "talent", "capital", "operations",
                                                      "credit"]
    assert [i["code"] for i in body["indicators"]] == [i.code for i in INDICATORS]
    assert {i["direction"] for i in body["indicators"]} <= {-1, 0, 1}


def test_health_endpoints_are_open(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_metrics_count_requests_by_route_and_scores_by_grade(client, keys):
    grade = client.post("/v1/scores", json=GROWTH, headers=keys.h()).json()["grade"]
    text = client.get("/metrics").text
    assert 'techscore_http_requests_total{method="POST",route="/v1/scores",status="200"}' in text
    assert 'route="/v1/assessments/{assessment_id}"' in text  # templates, not raw ids
    assert f'techscore_scores_total{{channel="single",grade="{grade}"}}' in text
    assert "techscore_model_info{version=" in text
    assert "techscore_http_request_seconds_bucket" in text


def test_openapi_documents_the_schema_in_both_languages_with_examples(client):
    spec = client.get("/openapi.json").json()
    firm = spec["components"]["schemas"]["FirmProfile"]
    assert set(firm["properties"]) == set(FIELD_NAMES)
    assert firm["properties"]["revenue_y0"]["description"].startswith("营业收入(当年)")
    assert "Revenue" in firm["properties"]["revenue_y0"]["description"]
    body = spec["paths"]["/v1/scores"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["growth"]["value"] == GROWTH
    assert spec["paths"]["/v1/scores"]["post"]["security"] == [{"ApiKey": []}]
    assert client.get("/docs").status_code == 200


def test_unknown_route_is_a_problem_too(client):
    _problem(client.get("/v1/nothing"), 404)


def test_a_profile_without_as_of_is_assessed_today_and_stored_as_submitted(client, keys):
    profile = {k: v for k, v in GROWTH.items() if k != "as_of"}
    r = client.post("/v1/scores", json=profile, headers=keys.h())
    assert r.status_code == 200
    stored = client.get(f"/v1/assessments/{r.json()['assessment_id']}", headers=keys.h()).json()
    assert stored["input"] == profile  # without the date it was assessed on
    dated = client.post("/v1/scores", json=profile | {"as_of": date.today().isoformat()}, headers=keys.h()).json()
    assert r.json()["score"] == dated["score"] and r.json()["reasons_down"] == dated["reasons_down"]


def test_a_body_naming_as_of_is_read_from_its_bytes_exactly_as_from_a_dict(client, keys):
    """The bytes fast path gives the profile the dict path gives, and every bad body the same answer."""
    import orjson

    from service.api.profiles import parse_profile as _parse_profile, parse_profile_json as _parse_profile_json

    for profile in example_profiles().values():
        body = orjson.dumps(profile)
        assert b"as_of" in body and _parse_profile_json(body) == _parse_profile(orjson.loads(body))
    nan = orjson.dumps(GROWTH)[:-1] + b',"cash":NaN}'  # not JSON, though pydantic would read it
    assert "not valid JSON" in _problem(client.post("/v1/scores", content=nan, headers=keys.h()), 400)["detail"]
    in_array = _problem(client.post("/v1/scores", json=[GROWTH], headers=keys.h()), 422)
    assert in_array["errors"][0]["rule"] == "type:object"
    bad = GROWTH | {"staff_total": -1, "tax_grade": "Z"}
    errors = _problem(client.post("/v1/scores", json=bad, headers=keys.h()), 422)["errors"]
    assert sorted(e["field"] for e in errors) == ["staff_total", "tax_grade"]
