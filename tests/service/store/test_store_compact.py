"""Compact audit records: the request and the answer come back byte for byte, in well under 2 KB each."""
from __future__ import annotations

import json

import numpy as np
from fastapi.testclient import TestClient

from features.schema import FIELD_SPECS, example_profiles
from service.store import codec as audit_codec
from service.api.app import create_app
from service.store.audit import PG_DATA_BYTES, AuditStore, make_engine
from training.synthetic import generate


def test_pack_and_unpack_are_exact_with_and_without_a_dictionary():
    given, answer = "{\"name\": \"甲公司\",  \"x\": 1.50}".encode(), b'{"score":612.5,"grade":"BBB"}'
    dictionary = audit_codec.make_dictionary([given + answer] * 3)
    for d in (None, dictionary):
        assert audit_codec.unpack(audit_codec.pack(given, answer, d), len(given), d) == (given, answer)
    assert len(audit_codec.pack(given, answer, dictionary)) < len(audit_codec.pack(given, answer, None))


def test_the_stored_input_and_answer_are_the_request_and_response_bytes(client, keys, settings):
    # odd spacing, key order and non-ASCII: nothing may be normalised on the way into the store
    body = json.dumps(example_profiles()["startup"] | {"name": "深圳某某科技 有限公司"}, ensure_ascii=False, indent=3)
    r = client.post("/v1/scores", content=body.encode(), headers=keys.h() | {"Content-Type": "application/json"})
    assert r.status_code == 200
    store = AuditStore(settings.database_url)
    stored_input, stored_answer = store.get_bytes(r.json()["assessment_id"])
    assert stored_input == body.encode() and stored_answer == r.content
    summary = store.summaries(r.json()["firm_id"], limit=1)[0]
    assert (summary["score"], summary["grade"], summary["name"]) == (r.json()["score"], r.json()["grade"],
                                                                      "深圳某某科技 有限公司")
    assert store.get_bytes("no-such-id") is None
    store.close()


def _firms(n: int) -> list[dict]:
    frame = generate(n, seed=11)
    cols = [c for c in frame.columns if c in FIELD_SPECS]
    firms = []
    for row in frame[cols].to_dict(orient="records"):
        firms.append({k: (v.isoformat() if hasattr(v, "isoformat") else v.item() if isinstance(v, np.generic) else v)
                      for k, v in row.items() if not (isinstance(v, float) and v != v)})
    return firms


def _database_bytes(url: str) -> int:
    """Bytes the store occupies: SQLite's pages (page_count sees the WAL's too), PostgreSQL's
    relations with their indexes and TOAST."""
    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            size = conn.exec_driver_sql("PRAGMA page_count").scalar() * conn.exec_driver_sql("PRAGMA page_size").scalar()
        else:
            size = conn.exec_driver_sql(PG_DATA_BYTES).scalar()
    engine.dispose()
    return int(size)


def test_an_assessment_costs_under_2_kb_of_database(settings, keys, tmp_path, audit_backend):
    """What the database grows by (tables, indexes, the dictionary's share) per assessment answered."""
    url = f"sqlite:///{tmp_path / 'size.db'}" if audit_backend.startswith("sqlite") else audit_backend
    own = settings.model_copy(update={"database_url": url, "batch_limit": 1000, "max_body_bytes": 16 << 20})
    firms = _firms(700)
    with TestClient(create_app(own)) as client:
        first = client.post("/v1/scores/batch", json=firms[:100], headers=keys.h()).json()
        before = _database_bytes(url)
        rest = client.post("/v1/scores/batch", json=firms[100:], headers=keys.h()).json()
        grown = _database_bytes(url) - before
    scored = rest["scored"]
    assert first["scored"] > 50 and scored > 300
    print(f"audit bytes per assessment ({audit_backend.split(':')[0]}): {grown / scored:.0f}")
    assert grown / scored <= 2048, f"{grown / scored:.0f} bytes per assessment"
    store = AuditStore(url)
    for item in rest["results"][:20]:  # and still exactly what was answered
        if item["ok"]:
            _, answer = store.get_bytes(item["assessment"]["assessment_id"])
            assert json.loads(answer) == item["assessment"]
    store.close()


def test_a_dictionary_made_of_one_record_is_replaced_once_enough_records_were_seen(tmp_path):
    from service.store.audit import AuditRecord, dictionaries

    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    body = json.dumps(example_profiles()["growth"])

    def rec(i: int) -> AuditRecord:
        answer = json.dumps({"score": 600 + i, "grade": "BB", "reasons": [f"reason {i} " * 40] * 10})
        return AuditRecord(f"id-{i}", "2025-01-01T00:00:00+00:00", "F1", "k1", "single", "v1", body, answer)

    store.write_sync([rec(0)])
    young = store._dict_id
    store.write_sync([rec(i) for i in range(1, 9)])
    assert store._dict_id != young and len(store._dict) == audit_codec.DICT_BYTES
    with store.engine.connect() as conn:
        assert len(conn.execute(dictionaries.select()).all()) == 2
    assert [json.loads(store.get_bytes(f"id-{i}")[1])["score"] for i in range(9)] == list(range(600, 609))
    store.close()
    reopened = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    assert reopened._dict_id == store._dict_id  # the newest dictionary serves on
    reopened.close()
