"""Audit store: group commit, isolation of a bad record, reads (on SQLite and PostgreSQL), and SQLite's WAL."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import sqlite3
import time

import pyarrow as pa
import pytest

import service.store.audit as store_module
from service.store.audit import AuditRecord, AuditStore, StoreError, UploadRecord


def _rec(i: int, firm: str = "F1", key: str = "k1") -> AuditRecord:
    return AuditRecord(f"id-{i}", f"2025-01-01T00:00:{i:02d}+00:00", firm, key, "single", "v1", '{"in": 1}',
                       f'{{"out": {i}}}')


@pytest.mark.parametrize("sync", ["NORMAL", "FULL"])
def test_concurrent_writes_are_committed_in_groups(tmp_path, sync):
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", sync)
    groups: list[int] = []
    original = store._commit

    def spy(batch):
        groups.append(len(batch))
        original(batch)

    store._commit = spy  # type: ignore[method-assign]

    async def main() -> None:
        await asyncio.gather(*(store.write([_rec(i)]) for i in range(20)))

    asyncio.run(main())
    assert store.ids() == {f"id-{i}" for i in range(20)}
    assert sum(groups) == 20 and len(groups) < 20
    # committed means visible to another connection (another process after a crash)
    with sqlite3.connect(tmp_path / "a.db") as con:
        assert con.execute("select count(*) from assessments").fetchone()[0] == 20
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    store.close()


def test_concurrent_writes_are_committed_in_groups_on_every_backend(audit_url):
    store = AuditStore(audit_url)
    groups: list[int] = []
    original = store._commit
    store._commit = lambda batch: (groups.append(len(batch)), original(batch))  # type: ignore[method-assign]

    async def main() -> None:
        await asyncio.gather(*(store.write([_rec(i)]) for i in range(20)))

    asyncio.run(main())
    assert store.ids() == {f"id-{i}" for i in range(20)}
    assert sum(groups) == 20 and len(groups) < 20
    store.close()


def test_one_bad_record_does_not_fail_its_neighbours(audit_url):
    store = AuditStore(audit_url)
    store.write_sync([_rec(1)])

    async def main():
        return await asyncio.gather(store.write([_rec(2)]), store.write([_rec(1)]), store.write([_rec(3)]),
                                    return_exceptions=True)

    ok2, dup, ok3 = asyncio.run(main())
    assert ok2 is None and ok3 is None and isinstance(dup, StoreError)
    assert store.ids() == {"id-1", "id-2", "id-3"}
    assert store.healthy()  # one bad record is not a sick store
    store.close()


def test_history_is_per_firm_newest_first_and_filtered_by_key(audit_url):
    store = AuditStore(audit_url)
    store.write_sync([_rec(1), _rec(2, key="k2"), _rec(3), _rec(4, firm="F2")])
    assert [r["assessment_id"] for r in store.summaries("F1")] == ["id-3", "id-2", "id-1"]
    assert [r["assessment_id"] for r in store.summaries("F1", key_id="k1")] == ["id-3", "id-1"]
    assert store.summaries("F1", limit=1)[0] == {"assessment_id": "id-3", "assessed_at": "2025-01-01T00:00:03+00:00",
                                                  "channel": "single", "model_version": "v1", "score": None,
                                                  "grade": None, "firm_id": "F1", "name": None}
    assert store.get("id-4")["firm_id"] == "F2" and store.get("id-4")["output"] == {"out": 4}
    assert store.get("nope") is None
    store.check_writable()
    assert store.ids() == {"id-1", "id-2", "id-3", "id-4"}  # the probe leaves nothing behind
    store.close()


def _upload(file: bytes, at: str) -> UploadRecord:
    output = pa.table({"row": [0, 1, 2], "assessment_id": ["u-0", None, "u-2"], "firm_id": ["F1", "F9", "F2"],
                       "score": [612.5, None, 580.0], "grade": ["BBB", None, "BB"], "error": [None, "bad", None]})
    return UploadRecord.build("up-1", at, "k1", "v2", file, output,
                              [("u-0", 0, "F1", "甲公司", 612.5, "BBB"), ("u-2", 2, "F2", None, 580.0, "BB")])


def test_an_upload_is_stored_once_and_read_back_row_by_row(audit_url):
    store = AuditStore(audit_url)
    file = "firm_id,name,revenue_y0\nF1,甲公司,12.5\nF9,,x\nF2,,007\n".encode()
    store.write_sync([_rec(1), _rec(3), _upload(file, "2025-01-01T00:00:02+00:00")])
    got = store.get("u-2")
    assert got == {"assessment_id": "u-2", "assessed_at": "2025-01-01T00:00:02+00:00", "firm_id": "F2",
                   "key_id": "k1", "channel": "csv", "model_version": "v2",
                   "input": {"firm_id": "F2", "name": None, "revenue_y0": "007"},  # cells as text, as read
                   "output": {"row": 2, "assessment_id": "u-2", "firm_id": "F2", "score": 580.0, "grade": "BB",
                              "error": None},
                   "upload": {"id": "up-1", "row": 2, "file_sha256": hashlib.sha256(file).hexdigest()}}
    assert store.get("u-0")["input"]["name"] == "甲公司"
    assert [r["assessment_id"] for r in store.summaries("F1")] == ["id-3", "u-0", "id-1"]  # one history, by time
    assert store.summaries("F1")[1] | {"assessed_at": None} == {
        "assessment_id": "u-0", "assessed_at": None, "channel": "csv", "model_version": "v2", "score": 612.5,
        "grade": "BBB", "firm_id": "F1", "name": "甲公司"}
    assert [r["assessment_id"] for r in store.summaries(key_id="k1", limit=2)] == ["id-3", "u-0"]
    assert store.ids() == {"id-1", "id-3", "u-0", "u-2"}
    with store.engine.connect() as con:  # the file once, compressed; one small row per assessment
        assert con.exec_driver_sql("select count(*) from uploads where file_zstd is null").scalar() == 1
        count, size = con.exec_driver_sql("select count(*), sum(length(data)) from upload_blobs "
                                          "where part = 'file'").one()
        assert count == 1 and size < 200
        assert con.exec_driver_sql("select count(*) from upload_assessments").scalar() == 2
    store.close()


def _big(i: int) -> AuditRecord:
    """A record of ~6 KB after compression (random text: incompressible beyond its base64)."""
    noise = base64.b64encode(random.Random(i).randbytes(6000)).decode()
    return AuditRecord(f"id-{i}", "2025-01-01T00:00:00+00:00", "F1", "k1", "single", "v1", "{}", f'"{noise}"')


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_commits_leave_the_checkpoint_to_the_checkpoint_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CHECKPOINT_SECONDS", 0.02)
    db = tmp_path / "a.db"
    store = AuditStore(f"sqlite:///{db}", "NORMAL")
    empty = db.stat().st_size
    store.write_sync([_big(i) for i in range(40)])  # ~80 pages, all in the WAL at commit
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    assert _wait_for(lambda: db.stat().st_size > empty + 40 * 6000)  # copied into the database file
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from assessments").fetchone()[0] == 40
    store.close()


def test_a_wal_past_the_limit_is_truncated(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CHECKPOINT_SECONDS", 0.02)
    monkeypatch.setattr(store_module, "WAL_RESTART_BYTES", 100_000)
    db = tmp_path / "a.db"
    wal = tmp_path / "a.db-wal"
    store = AuditStore(f"sqlite:///{db}", "NORMAL")
    store.write_sync([_big(i) for i in range(40)])
    assert _wait_for(lambda: wal.stat().st_size == 0)
    assert store.ids() == {f"id-{i}" for i in range(40)}
    store.close()


def test_memory_databases_have_no_checkpoint_thread():
    store = AuditStore("sqlite://")
    assert store._checkpointer is None
    store.close()


def test_a_checkpoint_waits_for_a_pause_in_commits_or_a_long_wal(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "IDLE_SECONDS", 0.25)
    monkeypatch.setattr(store_module, "BUSY_CHECKPOINT_BYTES", 1000)
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    cp = store._checkpointer
    cp._unsaved = 0  # (the opening heartbeat's page)
    assert not cp.due(now=100.0)  # nothing committed yet
    assert not cp.committed(400, now=100.0)
    assert not cp.due(now=100.1)  # commits are coming: wait
    assert cp.due(now=100.25)  # a pause
    assert cp.committed(700, now=100.3)  # 1100 bytes waiting: the writer checkpoints before its next commit
    store.close()


def test_under_sustained_load_the_writer_checkpoints_and_the_wal_starts_over(tmp_path, monkeypatch):
    """A checkpoint between two commits copies the whole WAL, so the next commit writes from its start:
    the WAL stays a few commits long instead of growing for as long as the load lasts."""
    monkeypatch.setattr(store_module, "BUSY_CHECKPOINT_BYTES", 200_000)
    monkeypatch.setattr(store_module, "IDLE_SECONDS", 3600.0)  # no pause: only the writer checkpoints
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", "NORMAL")
    calls = []
    original = store._checkpointer.between_commits
    store._checkpointer.between_commits = lambda: (calls.append(1), original())  # type: ignore[method-assign]
    for i in range(0, 200, 10):
        store.write_sync([_big(j) for j in range(i, i + 10)])
    with store.engine.connect() as conn:  # the WAL holds what came after the last checkpoint only
        wal_frames = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1]
    assert len(calls) >= 5
    assert wal_frames * 8192 < 2 * 200_000 + 20 * 8192
    assert len(store.ids()) == 200
    store.close()


def test_a_new_database_gets_8k_pages_and_an_existing_one_keeps_its_own(tmp_path):
    """8 KB pages hold an assessment's JSON in one overflow page (fewer WAL frames per commit); a
    database created earlier with 4 KB pages is opened and written as it is."""
    AuditStore(f"sqlite:///{tmp_path / 'new.db'}").write_sync([_rec(1)])
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE t (x)")
    store = AuditStore(f"sqlite:///{old}")
    store.write_sync([_rec(2)])
    assert store.get(_rec(2).id)["firm_id"] == "F1"
    sizes = [sqlite3.connect(p).execute("PRAGMA page_size").fetchone()[0] for p in (tmp_path / "new.db", old)]
    assert sizes == [8192, 4096]


def test_a_record_is_stored_whatever_its_json_holds(tmp_path):
    """Summary columns are best effort: a 400-digit integer, a list as name or text that is not JSON
    never stop the record itself."""
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    odd = [('{"name": ["x"], "n": ' + "9" * 400 + "}", '{"score": 1.5, "grade": "B"}'), ("not json", "[]")]
    store.write_sync([AuditRecord(f"odd-{i}", "2025-01-01T00:00:00+00:00", "F1", "k1", "single", "v1", given, answer)
                      for i, (given, answer) in enumerate(odd)])
    assert [store.get_bytes(f"odd-{i}") for i in range(2)] == [(g.encode(), a.encode()) for g, a in odd]
    got = {s["assessment_id"]: (s["score"], s["grade"], s["name"]) for s in store.summaries("F1")}
    assert got == {"odd-0": (1.5, "B", None), "odd-1": (None, None, None)}
    store.close()


def test_postgresql_commits_a_group_as_one_statement_and_outlives_a_lost_connection(audit_url, monkeypatch):
    """On PostgreSQL a group of single assessments is one INSERT on the writer's own autocommit connection
    (a larger group, a transaction); a connection the server dropped costs no record: the group is retried
    on a new one."""
    if audit_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's one-statement commit")
    monkeypatch.setattr(store_module, "ONE_STATEMENT_ROWS", 8)
    store = AuditStore(audit_url)
    statements: list[int] = []
    original = store._insert_one_statement
    store._insert_one_statement = lambda rows: (statements.append(len(rows)), original(rows))  # type: ignore[method-assign]

    async def main(ids: range) -> None:
        await asyncio.gather(*(store.write([_rec(i)]) for i in ids))

    asyncio.run(main(range(8)))
    assert statements and sum(statements) == 8 and max(statements) <= 8
    store.write_sync([_rec(i) for i in range(10, 30)])  # 20 > ONE_STATEMENT_ROWS: one transaction
    assert sum(statements) == 8
    with store.engine.connect() as conn:  # the server ends the writer's connection (a restart, an admin)
        pid = store._own.connection.dbapi_connection.info.backend_pid
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    asyncio.run(main(range(40, 44)))
    assert store.ids() == {f"id-{i}" for i in [*range(8), *range(10, 30), *range(40, 44)]}
    assert store._own.connection.dbapi_connection.info.backend_pid != pid
    assert store.healthy()
    store.close()
