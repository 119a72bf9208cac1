"""POST /v1/scores/what-if and /v1/scores/next-grade through the ASGI client; recommendations in every assessment."""
from __future__ import annotations

from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_columns
from models.scaling import GRADES
from service.api.decision_models import NextGradeResult, WhatIfResult
from service.api.errors import MEDIA_TYPE
from tests.answers_json import record

GROWTH = example_profiles()["growth"]
STARTUP = example_profiles()["startup"]


def _scored(scorer, profile: dict):
    return scorer.score(profiles_to_columns([FirmProfile.model_validate(profile)]))


def test_every_assessment_carries_a_recommendation(client, keys, scorer):
    out = client.post("/v1/scores", json=GROWTH, headers=keys.h()).json()
    rec = out["recommendation"]
    assert rec == record(_scored(scorer, GROWTH), 0)["recommendation"]
    assert rec["decision"] in ("approve", "refer", "decline") and rec["policy_version"]
    assert rec["limit_steps"][-1]["key"] == "limit" and rec["limit_steps"][-1]["value"] == rec["limit"]


def test_what_if_equals_scoring_the_changed_profile(client, keys, scorer):
    changes = {"invention_patents_granted": "+2", "rd_expense_y0": "+20%", "tax_grade": "B"}
    r = client.post("/v1/scores/what-if", json={"profile": GROWTH, "changes": changes}, headers=keys.h())
    assert r.status_code == 200, r.text
    out = WhatIfResult.model_validate(r.json())
    after = _scored(scorer, GROWTH | {"invention_patents_granted": 16, "rd_expense_y0": 624.0, "tax_grade": "B"})
    assert (out.after.score, out.after.grade, out.after.limit) == (after.score[0], after.grade[0],
                                                                   after.recommendations.limit[0])
    assert out.before.score == _scored(scorer, GROWTH).score[0]
    assert [d.after for d in out.dimensions] == list(after.dimension_points[0])


def test_what_if_errors_are_problems_naming_the_field(client, keys):
    r = client.post("/v1/scores/what-if", json={"profile": GROWTH, "changes": {"rd_staff": "+500"}}, headers=keys.h())
    assert r.status_code == 422 and r.headers["content-type"].startswith(MEDIA_TYPE)
    err = r.json()["errors"][0]
    assert (err["path"], err["rule"]) == ("/changes/rd_staff", "rd_staff_le_staff")
    r = client.post("/v1/scores/what-if", json={"profile": GROWTH, "changes": {"tax_grade": "E"}}, headers=keys.h())
    assert r.json()["errors"][0]["problem"].startswith("tax_grade: expected one of A, B, M, C, D")
    r = client.post("/v1/scores/what-if", json={"profile": GROWTH | {"rd_staff": -1}, "changes": {"rd_staff": "+1"}},
                    headers=keys.h())
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/profile/rd_staff"
    r = client.post("/v1/scores/what-if", json={"profile": GROWTH, "changes": {}}, headers=keys.h())
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/changes"
    r = client.post("/v1/scores/what-if", content=b"{not json", headers=keys.h())
    assert r.status_code == 400
    assert client.post("/v1/scores/what-if", json={"profile": GROWTH, "changes": {"rd_staff": "+1"}}).status_code == 401


def test_next_grade_path_reaches_the_next_grade(client, keys, scorer):
    r = client.post("/v1/scores/next-grade", json={"profile": STARTUP}, headers=keys.h())
    assert r.status_code == 200, r.text
    out = NextGradeResult.model_validate(r.json())
    assert out.reachable and out.target_grade == GRADES[GRADES.index(out.current.grade) - 1]
    rescored = _scored(scorer, STARTUP | out.changes)
    assert GRADES.index(rescored.grade[0]) < GRADES.index(out.current.grade)
    assert out.result is not None and out.result.after.score == rescored.score[0]
    assert round(sum(s.points for s in out.steps), 2) == round(rescored.score[0] - out.current.score, 2)


def test_next_grade_rejects_a_bad_profile(client, keys):
    r = client.post("/v1/scores/next-grade", json={"profile": GROWTH | {"tax_grade": "Z"}}, headers=keys.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tax_grade"
    r = client.post("/v1/scores/next-grade", json={"profil": GROWTH}, headers=keys.h())
    assert r.status_code == 422


def test_openapi_documents_both_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/scores/what-if" in paths and "/v1/scores/next-grade" in paths
    assert paths["/v1/scores/what-if"]["post"]["security"] == [{"ApiKey": []}]
