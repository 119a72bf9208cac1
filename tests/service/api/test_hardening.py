"""Issue 13: every hostile input of the security review answers a 4xx problem naming the field (never a
500), bundles load only when trusted and only from under the models root, readiness tells the truth,
and keys can be listed, revoked and rotated with revocation effective within a second."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.schema import example_profiles
from models.bundle import DATA_FILE, MANIFEST_FILE, bundle_sha256
from models.trust import read_trusted
from service.api.app import create_app
from service.api.auth import KeyFileError, KeyRing, create_key, read_keys, revoke_key, rotate_key
from service.cli.main import app as cli
from service.store.audit import AuditStore, StoreError

FIRM = example_profiles()["growth"]
BIG = "1" + "0" * 400  # a 400-digit integer: valid JSON, no plausible value


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def _raw(client, path: str, text: str, headers: dict):
    return client.post(path, content=text.encode(), headers=headers | {"Content-Type": "application/json"})


# ---- Five more 500s, stored poison and the smaller API items ---------------------------------------
def test_a_400_digit_integer_on_the_as_of_fast_path_is_a_422_naming_the_field(client, keys):
    body = json.dumps({k: v for k, v in FIRM.items() if k != "staff_total"})[:-1] + f', "staff_total": {BIG}}}'
    assert '"as_of"' in body  # the fast path: validated from the bytes
    p = _problem(_raw(client, "/v1/scores", body, keys.h()), 422)
    assert [(e["field"], e["rule"]) for e in p["errors"]] == [("staff_total", "le:1e+06")]


def test_a_huge_float_is_a_422_not_a_400(client, keys):
    body = json.dumps(FIRM)[:-1] + ', "revenue_y2": 1e400}'
    p = _problem(_raw(client, "/v1/scores", body, keys.h()), 422)
    assert p["errors"][0]["field"] == "revenue_y2" and p["errors"][0]["value"] == "inf"


@pytest.mark.parametrize("change", ["+" + BIG, "+" + BIG + "%", "+1e400"])
def test_what_if_change_beyond_a_double_is_a_422_that_renders(client, keys, change):
    r = client.post("/v1/scores/what-if", json={"profile": FIRM, "changes": {"revenue_y0": change}}, headers=keys.h())
    p = _problem(r, 422)
    assert p["errors"][0]["field"] == "revenue_y0" and p["errors"][0]["path"] == "/changes/revenue_y0"


def test_a_list_as_name_is_refused_and_never_stored(client, keys):
    before = client.get("/v1/me/assessments", headers=keys.h("other_officer")).json()
    r = client.post("/v1/scores/rows", json=[FIRM, FIRM | {"name": ["a", "b"]}], headers=keys.h("other_officer"))
    p = _problem(r, 422)
    assert [(e["path"], e["field"], e["rule"]) for e in p["errors"]] == [("/1/name", "name", "type:scalar")]
    assert client.get("/v1/me/assessments", headers=keys.h("other_officer")).json() == before  # nothing stored


def test_history_reads_survive_an_old_poisoned_record(client, keys):
    """A record stored before the fix (a list as name) must not break any later read."""
    from service.store.audit import AuditRecord

    out = client.post("/v1/scores", json=FIRM, headers=keys.h("other_officer")).json()
    poisoned = AuditRecord("poison-1", out["assessed_at"], out["firm_id"], "officer-2", "rows", out["model_version"],
                           json.dumps(FIRM | {"name": ["a", "b"]}), json.dumps(out))
    client.app.state.api.audit().write_sync([poisoned])
    for who in ("other_officer", "admin"):
        r = client.get("/v1/me/assessments", headers=keys.h(who))
        assert r.status_code == 200, r.text
        assert any(a["assessment_id"] == "poison-1" and a["name"] is None for a in r.json())


def test_every_row_is_answered_scored_or_with_errors(client, keys):
    body = client.post("/v1/scores/rows", json=[{}, FIRM], headers=keys.h()).json()
    assert body["scored"] == 1 and body["rejected"] == 1
    empty, scored = body["results"]
    assert empty["ok"] is False and "assessment" not in empty and empty["errors"][0]["rule"] == "required"
    assert scored["ok"] is True and scored["assessment"]["firm_id"] == FIRM["firm_id"]
    _problem(client.post("/v1/scores/rows", json=[{"name": {"a": 1}}], headers=keys.h()), 422)


def test_a_rows_cell_beyond_64_bits_is_a_row_error(client, keys):
    r = _raw(client, "/v1/scores/rows", f'[{{"firm_id": "{FIRM["firm_id"]}", "staff_total": {BIG}}}]', keys.h())
    [item] = r.json()["results"]
    assert r.status_code == 200 and item["ok"] is False and item["errors"][0]["field"] == "staff_total"


@pytest.mark.parametrize("field, value, rule", [
    ("requested_amount", False, "type:number"), ("staff_total", True, "type:integer"),
    ("revenue_y0", 1e308, "le:1e+08"), ("net_profit_y0", -1e9, "ge:-1e+08"), ("invention_patents_granted", 10**7, "le:1e+06"),
])
def test_implausible_numbers_and_booleans_as_numbers_are_422(client, keys, field, value, rule):
    p = _problem(client.post("/v1/scores", json=FIRM | {field: value}, headers=keys.h()), 422)
    assert [(e["field"], e["rule"]) for e in p["errors"]] == [(field, rule)]


def test_a_rows_assessment_is_read_back_with_its_documented_channel(client, keys):
    out = client.post("/v1/scores/rows", json=[FIRM], headers=keys.h()).json()["results"][0]["assessment"]
    stored = client.get(f"/v1/assessments/{out['assessment_id']}", headers=keys.h()).json()
    enum = client.get("/openapi.json").json()["components"]["schemas"]["StoredAssessment"]["properties"]["channel"]["enum"]
    assert stored["channel"] == "rows" and "rows" in enum


def test_openapi_lists_401_on_web_and_monitoring_routes_and_422_where_there_are_inputs(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/form", "/v1/examples", "/v1/me/assessments", "/v1/monitoring/drift", "/v1/model/report"):
        assert {"401", "403", "503"} <= set(paths[path]["get"]["responses"]), path
    assert {"400", "409", "413", "422"} <= set(paths["/v1/scores/rows"]["post"]["responses"])
    assert "422" in paths["/v1/model/reload"]["post"]["responses"]
    problem = paths["/v1/scores"]["post"]["responses"]["422"]["content"]
    assert problem == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_docs_load_no_script_from_the_internet(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "https://" not in html and "http://" not in html
        for asset in [a for a in html.split('"') if a.startswith("/docs-assets/")]:
            assert client.get(asset).status_code == 200, asset


# ---- reload: trusted bundles from under the models root only ---------------------------------------
def _rel(settings, path: Path) -> str:
    return str(path.relative_to(settings.reload_root))


@pytest.mark.parametrize("requested, rule", [("mo\x00del", "no_nul"), ("/etc", "relative"), ("../x", "no_dotdot"),
                                             ("a/../../x", "no_dotdot")])
def test_reload_paths_outside_the_models_root_are_422(client, keys, requested, rule):
    p = _problem(client.post("/v1/model/reload", json={"model_dir": requested}, headers=keys.h("admin")), 422)
    assert p["errors"][0]["field"] == "model_dir" and p["errors"][0]["rule"] == rule


def test_reload_through_a_symlink_leaving_the_root_is_422(client, keys, settings, model_dir, tmp_path_factory):
    outside = tmp_path_factory.getbasetemp().parent / f"outside-{os.getpid()}"
    shutil.copytree(model_dir, outside, dirs_exist_ok=True)
    link = tmp_path_factory.mktemp("links") / "m"
    link.symlink_to(outside)
    p = _problem(client.post("/v1/model/reload", json={"model_dir": _rel(settings, link)}, headers=keys.h("admin")), 422)
    assert p["errors"][0]["rule"] == "inside_models_root"
    shutil.rmtree(outside)


@pytest.mark.parametrize("damage", ["manifest_list", "truncated", "untrusted", "old_pickle"])
def test_reload_of_a_bad_bundle_is_409_and_the_old_model_serves_on(client, keys, settings, model_dir, tmp_path, damage):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    if damage == "manifest_list":
        (d / MANIFEST_FILE).write_text("[]")
        trust_bundle_hash = bundle_sha256(d)
        _register(settings, trust_bundle_hash)  # even registered, `[]` is no bundle
    elif damage == "truncated":
        data = (d / DATA_FILE).read_bytes()[:2000]
        (d / DATA_FILE).write_bytes(data)
        manifest = json.loads((d / MANIFEST_FILE).read_text())
        import hashlib
        manifest["files"][DATA_FILE] = hashlib.sha256(data).hexdigest()
        (d / MANIFEST_FILE).write_text(json.dumps(manifest))
        _register(settings, bundle_sha256(d))  # the hash matches: the content is still no bundle
    elif damage == "untrusted":
        manifest = json.loads((d / MANIFEST_FILE).read_text())
        (d / MANIFEST_FILE).write_text(json.dumps(manifest | {"note": "changed"}))
    else:
        (d / MANIFEST_FILE).write_text(json.dumps({"format": "techscore-bundle/1", "bundle_file": "/tmp/x.pkl"}))
    before = client.get("/v1/model", headers=keys.h()).json()["manifest"]["version"]
    p = _problem(client.post("/v1/model/reload", json={"model_dir": _rel(settings, d)}, headers=keys.h("admin")), 409)
    assert "still serving the previous one" in p["detail"]
    assert client.post("/v1/scores", json=FIRM, headers=keys.h()).status_code == 200
    assert client.get("/v1/model", headers=keys.h()).json()["manifest"]["version"] == before


def _register(settings, sha: str) -> None:
    path = settings.trusted_bundles_file
    entries = read_trusted(path)
    entries[sha] = {"sha256": sha, "version": "test"}
    path.write_text(json.dumps({"bundles": list(entries.values())}))


def test_drift_keeps_counting_after_a_reload_of_the_same_version(client, keys, settings, model_dir, tmp_path):
    same = tmp_path / "same"
    shutil.copytree(model_dir, same)
    client.post("/v1/scores", json=FIRM, headers=keys.h())
    n = client.get("/v1/monitoring/drift", headers=keys.h()).json()["n"]
    assert client.post("/v1/model/reload", json={"model_dir": _rel(settings, same)}, headers=keys.h("admin")).status_code == 200
    client.post("/v1/scores", json=FIRM, headers=keys.h())
    assert client.get("/v1/monitoring/drift", headers=keys.h()).json()["n"] == n + 1


# ---- readiness -------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def own(settings, tmp_path):
    """A private app (own keys file, store and clock) whose failures do not leak into other tests."""
    keys = tmp_path / "keys.json"
    _, officer = create_key(keys, "officer", "o")
    app = create_app(settings.model_copy(update={"keys_file": keys, "database_url": f"sqlite:///{tmp_path / 'a.db'}"}))
    clock = Clock()
    app.state.api.clock = clock
    app.state.api.keys._clock = clock
    with TestClient(app) as c:
        yield c, keys, officer, clock


@pytest.mark.parametrize("content", ["{not json", '{"keys": [{"id": 1}]}', "[]", '{"keys": [{"id": "a", "role": "root", "sha256": "00"}]}'])
def test_a_malformed_keys_file_makes_readyz_503_and_requests_503_every_time(own, content):
    c, keys, officer, clock = own
    assert c.get("/readyz").status_code == 200
    keys.write_text(content)
    clock.now += 1.0
    p = _problem(c.get("/readyz"), 503)
    assert p["detail"] == "not ready: the API keys file cannot be read" and str(keys) not in p["detail"]
    for _ in range(4):  # never alternating 500/200: the same 503, with or without time passing
        assert _problem(c.post("/v1/scores", json=FIRM, headers={"X-API-Key": officer}), 503)["detail"].startswith("API keys")
        clock.now += 0.6
    keys.unlink()
    create_key(keys, "officer", "o2")
    clock.now += 1.0
    assert c.get("/readyz").status_code == 200


def test_an_unreadable_keys_file_makes_readyz_503(own):
    c, keys, _, clock = own
    keys.unlink()
    keys.mkdir()  # exists, but cannot be read as a file
    clock.now += 1.0
    assert _problem(c.get("/readyz"), 503)["detail"] == "not ready: the API keys file cannot be read"


def test_readyz_is_503_while_audit_commits_fail_and_says_nothing_internal(own, monkeypatch):
    c, _, officer, clock = own
    monkeypatch.setattr(AuditStore, "_commit", lambda self, groups: (_ for _ in ()).throw(OSError("disk full /var/x")))
    assert c.post("/v1/scores", json=FIRM, headers={"X-API-Key": officer}).status_code == 503
    p = _problem(c.get("/readyz"), 503)  # the failed write counts until a commit succeeds
    assert p["detail"] == "not ready: the audit store cannot commit"
    clock.now += 10.0
    monkeypatch.undo()
    assert c.post("/v1/scores", json=FIRM, headers={"X-API-Key": officer}).status_code == 200  # a write succeeds
    assert c.get("/readyz").status_code == 200  # recovered by itself once writes succeed again


def test_readyz_is_503_when_the_probe_commit_fails(own, monkeypatch):
    c, *_ = own

    def full(self):
        raise StoreError("database or disk is full: /secret/path")
    monkeypatch.setattr(AuditStore, "check_writable", full)
    p = _problem(c.get("/readyz"), 503)
    assert p["detail"] == "not ready: the audit store cannot commit" and "secret" not in json.dumps(p)


def test_readyz_without_a_model_names_no_path(settings, tmp_path):
    s = settings.model_copy(update={"model_dir": tmp_path / "none", "database_url": f"sqlite:///{tmp_path / 'b.db'}"})
    with TestClient(create_app(s)) as c:
        p = _problem(c.get("/readyz"), 503)
        assert p["detail"] == "not ready: no model is loaded" and str(tmp_path) not in json.dumps(p)


# ---- keys: list, revoke, rotate ----------------------------------------------------------------------
def test_revocation_reaches_a_running_ring_within_its_recheck_interval(tmp_path):
    path = tmp_path / "keys.json"
    _, secret = create_key(path, "officer", "alice")
    clock = Clock()
    ring = KeyRing(path, clock, recheck=1.0)
    assert ring.lookup(secret).id == "alice"
    revoke_key(path, "alice")
    clock.now += 1.0  # the most a worker may lag
    assert ring.lookup(secret) is None
    assert [k.id for k in read_keys(path) if not k.active] == ["alice"]


def test_rotation_keeps_the_id_and_role_and_retires_the_old_secret(tmp_path):
    path = tmp_path / "keys.json"
    _, old = create_key(path, "admin", "ops")
    clock = Clock()
    ring = KeyRing(path, clock)
    assert ring.lookup(old).id == "ops"
    key, new = rotate_key(path, "ops")
    clock.now += 1.0
    assert ring.lookup(old) is None and ring.lookup(new) == key and key.role == "admin"
    revoke_key(path, "ops")
    with pytest.raises(ValueError, match="revoked"):
        rotate_key(path, "ops")
    with pytest.raises(ValueError, match="no key"):
        revoke_key(path, "nobody")


def test_a_ring_on_a_malformed_file_fails_closed_until_it_is_fixed(tmp_path):
    path = tmp_path / "keys.json"
    _, secret = create_key(path, "officer", "a")
    clock = Clock()
    ring = KeyRing(path, clock)
    assert ring.lookup(secret).id == "a"
    good = path.read_text()
    path.write_text(good[:-5])
    clock.now += 1.0
    for _ in range(3):
        with pytest.raises(KeyFileError):
            ring.lookup(secret)
        clock.now += 0.3
    path.write_text(good)
    clock.now += 1.0
    assert ring.lookup(secret).id == "a" and ring.problem() is None


def test_revoked_key_is_refused_by_the_api(own):
    c, keys, officer, clock = own
    assert c.post("/v1/scores", json=FIRM, headers={"X-API-Key": officer}).status_code == 200
    revoke_key(keys, "o")
    clock.now += 1.0
    assert _problem(c.post("/v1/scores", json=FIRM, headers={"X-API-Key": officer}), 401)


def test_cli_keys_list_revoke_rotate(tmp_path):
    path = tmp_path / "k.json"
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "officer", "--id", "bob", "--keys-file", str(path)])
    secret = created.output.strip().splitlines()[-1]
    rotated = runner.invoke(cli, ["keys", "rotate", "bob", "--keys-file", str(path)])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip().splitlines()[-1]
    assert new.startswith("ts_") and new != secret and KeyRing(path).lookup(new).id == "bob"
    assert runner.invoke(cli, ["keys", "revoke", "bob", "--keys-file", str(path)]).exit_code == 0
    listed = runner.invoke(cli, ["keys", "list", "--keys-file", str(path)])
    assert listed.exit_code == 0 and "bob" in listed.output and "revoked" in listed.output
    assert secret not in listed.output and new not in listed.output
    again = runner.invoke(cli, ["keys", "revoke", "bob", "--keys-file", str(path)])
    assert again.exit_code == 2 and "revoked" in again.output
    path.write_text("{")
    broken = runner.invoke(cli, ["keys", "list", "--keys-file", str(path)])
    assert broken.exit_code == 2 and "Traceback" not in broken.output


# ---- bundle commands -------------------------------------------------------------------------------
def test_cli_bundle_trust_list_untrust_and_convert(trained, model_dir, tmp_path):
    import hashlib

    import joblib

    registry, runner = tmp_path / "trusted.json", CliRunner()
    r = runner.invoke(cli, ["bundle", "trust", str(model_dir), "--registry", str(registry)])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == bundle_sha256(model_dir)
    assert bundle_sha256(model_dir) in runner.invoke(cli, ["bundle", "list", "--registry", str(registry)]).output
    assert runner.invoke(cli, ["bundle", "untrust", bundle_sha256(model_dir)[:12], "--registry", str(registry)]).exit_code == 0
    assert read_trusted(registry) == {}
    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(trained.bundle, old / "model.joblib")
    sha = hashlib.sha256((old / "model.joblib").read_bytes()).hexdigest()
    (old / MANIFEST_FILE).write_text(json.dumps({"format": "techscore-bundle/1", "version": trained.bundle.version,
                                                 "bundle_file": "model.joblib", "sha256": sha}))
    r = runner.invoke(cli, ["bundle", "convert", str(old), str(tmp_path / "new"), "--trust", "--registry", str(registry)])
    assert r.exit_code == 0, r.output
    assert set(read_trusted(registry)) == {bundle_sha256(tmp_path / "new")}
    bad = runner.invoke(cli, ["bundle", "trust", str(tmp_path / "nowhere"), "--registry", str(registry)])
    assert bad.exit_code == 2 and "no model at" in bad.output


def test_training_the_served_model_registers_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHSCORE_MODEL_DIR", str(tmp_path / "served"))
    monkeypatch.setenv("TECHSCORE_TRUSTED_BUNDLES_FILE", str(tmp_path / "trusted.json"))
    r = CliRunner().invoke(cli, ["train", "--rows", "3000", "-o", str(tmp_path / "served"), "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert set(read_trusted(tmp_path / "trusted.json")) == {bundle_sha256(tmp_path / "served")}
    r = CliRunner().invoke(cli, ["train", "--rows", "3000", "-o", str(tmp_path / "other"), "--threads", "1"])
    assert r.exit_code == 0 and len(read_trusted(tmp_path / "trusted.json")) == 1  # not served: not registered


def test_reload_path_with_a_lone_surrogate_is_422(client, keys):
    r = client.post("/v1/model/reload", content=b'{"model_dir": "a\\ud800b"}',
                    headers=keys.h("admin") | {"Content-Type": "application/json"})
    assert _problem(r, 422)["errors"][0]["field"] == "model_dir"  # and the problem renders, surrogate and all


def test_a_lone_surrogate_is_a_400_wherever_it_is_sent(client, keys):
    for path in ("/v1/scores", "/v1/scores/batch", "/v1/scores/rows", "/v1/scores/what-if"):
        r = client.post(path, content=b'[1e400, {"name": "a\\ud800"}]', headers=keys.h() | {"Content-Type": "application/json"})
        assert _problem(r, 400)["detail"].startswith("request body is not valid JSON"), path


@pytest.mark.parametrize("field, change", [("revenue_y0", BIG), ("staff_total", BIG), ("tax_grade", f'"+{BIG}"'),
                                           ("founded_on", '"9999-01-01"')])
def test_what_if_changes_beyond_range_are_422_naming_the_field(client, keys, field, change):
    body = f'{{"profile": {json.dumps(FIRM)}, "changes": {{"{field}": {change}}}}}'
    p = _problem(_raw(client, "/v1/scores/what-if", body, keys.h()), 422)
    assert [e["field"] for e in p["errors"]] == [field]


def test_true_false_as_a_number_is_a_row_error_on_the_rows_endpoint(client, keys):
    body = client.post("/v1/scores/rows", json=[FIRM | {"requested_amount": False}, FIRM | {"state_fund_backed": True}],
                       headers=keys.h()).json()
    first, second = body["results"]
    assert first["ok"] is False and (first["errors"][0]["field"], first["errors"][0]["rule"]) == ("requested_amount", "type:number")
    assert second["ok"] is True  # a yes/no field takes true/false


def test_a_huge_number_in_a_json_batch_is_a_422_naming_the_field(client, keys):
    body = b'[{"firm_id": "91440300MA5DK7QX24", "revenue_y0": 1' + b"0" * 400 + b"}]"
    r = client.post("/v1/scores/batch", content=body, headers={**keys.h(), "Content-Type": "application/json"})
    assert r.status_code in (200, 422)
    if r.status_code == 200:  # a batch answers per firm: that firm is refused naming the field
        item = r.json()["results"][0]
        assert not item["ok"] and item["errors"][0]["field"] == "revenue_y0"
    else:
        assert "revenue_y0" in r.text
