"""service/api/answers.py: answers shaped at the edge from models' arrays, as validated response models.

Hand-made batches (a scored firm whose reason arrays are overwritten with chosen values) pin the
reason fields, the texts in the field's unit and the stage check; real replies of every scoring route
are checked against the OpenAPI schema the app publishes (every key declared, every type right)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from features.registry import INDICATORS
from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_columns, validate_frame
from models.reasons import Display
from models.whatif import what_if
from service.api import answers
from service.api.models import Assessment, BatchResult
from service.api.decision_models import NextGradeResult, WhatIfResult

GROWTH = example_profiles()["growth"]
IP01, IP02, IP06 = 0, 1, 5  # ln(件), share 0-1, points


def _one(scorer, profile=GROWTH):
    return scorer.score(profiles_to_columns([FirmProfile.model_validate(profile)]))


def _hand_made(scorer):
    """The growth firm with chosen reasons: down IP01 (14 granted vs a stage median of 6, −3.14159 points) and
    IP06 not provided; up IP02 (45.67% vs 20%, +1.257 points)."""
    batch = _one(scorer)
    assert np.isnan(batch.explainer.peak_low[IP01])  # monotone: a down reason is "worse than the median" (D)
    values, medians, relative = batch.values.copy(), batch.stage_medians.copy(), batch.relative.copy()
    values[0, [IP01, IP02, IP06]] = [math.log1p(14), 0.4567, np.nan]
    medians[0, [IP01, IP02, IP06]] = [math.log1p(6), 0.2, 1234.5]
    relative[0, [IP01, IP02, IP06]] = [-3.14159, 1.257, -0.5]
    return dataclasses.replace(batch, values=values, stage_medians=medians, relative=relative,
                               reasons_down=np.array([[IP01, IP06, -1, -1]]), reasons_up=np.array([[IP02, -1, -1, -1]]))


def test_reasons_in_the_fields_unit(scorer):
    rec = answers.score_record(_hand_made(scorer), 0)
    down, missing = rec["reasons_down"]
    ip01 = INDICATORS[IP01]
    assert down == {"code": "IP01D", "indicator": ip01.key, "dimension": "tech_ip", "label_zh": ip01.label_zh,
                    "label_en": ip01.label_en, "value": pytest.approx(14.0), "stage_median": pytest.approx(6.0),
                    "points": -3.14, "text_zh": ip01.reason_down_zh, "text_en": ip01.reason_down_en,
                    "comparison": "higher", "unit": "件", "value_text_zh": "14件", "stage_median_text_zh": "6件",
                    "value_text_en": "14 items", "stage_median_text_en": "6 items"}
    assert list(down) == list(Assessment.model_fields["reasons_down"].annotation.__args__[0].model_fields)[:16]
    assert missing["code"][:4] == "IP06" and missing["code"][4] in "MN"  # not provided / not computable
    assert (missing["value"], missing["value_text_zh"], missing["comparison"]) == (None, None, "not_provided")
    assert (missing["stage_median"], missing["stage_median_text_zh"], missing["stage_median_text_en"]) == \
        (1234.5, "1,234分", "1,234 points")  # thousands separator, no decimals from 100 up (half to even)
    [up] = rec["reasons_up"]
    assert (up["code"], up["value"], up["stage_median"], up["points"]) == ("IP02U", pytest.approx(45.67), 20.0, 1.26)
    assert (up["value_text_zh"], up["value_text_en"], up["stage_median_text_en"], up["unit"]) == \
        ("45.7%", "45.7%", "20.0%", "%")


def test_display_texts_in_one_pass():
    assert Display("number", ("分", "points")).texts(2.5) == (2.5, "2.5分", "2.5 points")
    assert Display("number", ("分", "points")).texts(-0.004) == (-0.004, "-0分", "-0 points")
    assert Display("log", ("万元", "10k CNY")).texts(math.log1p(99.0)) == (pytest.approx(99.0), "99万元", "99 10k CNY")
    assert Display("percent", ("%", "%")).texts(12.5) == (1250.0, "1,250%", "1,250%")
    assert Display("flag").texts(1.0) == (1.0, "是", "yes") and Display("flag").texts(0.0)[1:] == ("否", "no")
    assert Display("number").texts(float("nan")) == (None, None, None)
    assert Display("number", ("件", "items")).text(3.0, "en") == "3 items"


def test_stage_check_names_a_conflict(scorer):
    batch = _one(scorer)
    stages = dataclasses.replace(batch.stages, declared=np.array(["mature"], dtype=object),
                                 data=np.array(["startup"], dtype=object), conflict=np.array([True]),
                                 limit_stage=np.array(["startup"], dtype=object))
    check = answers.score_record(dataclasses.replace(batch, stages=stages), 0)["stage_check"]
    assert check == {"declared": "mature", "from_data": "startup", "used": batch.stage[0], "conflict": True,
                     "limit_stage": "startup",
                     "text_zh": "申报阶段（mature）与数据（startup）不符：额度按较严格的startup阶段",
                     "text_en": "The declared stage (mature) contradicts the data (startup): limits use the stricter "
                                "startup stage"}
    plain = answers.assessment(batch, 0, "id", "t")
    assert "text_zh" not in orjson.loads(plain.json)["stage_check"]  # no conflict: the texts are not sent
    assert answers.dump(plain.model) == plain.json  # nor by the model's own serialiser (unset keys left out)


def test_the_bytes_sent_are_the_validated_models_own(scorer, portfolio):
    batch = _one(scorer)
    out = answers.assessment(batch, 0, "a1", "2026-06-30T00:00:00+00:00")
    assert isinstance(out.model, Assessment) and out.model.assessment_id == "a1"
    plain = {"assessment_id": "a1", "assessed_at": "2026-06-30T00:00:00+00:00"} | answers.score_record(batch, 0)
    assert out.json == orjson.dumps(plain, option=orjson.OPT_SERIALIZE_NUMPY)  # the encoder of before
    assert out.json == answers.dump(out.model)  # = pydantic's serialisation of the model: same keys, order, numbers
    many = scorer.score(validate_frame(portfolio.head(300)).clean)
    for i in range(len(many)):
        one = answers.assessment(many, i, "a", "t")
        assert one.json == answers.dump(one.model), i
    steps = plain["recommendation"]["limit_steps"]
    assert steps[-1] == {"key": "limit", "label_en": "Limit", "label_zh": "建议额度", "value": plain["recommendation"]["limit"],
                         "rule": steps[-1]["rule"]}


def test_a_record_that_breaks_the_contract_is_refused(scorer):
    batch = _one(scorer)
    with pytest.raises(ValidationError, match="grade"):
        answers.assessment(dataclasses.replace(batch, grade=np.array(["Z"], dtype=object)), 0, "id", "t")
    with pytest.raises(ValidationError):
        answers.assessment(dataclasses.replace(batch, pd=np.array([None], dtype=object)), 0, "id", "t")
    data = answers.score_record(batch, 0, {"assessment_id": "id", "assessed_at": "t"})
    data["reasons_down"][0]["note"] = "an undeclared key"
    with pytest.raises(ValidationError, match="note"):
        Assessment.model_validate(data)


def test_batch_envelopes_around_validated_items(scorer):
    assert answers.batch_item_json(3, b'{"a":1}') == b'{"index":3,"ok":true,"assessment":{"a":1}}'
    item = answers.batch_error(1, [{"path": "/1/x", "field": "x", "rule": "ge:0", "value": -1, "problem": "p"}]).json
    assert item == b'{"index":1,"ok":false,"errors":[{"path":"/1/x","field":"x","rule":"ge:0","value":-1,"problem":"p"}]}'
    good = answers.batch_item_json(0, answers.assessment(_one(scorer), 0, "id", "t").json)
    body = answers.batch_result_json(1, 1, [good, item])
    parsed = BatchResult.model_validate_json(body)
    assert (parsed.scored, parsed.rejected, parsed.results[1].errors[0].rule) == (1, 1, "ge:0")


def test_what_if_moves_add_up(scorer):
    w = what_if(scorer, GROWTH, {"invention_patents_granted": "+2", "rd_expense_y0": "+20%"})
    out = answers.what_if_result(w)
    assert isinstance(out, WhatIfResult)
    assert [(c.field, c.change, c.from_, c.to) for c in out.changes] == [
        ("invention_patents_granted", "+2", GROWTH["invention_patents_granted"], GROWTH["invention_patents_granted"] + 2),
        ("rd_expense_y0", "+20%", GROWTH["rd_expense_y0"], pytest.approx(GROWTH["rd_expense_y0"] * 1.2))]
    for d in out.dimensions:
        assert d.points == round(d.after - d.before, 2)
    assert out.score_change == pytest.approx(sum(d.points for d in out.dimensions) + out.clip_points_change, abs=0.05)
    assert [abs(m.points) for m in out.indicators] == sorted((abs(m.points) for m in out.indicators), reverse=True)
    assert out.after.products == [p.code for p in out.after.recommendation.products]


# ---- the published contract: real replies against the OpenAPI schema -------------------------------------
def _conforms(value, schema, defs, path="$"):
    """Problems of `value` against a JSON schema (the subset pydantic writes), strictly: an object may hold only
    the keys its schema declares."""
    if "$ref" in schema:
        return _conforms(value, defs[schema["$ref"].rsplit("/", 1)[1]], defs, path)
    if "anyOf" in schema:
        tries = [_conforms(value, s, defs, path) for s in schema["anyOf"]]
        return [] if any(not t for t in tries) else [f"{path}: no alternative fits: {tries}"]
    if "allOf" in schema:
        return [p for s in schema["allOf"] for p in _conforms(value, s, defs, path)]
    if "const" in schema and value != schema["const"] or "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not allowed"]
    kind = schema.get("type")
    ok = {None: True, "object": isinstance(value, dict), "array": isinstance(value, list), "string": isinstance(value, str),
          "integer": isinstance(value, int) and not isinstance(value, bool), "boolean": isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool), "null": value is None}[kind]
    if not ok:
        return [f"{path}: {type(value).__name__} is not {kind}"]
    problems = []
    if kind == "object":
        props = schema.get("properties")
        problems += [f"{path}: {k} required" for k in schema.get("required", []) if k not in value]
        for k, v in value.items():
            if props is not None and k not in props:
                problems.append(f"{path}: {k} not declared")
            elif props is not None:
                problems += _conforms(v, props[k], defs, f"{path}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += _conforms(v, schema["additionalProperties"], defs, f"{path}.{k}")
    if kind == "array" and "items" in schema:
        for i, v in enumerate(value):
            problems += _conforms(v, schema["items"], defs, f"{path}[{i}]")
    return problems


@pytest.fixture(scope="module")
def openapi(client):
    return client.get("/openapi.json").json()


def _reply_schema(openapi, route):
    return openapi["paths"][route]["post"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("route, body, model", [
    ("/v1/scores", GROWTH, Assessment),
    ("/v1/scores/batch", [GROWTH, example_profiles()["startup"], {"firm_id": "x"}], BatchResult),
    ("/v1/scores/what-if", {"profile": GROWTH, "changes": {"invention_patents_granted": "+2"}}, WhatIfResult),
    ("/v1/scores/next-grade", {"profile": example_profiles()["startup"]}, NextGradeResult),
])
def test_replies_have_the_shape_openapi_shows(client, keys, openapi, route, body, model):
    r = client.post(route, json=body, headers=keys.h())
    assert r.status_code == 200, r.text
    schema = _reply_schema(openapi, route)
    assert schema == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert _conforms(r.json(), schema, openapi["components"]["schemas"]) == []
    # and the model reads the reply back to the same bytes: no key dropped, added or reordered
    assert answers.dump(model.model_validate_json(r.content)) == r.content


def test_the_schema_check_catches_a_wrong_shape(openapi):
    defs = openapi["components"]["schemas"]
    assert _conforms({"index": 0, "ok": True, "extra": 1}, {"$ref": "#/components/schemas/BatchItem"}, defs) == \
        ["$: extra not declared"]
    assert _conforms({"scored": "1", "rejected": 0, "results": []}, _reply_schema(openapi, "/v1/scores/batch"), defs)
