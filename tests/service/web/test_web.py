"""The page's server side: form metadata derived from the schema, examples, static assets."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from features.registry import DIMENSIONS, INDICATORS
from features.schema import FIELD_NAMES, FIELD_SPECS, FirmProfile, example_profiles
from service.api.app import create_app
from service.api.auth import create_key
from service.api.settings import Settings
from service.web.page import STATIC_DIR


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """The real app (no model needed for the page's metadata), signed in as an officer."""
    tmp = tmp_path_factory.mktemp("web")
    _, secret = create_key(tmp / "keys.json", "officer")
    settings = Settings(model_dir=tmp / "no-model", database_url=f"sqlite:///{tmp / 'audit.db'}",
                        keys_file=tmp / "keys.json")
    with TestClient(create_app(settings), headers={"X-API-Key": secret}) as c:
        yield c


def test_form_lists_every_schema_field_once_in_schema_order_within_sections(client):
    form = client.get("/v1/form").json()
    names = [f["name"] for s in form["sections"] for f in s["fields"]]
    assert sorted(names) == sorted(FIELD_NAMES)
    for section in form["sections"]:
        in_section = [f["name"] for f in section["fields"]]
        assert in_section == [n for n in FIELD_NAMES if FIELD_SPECS[n].group == section["key"]]


def test_form_field_metadata_comes_from_the_schema(client):
    fields = {f["name"]: f for s in client.get("/v1/form").json()["sections"] for f in s["fields"]}
    assert fields["revenue_y0"]["label_zh"] == "营业收入(当年)"
    assert fields["revenue_y0"]["unit"] == "万元" and fields["revenue_y0"]["unit_en"] == "10k CNY"
    assert fields["revenue_y0"]["ge"] == 0 and fields["revenue_y0"]["kind"] == "number"
    assert fields["top5_customer_share"]["le"] == 1
    assert fields["tax_grade"]["enum"] == ["A", "B", "M", "C", "D"]
    assert fields["firm_id"]["required"] is True
    for name, spec in FIELD_SPECS.items():
        assert (fields[name]["label_zh"], fields[name]["label_en"], fields[name]["kind"]) == (
            spec.label_zh, spec.label_en, spec.kind)


def test_sections_are_the_six_dimensions_framed_by_identity_and_request(client):
    sections = client.get("/v1/form").json()["sections"]
    assert sections[0]["key"] == "identity" and sections[-1]["key"] == "request"
    dims = [(s["dimension"], s["label_zh"], s["label_en"]) for s in sections[1:-1]]
    assert [d[0] for d in dims] == list(DIMENSIONS)
    assert all(DIMENSIONS[k] == (zh, en) for k, zh, en in dims)


def test_indicator_inputs_name_real_fields(client):
    """The what-if panel offers the raw fields behind each reason: they must exist in the form."""
    indicators = client.get("/v1/form").json()["indicators"]
    assert [i["key"] for i in indicators] == [i.key for i in INDICATORS]
    assert all(set(i["inputs"]) <= set(FIELD_NAMES) and i["inputs"] for i in indicators)


def test_examples_are_the_schema_examples_and_valid(client):
    examples = client.get("/v1/examples").json()
    assert examples == example_profiles()
    assert set(examples) == {"startup", "growth", "mature"}
    for profile in examples.values():
        FirmProfile.model_validate(profile)


def test_page_and_its_assets_are_served_without_any_external_reference(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = sorted(p.name for p in STATIC_DIR.iterdir())
    for name in assets:
        resp = client.get(f"/static/{name}")
        assert resp.status_code == 200, name
        # offline: no CDN, no remote font or script
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", resp.text), name
        assert "@import url(http" not in resp.text and "fetch(\"http" not in resp.text, name
    for ref in re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", page.text):
        assert client.get(ref).status_code == 200, ref


def test_unknown_static_file_is_404(client):
    assert client.get("/static/nope.js").status_code == 404


def test_metadata_needs_a_key_but_the_page_itself_does_not(client):
    for path in ("/v1/form", "/v1/examples", "/v1/me/assessments"):
        resp = client.get(path, headers={"X-API-Key": "ts_wrong"})
        assert resp.status_code == 401 and resp.headers["content-type"] == "application/problem+json", path
    assert client.get("/", headers={"X-API-Key": ""}).status_code == 200


def test_recent_assessments_are_the_callers_own_newest_first(model_dir, tmp_path):
    keys = tmp_path / "keys.json"
    _, alice = create_key(keys, "officer", "alice")
    _, bob = create_key(keys, "officer", "bob")
    _, admin = create_key(keys, "admin", "root")
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{tmp_path / 'audit.db'}", keys_file=keys)
    examples = example_profiles()
    with TestClient(create_app(settings)) as c:
        made = {}
        for who, firm in (("alice", "startup"), ("bob", "growth"), ("alice", "mature")):
            secret = alice if who == "alice" else bob
            resp = c.post("/v1/scores", json=examples[firm], headers={"X-API-Key": secret})
            assert resp.status_code == 200, resp.text
            made[firm] = resp.json()
        mine = c.get("/v1/me/assessments", headers={"X-API-Key": alice}).json()
        assert [a["assessment_id"] for a in mine] == [made["mature"]["assessment_id"], made["startup"]["assessment_id"]]
        assert mine[0]["name"] == examples["mature"]["name"] and mine[0]["firm_id"] == examples["mature"]["firm_id"]
        assert mine[0]["score"] == made["mature"]["score"] and mine[0]["grade"] == made["mature"]["grade"]
        assert mine[0]["channel"] == "single" and mine[0]["assessed_at"] == made["mature"]["assessed_at"]
        assert len(c.get("/v1/me/assessments", headers={"X-API-Key": bob}).json()) == 1
        assert len(c.get("/v1/me/assessments", headers={"X-API-Key": admin}).json()) == 3
        one = c.get("/v1/me/assessments?limit=1", headers={"X-API-Key": alice}).json()
        assert [a["assessment_id"] for a in one] == [made["mature"]["assessment_id"]]
        bad = c.get("/v1/me/assessments?limit=0", headers={"X-API-Key": alice})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"
