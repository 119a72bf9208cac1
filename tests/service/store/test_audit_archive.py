"""Retention: records before a cutoff exported to Parquet (input and answer as stored), then deleted;
the command line; migrations of a store made before them (on SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from service.store.archive import apply_retention, archive, cutoff, exclusive
from service.cli.main import app
from service.store.migrations import current, downgrade, head, upgrade
from service.store.audit import AuditRecord, AuditStore, UploadRecord, make_engine


def _rec(i: int, at: str, name: str = "甲公司") -> AuditRecord:
    given = json.dumps({"firm_id": f"F{i}", "name": name, "revenue_y0": i * 1.5}, ensure_ascii=False, indent=1)
    return AuditRecord(f"id-{i}", at, f"F{i}", "k1", "single", "v1", given,
                       json.dumps({"assessment_id": f"id-{i}", "score": 600.0 + i, "grade": "BB"}))


def _upload(at: str) -> UploadRecord:
    file = "firm_id,name,revenue_y0\nF7,乙公司,12.5\nF8,,x\n".encode()
    output = pa.table({"row": [0, 1], "assessment_id": ["u-0", None], "score": [612.5, None], "error": [None, "bad"]})
    return UploadRecord.build("up-1", at, "k2", "v2", file, output, [("u-0", 0, "F7", "乙公司", 612.5, "BBB")])


OLD, NEW = "2024-03-01T08:00:00.000000+00:00", "2025-06-01T08:00:00.000000+00:00"


def test_archive_exports_the_old_records_then_deletes_exactly_them(audit_url, tmp_path):
    store = AuditStore(audit_url)
    old = [_rec(i, OLD) for i in range(5)]
    store.write_sync(old + [_rec(9, NEW), _upload(OLD)])
    out = tmp_path / "a" / "before-2025.parquet"
    result = archive(store, date(2025, 1, 1), out, delete_after=True)
    assert (result.path, result.records, result.deleted) == (out, 6, 6)
    table = pq.read_table(out).to_pylist()
    singles = {r["assessment_id"]: r for r in table if r["channel"] == "single"}
    for rec in old:  # byte for byte as stored
        row = singles[rec.id]
        assert (row["input"], row["output"], row["assessed_at"]) == (rec.input_json, rec.output_json, OLD)
        assert (row["score"], row["grade"], row["name"], row["key_id"]) == (600.0 + int(rec.id[3:]), "BB", "甲公司", "k1")
    (csv_row,) = [r for r in table if r["channel"] == "csv"]
    assert json.loads(csv_row["input"]) == {"firm_id": "F7", "name": "乙公司", "revenue_y0": "12.5"}
    assert json.loads(csv_row["output"])["score"] == 612.5
    assert (csv_row["upload_id"], csv_row["upload_row"], csv_row["name"]) == ("up-1", 0, "乙公司")
    assert store.ids() == {"id-9"}  # the newer record stays
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from uploads").scalar() == 0
    assert not list(out.parent.glob("*.partial"))
    with pytest.raises(FileExistsError):  # an archive is never overwritten
        archive(store, date(2026, 1, 1), out)
    assert archive(store, date(2024, 1, 1), tmp_path / "none.parquet").path is None  # nothing that old
    assert not (tmp_path / "none.parquet").exists()
    store.close()


def test_retention_archives_into_its_folder_and_one_process_at_a_time(audit_url, tmp_path):
    store = AuditStore(audit_url)
    store.write_sync([_rec(1, OLD), _rec(2, NEW)])
    with exclusive(store.engine) as mine:  # another archiver holds the lock: this one skips its turn
        assert mine
        assert apply_retention(store, 30, tmp_path, now=datetime(2025, 6, 2, tzinfo=timezone.utc)) is None
    result = apply_retention(store, 30, tmp_path, now=datetime(2025, 6, 2, tzinfo=timezone.utc))
    assert result.records == 1 and result.path.parent == tmp_path
    assert result.path.name.startswith("audit-before-20250503T000000Z")
    assert store.ids() == {"id-2"}
    store.close()


def test_cutoff_is_comparable_with_stored_timestamps():
    assert cutoff(date(2025, 1, 1)) == "2025-01-01T00:00:00.000000+00:00"
    assert cutoff(date(2025, 1, 1)) < "2025-01-01T00:00:00.000001+00:00"
    assert cutoff(datetime(2025, 1, 1, 8, tzinfo=timezone.utc)) > "2025-01-01T07:59:59.999999+00:00"


def test_the_archive_command(audit_url, tmp_path):
    store = AuditStore(audit_url)
    store.write_sync([_rec(1, OLD), _rec(2, NEW)])
    store.close()
    out = tmp_path / "x.parquet"
    args = ["audit", "archive", "--before", "2025-01-01", "-o", str(out), "--database-url", audit_url]
    r = CliRunner().invoke(app, args + ["--delete"])
    assert r.exit_code == 0, r.output
    assert "1 records" in r.output and pq.read_table(out).column("assessment_id").to_pylist() == ["id-1"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    neither = CliRunner().invoke(app, ["audit", "archive", "-o", str(tmp_path / "y.parquet"), "--database-url", audit_url])
    assert neither.exit_code == 2 and "--before" in neither.output
    r = CliRunner().invoke(app, ["db", "current", "--database-url", audit_url])
    assert r.exit_code == 0 and f"database {head()}" in r.output


LEGACY_INPUT = '{"firm_id": "F1",  "name": "老公司"}'
LEGACY_OUTPUT = '{"assessment_id":"old-1","score":590.25,"grade":"B"}'


@pytest.mark.parametrize("stamped", [True, False])
def test_a_store_from_before_the_compact_format_is_migrated(audit_url, stamped):
    """A baseline store (stamped by Alembic, or created before migrations existed) keeps every record."""
    engine = make_engine(audit_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO assessments (id, assessed_at, firm_id, key_id, channel, model_version, "
                          "input_json, output_json) VALUES ('old-1', :at, 'F1', 'k1', 'single', 'v0', :i, :o)"),
                     {"at": OLD, "i": LEGACY_INPUT, "o": LEGACY_OUTPUT})
        if not stamped:
            conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    store = AuditStore(audit_url)  # migrates on open
    assert current(store.engine) == head()
    assert store.get_bytes("old-1") == (LEGACY_INPUT.encode(), LEGACY_OUTPUT.encode())
    assert store.summaries("F1")[0] | {"assessed_at": None} == {
        "assessment_id": "old-1", "assessed_at": None, "channel": "single", "model_version": "v0",
        "score": 590.25, "grade": "B", "firm_id": "F1", "name": "老公司"}
    store.write_sync([_rec(2, NEW)])
    store.close()
    engine = make_engine(audit_url)
    downgrade(engine, "0001")  # and back: the JSON text as it was
    with engine.connect() as conn:
        assert conn.execute(text("SELECT input_json, output_json FROM assessments WHERE id='old-1'")).one() == (
            LEGACY_INPUT, LEGACY_OUTPUT)
    engine.dispose()
