"""CSV upload, model reload and audit-store failures through the ASGI client."""
from __future__ import annotations

import csv
import io
import shutil

import pytest
from fastapi.testclient import TestClient

from features.schema import FIELD_SPECS, example_profiles
from models.scoring import RESULT_COLUMNS
from service.api.app import create_app
from service.batch.csv_scoring import OUTPUT_COLUMNS
from service.store.audit import AuditStore

FIRMS = list(example_profiles().values())


def _header(row: dict, chinese: bool) -> list[str]:
    return [FIELD_SPECS[n].label_zh if chinese else n for n in row]


def _cell(value) -> str:
    """A typed value as the scored CSV writes it (floats as their shortest round-trip text)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    return str(value)


def _csv(rows: list[dict], chinese: bool = False) -> str:
    names = list(rows[0])
    header = _header(rows[0], chinese)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r[n] is None else r[n] for n in names])
    return buf.getvalue()


def _read(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("encoding,chinese", [("utf-8", False), ("utf-8-sig", True), ("gbk", True)])
def test_csv_upload_scores_every_row_in_order(client, keys, encoding, chinese):
    rows = [FIRMS[0], FIRMS[1] | {"revenue_y0": -3, "rd_staff": 999}, FIRMS[2]]
    data = _csv(rows, chinese).encode(encoding)
    r = client.post("/v1/scores/csv", files={"file": ("firms.csv", data, "text/csv")}, headers=keys.h())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    out = _read(r.text)
    assert list(out[0]) == list(OUTPUT_COLUMNS)
    assert [o["row"] for o in out] == ["0", "1", "2"]
    assert [o["firm_id"] for o in out] == [f["firm_id"] for f in rows]
    assert out[1]["error"] and "revenue_y0" in out[1]["error"] and "rd_staff_le_staff" in out[1]["error"]
    assert out[1]["score"] == "" and out[1]["assessment_id"] == ""
    assert out[0]["error"] == "" and out[2]["error"] == ""
    single = client.post("/v1/scores", json=FIRMS[2], headers=keys.h()).json()
    assert float(out[2]["score"]) == single["score"] and out[2]["grade"] == single["grade"]
    for i in (0, 2):
        stored = client.get(f"/v1/assessments/{out[i]['assessment_id']}", headers=keys.h()).json()
        assert stored["channel"] == "csv" and stored["key_id"] == "officer-1"
        assert stored["model_version"] == out[i]["model_version"] == single["model_version"]
        assert {k: _cell(v) for k, v in stored["output"].items()} == out[i]  # the row exactly as returned
        assert stored["input"] == {h: None if v is None else str(v) for h, v in zip(_header(rows[i], chinese), rows[i].values())}
        assert stored["upload"]["row"] == i
    history = client.get("/v1/assessments", params={"firm_id": FIRMS[2]["firm_id"]}, headers=keys.h()).json()
    assert {"assessment_id": out[2]["assessment_id"], "assessed_at": stored["assessed_at"], "channel": "csv",
            "model_version": single["model_version"], "score": single["score"], "grade": single["grade"]} \
        in history["assessments"]


def test_csv_as_a_raw_text_body(client, keys):
    r = client.post("/v1/scores/csv", content=_csv(FIRMS).encode(), headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 200
    assert all(set(RESULT_COLUMNS) <= set(row) and row["grade"] for row in _read(r.text))


@pytest.mark.parametrize("content,fragment", [(b"", "empty"), (b"\xff\xfe\x00\x00garbage\x81\x30", "UTF-8"),
                                              (b"firm_id,revenue_y0,\xe8\x90\xa5\xe4\xb8\x9a\xe6\x94\xb6\xe5\x85\xa5(\xe5\xbd\x93\xe5\xb9\xb4)\n1,2,3\n", "both map")])
def test_unreadable_csv_is_422(client, keys, content, fragment):
    r = client.post("/v1/scores/csv", content=content, headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 422 and fragment in r.json()["detail"], r.text


def test_csv_wrong_media_type_is_415_and_too_large_is_413(client, keys):
    assert client.post("/v1/scores/csv", json={"a": 1}, headers=keys.h()).status_code == 415
    big = _csv(FIRMS).encode() + b"x" * (2 * 1024 * 1024)
    r = client.post("/v1/scores/csv", files={"file": ("f.csv", big, "text/csv")}, headers=keys.h())
    assert r.status_code == 413 and r.json()["type"].endswith("too-large")


def test_reload_swaps_model_and_refuses_a_tampered_bundle(client, keys, model_dir, settings, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(model_dir, good)  # the same (registered) bundle, under the models root
    rel = lambda p: str(p.relative_to(settings.reload_root))  # noqa: E731
    r = client.post("/v1/model/reload", json={"model_dir": rel(good)}, headers=keys.h("admin"))
    assert r.status_code == 200 and r.json()["status"] == "reloaded"
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    with open(bad / "bundle.json", "ab") as fh:
        fh.write(b"tampered")
    r = client.post("/v1/model/reload", json={"model_dir": rel(bad)}, headers=keys.h("admin"))
    assert r.status_code == 409 and "sha256" in r.json()["detail"]
    assert client.post("/v1/scores", json=FIRMS[0], headers=keys.h()).status_code == 200  # old model serves on


def test_no_decision_when_the_audit_record_cannot_be_written(client, keys, monkeypatch):
    def broken(self, groups):
        raise OSError("disk full")
    monkeypatch.setattr(AuditStore, "_commit", broken)
    r = client.post("/v1/scores", json=FIRMS[0], headers=keys.h())
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    body = r.json()
    assert "score" not in body and "grade" not in body and "audit" in body["detail"]
    assert client.post("/v1/scores/batch", json=FIRMS, headers=keys.h()).status_code == 503
    assert client.post("/v1/scores/csv", content=_csv(FIRMS).encode(),
                       headers=keys.h() | {"Content-Type": "text/csv"}).status_code == 503
    assert 'techscore_audit_write_failures_total' in client.get("/metrics").text


def test_readyz_is_503_without_a_model_or_a_writable_store(settings, tmp_path, keys):
    no_model = settings.model_copy(update={"model_dir": tmp_path / "none",
                                           "database_url": f"sqlite:///{tmp_path / 'a.db'}"})
    with TestClient(create_app(no_model)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["detail"] == "not ready: no model is loaded"
        assert c.get("/healthz").status_code == 200
        assert c.post("/v1/scores", json=FIRMS[0], headers=keys.h()).status_code == 503
    db = tmp_path / "ro.db"
    AuditStore(f"sqlite:///{db}").close()
    ro = settings.model_copy(update={"database_url": f"sqlite:///file:{db}?mode=ro&uri=true"})
    with TestClient(create_app(ro)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["detail"] == "not ready: the audit store cannot commit"


def test_a_csv_with_no_valid_row_is_answered_row_by_row_and_records_nothing(client, keys, settings):
    rows = [FIRMS[0] | {"revenue_y0": -3}, FIRMS[1] | {"firm_id": "not-a-code"}]
    store = AuditStore(settings.database_url)
    before = store.ids()
    r = client.post("/v1/scores/csv", content=_csv(rows).encode(), headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    out = _read(r.text)
    assert [o["row"] for o in out] == ["0", "1"] and all(o["error"] and not o["assessment_id"] for o in out)
    assert [o["firm_id"] for o in out] == [FIRMS[0]["firm_id"], "not-a-code"]
    assert store.ids() == before
    store.close()
