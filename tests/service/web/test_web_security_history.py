"""Security headers and compression on every response; the officer's history paged and searched."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from features.enum_labels import VALUE_LABELS
from features.schema import example_profiles, make_uscc
from service.api.app import create_app
from service.api.auth import create_key
from service.api.settings import Settings


@pytest.fixture(scope="module")
def app_keys(tmp_path_factory, model_dir):
    tmp = tmp_path_factory.mktemp("web-sec")
    keys = tmp / "keys.json"
    secrets = {who: create_key(keys, role, who)[1] for who, role in
               (("alice", "officer"), ("bob", "officer"), ("admin", "admin"))}
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{tmp / 'audit.db'}", keys_file=keys,
                        max_body_bytes=64 * 1024)
    with TestClient(create_app(settings)) as c:
        yield c, secrets


def _csp(resp) -> dict[str, str]:
    directives = (p.strip() for p in resp.headers["content-security-policy"].split(";"))
    return {d.split()[0]: d.partition(" ")[2] for d in directives}


def test_every_response_carries_the_security_headers(app_keys):
    c, keys = app_keys
    alice = {"X-API-Key": keys["alice"]}
    responses = {
        "page": c.get("/"), "asset": c.get("/static/app.js"), "form": c.get("/v1/form", headers=alice),
        "score": c.post("/v1/scores", json=example_profiles()["growth"], headers=alice),
        "401": c.get("/v1/form"), "422": c.post("/v1/scores", json={"revenue_y0": -1}, headers=alice),
        "413": c.post("/v1/scores", content=b"x" * (65 * 1024), headers=alice | {"Content-Type": "application/json"}),
        "404": c.get("/nowhere"), "health": c.get("/healthz"),
    }
    assert responses["413"].status_code == 413 and responses["401"].status_code == 401
    for name, resp in responses.items():
        assert resp.headers["x-content-type-options"] == "nosniff", name
        csp = _csp(resp)
        assert csp["frame-ancestors"] == "'none'", name
        assert csp["script-src"] == "'self'", name  # no inline script, no other origin
        assert "unsafe" not in resp.headers["content-security-policy"], name


def test_assessment_data_is_never_cached(app_keys):
    c, keys = app_keys
    alice = {"X-API-Key": keys["alice"]}
    scored = c.post("/v1/scores", json=example_profiles()["mature"], headers=alice)
    assert scored.headers["cache-control"] == "no-store"
    aid = scored.json()["assessment_id"]
    for path in (f"/v1/assessments/{aid}", "/v1/me/assessments", "/v1/form"):
        assert c.get(path, headers=alice).headers["cache-control"] == "no-store", path
    assert "no-store" not in c.get("/static/app.css").headers.get("cache-control", "")  # assets may be cached


def test_text_is_compressed_for_clients_that_accept_gzip(app_keys):
    c, keys = app_keys
    resp = c.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    raw = c.get("/static/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and resp.text == raw.text  # httpx decoded the gzip body
    scored = c.post("/v1/scores", json=example_profiles()["growth"],
                    headers={"X-API-Key": keys["alice"], "Accept-Encoding": "gzip"})
    assert scored.headers["content-encoding"] == "gzip" and scored.json()["grade"]


def test_docs_run_their_own_inline_start_up_script_and_nothing_else(app_keys):
    c, _ = app_keys
    resp = c.get("/docs")
    assert resp.status_code == 200
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", resp.text, re.S)
    assert inline, "Swagger UI starts with one inline script"
    csp = _csp(resp)
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"]
    assert csp["script-src"].startswith("'self'") and "unsafe-inline" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert int(resp.headers["content-length"]) == len(resp.content)


def test_form_names_every_enum_value_and_shows_shares_as_such(app_keys):
    c, keys = app_keys
    form = c.get("/v1/form", headers={"X-API-Key": keys["alice"]}).json()
    fields = {f["name"]: f for s in form["sections"] for f in s["fields"]}
    security = fields["security_type"]["enum_labels"]
    assert [o["value"] for o in security] == fields["security_type"]["enum"]
    assert security[1] == {"value": "ip_pledge", "label_zh": VALUE_LABELS["ip_pledge"][0],
                           "label_en": VALUE_LABELS["ip_pledge"][1]}
    assert fields["top5_customer_share"]["unit_zh"] == "比例(0–1)"
    assert fields["revenue_y0"]["unit_zh"] == "万元" and fields["revenue_y0"]["enum_labels"] == []


def test_missing_credit_code_is_named_without_echoing_the_profile(app_keys):
    c, keys = app_keys
    profile = {k: v for k, v in example_profiles()["growth"].items() if k != "firm_id"}
    resp = c.post("/v1/scores", json=profile, headers={"X-API-Key": keys["alice"]})
    assert resp.status_code == 422
    (err,) = [e for e in resp.json()["errors"] if e["field"] == "firm_id"]
    assert err["rule"] == "required" and err["value"] is None
    assert "统一社会信用代码(firm_id)为必填项" in err["problem"]
    assert "{" not in err["problem"] and "datetime" not in err["problem"] and profile["name"] not in err["problem"]


def test_history_pages_and_searches_by_name_or_credit_code(app_keys):
    c, keys = app_keys
    bob = {"X-API-Key": keys["bob"]}
    base = example_profiles()["startup"]
    codes = [make_uscc(f"9133010{n:010d}") for n in range(23)]
    for n, code in enumerate(codes):  # oldest first: firm 22 is the newest
        name = f"杭州测{n:02d}科技有限公司" if n != 7 else "苏州100%_特殊科技有限公司"
        assert c.post("/v1/scores", json=base | {"firm_id": code, "name": name}, headers=bob).status_code == 200

    first = c.get("/v1/me/assessments?limit=10", headers=bob)
    assert first.headers["x-total-count"] == "23"
    assert [r["firm_id"] for r in first.json()] == codes[::-1][:10]
    last = c.get("/v1/me/assessments?limit=10&offset=20", headers=bob)
    assert [r["firm_id"] for r in last.json()] == codes[::-1][20:]
    assert c.get("/v1/me/assessments?offset=30", headers=bob).json() == []

    by_name = c.get("/v1/me/assessments", params={"q": "测05"}, headers=bob)
    assert by_name.headers["x-total-count"] == "1" and by_name.json()[0]["firm_id"] == codes[5]
    by_code = c.get("/v1/me/assessments", params={"q": codes[12][:17].lower()}, headers=bob)
    assert [r["firm_id"] for r in by_code.json()] == [codes[12]]  # a prefix, any case
    literal = c.get("/v1/me/assessments", params={"q": "100%_"}, headers=bob)  # LIKE wildcards are literal
    assert [r["firm_id"] for r in literal.json()] == [codes[7]]
    assert c.get("/v1/me/assessments", params={"q": "杭州测"}, headers=bob).headers["x-total-count"] == "22"
    # another officer's firms are not found; the admin finds them
    alice = {"X-API-Key": keys["alice"]}
    assert c.get("/v1/me/assessments", params={"q": "测05"}, headers=alice).json() == []
    admin = {"X-API-Key": keys["admin"]}
    assert c.get("/v1/me/assessments", params={"q": "测05"}, headers=admin).headers["x-total-count"] == "1"
    assert c.get("/v1/me/assessments?offset=-1", headers=bob).status_code == 422


def test_the_docs_own_assets_pass_through_with_the_docs_policy():
    """Swagger UI's files served under /docs (when shipped locally) are streamed, not buffered or hashed."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    from service.api.security import install_security

    app = FastAPI()
    script = "window.ui = 1;" * 300

    @app.get("/docs/swagger-ui-bundle.js")
    def bundle() -> PlainTextResponse:
        return PlainTextResponse(script, media_type="text/javascript")

    install_security(app)
    resp = TestClient(app).get("/docs/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert resp.text == script and resp.headers["content-encoding"] == "gzip"
    csp = _csp(resp)
    assert csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert resp.headers["x-content-type-options"] == "nosniff"
