"""An upload's audit record is streamed: the file and the reply spooled on disk while scored, stored in
pieces (`upload_blobs`) at the commit, and read back byte for byte; uploads stored inline before keep
reading back; the spool is gone once the answer is committed."""
from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from datetime import date

import pyarrow as pa
import pytest
from sqlalchemy import insert, select

import service.store.audit as store_module
from features.schema import example_profiles
from service.batch.csv_scoring import AuditSpool, UploadLimits, score_upload
from service.store.migrations import downgrade, upgrade
from service.store.audit import AuditStore, UploadRecord, table_bytes, upload_blob, upload_blobs, uploads

FIRMS = list(example_profiles().values())
_ZSTD = pa.Codec("zstd", compression_level=1)


def _csv(n: int) -> bytes:
    names = list(FIRMS[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for i in range(n):
        firm = FIRMS[i % len(FIRMS)]
        w.writerow(["" if firm[k] is None else firm[k] for k in names])
    return buf.getvalue().encode()


def _output() -> pa.Table:
    return pa.table({"row": [0, 1, 2], "assessment_id": ["u-0", None, "u-2"], "firm_id": ["F1", "F9", "F2"],
                     "score": [612.5, None, 580.0], "grade": ["BBB", None, "BB"], "error": [None, "bad", None]})


ASSESSED = [("u-0", 0, "F1", "甲公司", 612.5, "BBB"), ("u-2", 2, "F2", None, 580.0, "BB")]
FILE = "firm_id,name,revenue_y0\nF1,甲公司,12.5\nF9,,x\nF2,,007\n".encode() * 200


def test_an_upload_in_many_pieces_reads_back_byte_for_byte(audit_url, monkeypatch):
    monkeypatch.setattr(store_module, "BLOB_CHUNK_BYTES", 16)  # every blob in several pieces
    store = AuditStore(audit_url)
    record = UploadRecord.build("up-1", "2025-01-01T00:00:02+00:00", "k1", "v2", FILE, _output(), ASSESSED)
    store.write_sync([record])
    with store.engine.connect() as conn:
        pieces = conn.execute(select(upload_blobs.c.part, upload_blobs.c.seq, upload_blobs.c.data)
                              .order_by(upload_blobs.c.part, upload_blobs.c.seq)).all()
        file = upload_blob(conn, "up-1", "file")
        output = upload_blob(conn, "up-1", "output")
    assert {p for p, _, _ in pieces} == {"file", "output"}
    assert max(len(d) for _, _, d in pieces) == 16 and sum(p == "file" for p, _, _ in pieces) > 2
    assert file == _ZSTD.compress(FILE, asbytes=True) and output == table_bytes(_output())
    assert _ZSTD.decompress(file, decompressed_size=len(FILE), asbytes=True) == FILE
    got = store.get("u-2")
    assert got["input"] == {"firm_id": "F2", "name": None, "revenue_y0": "007"}
    assert got["output"]["score"] == 580.0 and got["upload"]["file_sha256"] == hashlib.sha256(FILE).hexdigest()
    store.close()


def test_an_upload_stored_inline_before_the_pieces_still_reads_back(audit_url):
    store = AuditStore(audit_url)
    with store.engine.begin() as conn:
        conn.execute(insert(uploads), [{"id": "up-0", "received_at": "2025-01-01T00:00:01+00:00", "key_id": "k1",
                                        "model_version": "v1", "rows": 3, "file_sha256": hashlib.sha256(FILE).hexdigest(),
                                        "file_size": len(FILE), "file_zstd": _ZSTD.compress(FILE, asbytes=True),
                                        "output_arrow": table_bytes(_output())}])
        conn.execute(insert(store_module.upload_assessments),
                     [{"id": "u-0", "upload_id": "up-0", "row": 0, "assessed_at": "2025-01-01T00:00:01+00:00",
                       "firm_id": "F1", "key_id": "k1", "model_version": "v1", "score": 612.5, "grade": "BBB"}])
    got = store.get("u-0")
    assert got["input"]["name"] == "甲公司" and got["output"]["grade"] == "BBB"
    store.close()


def test_downgrade_joins_the_pieces_back_inline_and_upgrade_keeps_them_readable(audit_url, monkeypatch):
    monkeypatch.setattr(store_module, "BLOB_CHUNK_BYTES", 100)
    store = AuditStore(audit_url)
    store.write_sync([UploadRecord.build("up-1", "2025-01-01T00:00:02+00:00", "k1", "v2", FILE, _output(), ASSESSED)])
    before = store.get("u-2")
    downgrade(store.engine, "0002")
    with store.engine.connect() as conn:
        inline = conn.execute(select(uploads.c.file_zstd, uploads.c.output_arrow)).one()
    assert bytes(inline[0]) == _ZSTD.compress(FILE, asbytes=True) and bytes(inline[1]) == table_bytes(_output())
    upgrade(store.engine)
    assert store.get("u-2") == before
    store.close()


def test_scoring_spools_the_audit_record_to_disk_and_the_record_copies_it(scorer, tmp_path, monkeypatch):
    """The record of a scored upload names files (never bytes in memory): the file compressed, the reply as
    an Arrow stream, the assessed rows read back batch by batch; the spool folder goes on close()."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tmp_path / "up.csv"
    data = _csv(60)
    path.write_bytes(data)
    steps = score_upload(scorer, path, date(2025, 6, 30), UploadLimits(block_bytes=4096))
    scored = next(s for s in steps if s is not None)
    spool = scored.spool
    assert isinstance(spool, AuditSpool) and spool.folder.parent == tmp_path
    assert _ZSTD.decompress(spool.file.read_bytes(), decompressed_size=len(data), asbytes=True) == data
    with pa.OSFile(str(spool.output)) as fh:
        reply = pa.ipc.open_stream(fh).read_all()
    assert reply.num_rows == 60
    rows = list(scored.assessed_rows())
    assert len(rows) == scored.scored == 60 and [r[1] for r in rows] == list(range(60))
    assert [r[0] for r in rows] == reply.column("assessment_id").to_pylist()
    scored.reply.close()
    scored.close()
    assert not spool.folder.exists()


def test_a_failed_upload_leaves_no_spool_behind(scorer, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = tmp_path / "up.csv"
    path.write_bytes(b"firm_id,name\n")  # header only: refused after the check
    with pytest.raises(ValueError):
        list(score_upload(scorer, path, date(2025, 6, 30), UploadLimits()))
    path.write_bytes(_csv(30))
    steps = score_upload(scorer, path, date(2025, 6, 30), UploadLimits(block_bytes=2048))
    next(steps), next(steps)  # checked, one chunk scored: then the client goes away
    steps.close()
    assert [p.name for p in tmp_path.iterdir()] == ["up.csv"]


def test_an_api_upload_stores_the_file_and_reply_in_pieces_and_removes_its_spool(settings, keys, tmp_path,
                                                                                 monkeypatch):
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    monkeypatch.setattr(store_module, "BLOB_CHUNK_BYTES", 4096)
    spools = tmp_path / "spools"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    data = _csv(40)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/scores/csv", content=data, headers=keys.h() | {"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        out = list(csv.DictReader(io.StringIO(r.text)))
        store = client.app.state.api.audit()
        with store.engine.connect() as conn:
            upload_id = conn.execute(select(store_module.upload_assessments.c.upload_id)
                                     .where(store_module.upload_assessments.c.id == out[5]["assessment_id"])).scalar_one()
            nulls = conn.execute(select(uploads.c.file_zstd, uploads.c.output_arrow)
                                 .where(uploads.c.id == upload_id)).one()
            pieces = conn.execute(select(upload_blobs.c.seq).where(upload_blobs.c.upload_id == upload_id,
                                                                   upload_blobs.c.part == "output")).scalars().all()
            file = upload_blob(conn, upload_id, "file")
            output = upload_blob(conn, upload_id, "output")
        assert nulls == (None, None) and len(pieces) > 1
        assert _ZSTD.decompress(file, decompressed_size=len(data), asbytes=True) == data  # byte for byte
        returned = pa.ipc.open_stream(output).read_all()
        assert returned.column("assessment_id").to_pylist() == [o["assessment_id"] or None for o in out]
        stored = client.get(f"/v1/assessments/{out[5]['assessment_id']}", headers=keys.h()).json()
        assert stored["output"]["assessment_id"] == out[5]["assessment_id"] and stored["upload"]["row"] == 5
    assert not any(p.name.startswith("techscore-audit-") for p in spools.iterdir())
