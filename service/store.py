"""Audit store: every assessment committed durably before its answer is sent (SQLAlchemy).

Concurrent writes are group-committed: everything queued at that moment goes into one
transaction (on the event loop for SQLite without fsync, else in a writer thread, where with
synchronous=FULL eight concurrent requests share one fsync instead of paying eight). A caller's
future resolves only after its transaction has committed, so a 200 answer implies the record is
in the database file's WAL: it survives `kill -9` of the server (and with FULL, a power cut).

Copying the WAL back into the database file (a checkpoint, with its fsyncs) is left to a thread
of its own, in pauses between commits (`WalCheckpointer`): SQLite's automatic checkpoint would
run inside every thousandth-page commit, on the event loop, and stall every request in flight
for tens of milliseconds.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import pyarrow as pa
from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        create_engine, delete, event, insert, select)
from sqlalchemy.dialects.mysql import LONGBLOB
from sqlalchemy.engine import Engine, make_url

from features.io import read_upload
from features.schema import FIELD_SPECS
from service.csv_scoring import decode, read_csv_text

log = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 0.5  # how often the checkpoint thread looks whether a checkpoint is due
IDLE_SECONDS = 0.25  # a checkpoint waits for a pause in commits this long...
BUSY_CHECKPOINT_BYTES = 128 << 20  # ...unless this much has been committed since the last one
WAL_RESTART_BYTES = 64 << 20  # a WAL longer than this after a checkpoint in a pause is truncated...
WAL_LIMIT_BYTES = 1 << 30  # ...and after one under sustained load only beyond this (writers wait for it)

metadata = MetaData()
assessments = Table(
    "assessments", metadata,
    Column("id", String(36), primary_key=True),
    Column("assessed_at", String(40), nullable=False),  # ISO 8601 UTC, exactly as returned
    Column("firm_id", String(64), nullable=True),
    Column("key_id", String(64), nullable=False),
    Column("channel", String(8), nullable=False),  # single / batch / csv
    Column("model_version", String(64), nullable=False),
    Column("input_json", Text, nullable=False),
    Column("output_json", Text, nullable=False),
    Index("ix_assessments_firm", "firm_id", "assessed_at"),
)
_BLOB = LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")  # MySQL's plain BLOB stops at 64 KB
# A CSV upload is stored once: the file as received and the scored table as returned (both
# compressed), plus one small row per assessment pointing at its row. Writing ~3.6 KB of JSON
# per row instead cost as much as scoring the file.
uploads = Table(
    "uploads", metadata,
    Column("id", String(36), primary_key=True),
    Column("received_at", String(40), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("file_zstd", _BLOB, nullable=False),  # the uploaded bytes, zstd-compressed
    Column("output_arrow", _BLOB, nullable=False),  # the returned table: Arrow IPC stream, zstd buffers
)
upload_assessments = Table(
    "upload_assessments", metadata,
    Column("id", String(36), primary_key=True),
    Column("upload_id", String(36), ForeignKey("uploads.id"), nullable=False),
    Column("row", Integer, nullable=False),  # 0-based data row of the file = row of the returned table
    Column("assessed_at", String(40), nullable=False),
    Column("firm_id", String(64), nullable=True),
    Column("key_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("score", Float, nullable=False),  # for history lists without opening the upload
    Column("grade", String(4), nullable=False),
    Column("name", Text, nullable=True),  # the firm's name as submitted
    Index("ix_upload_assessments_firm", "firm_id", "assessed_at"),
    Index("ix_upload_assessments_key", "key_id", "assessed_at"),
)
_TABLE_COLUMNS = {t.name: tuple(c.name for c in t.columns) for t in (assessments, uploads, upload_assessments)}
_ZSTD = pa.Codec("zstd", compression_level=1)
probe = Table("store_probe", metadata, Column("id", String(8), primary_key=True))


class StoreError(RuntimeError):
    """The audit record could not be written: no decision may be returned."""


class AuditRecord(NamedTuple):
    """One row of `assessments` (JSON already serialised: stored byte for byte as answered)."""
    id: str
    assessed_at: str
    firm_id: str | None
    key_id: str
    channel: str
    model_version: str
    input_json: str
    output_json: str


@dataclass(frozen=True)
class UploadRecord:
    """A scored CSV upload, ready to insert: the file and the returned table once (compressed), and one
    small row per assessment made (`UploadRecord.build` compresses: call it off the event loop)."""
    upload: tuple[Any, ...]  # a row of `uploads`
    assessed: list[tuple[Any, ...]]  # rows of `upload_assessments`

    @classmethod
    def build(cls, upload_id: str, received_at: str, key_id: str, model_version: str, file: bytes,
              output: pa.Table, assessed: Sequence[tuple[str, int, str | None, str | None, float, str]]) -> "UploadRecord":
        """`assessed`: (assessment id, row, firm_id, name, score, grade) of each scored row of `output`."""
        upload = (upload_id, received_at, key_id, model_version, output.num_rows, hashlib.sha256(file).hexdigest(),
                  len(file), _ZSTD.compress(file, asbytes=True), table_bytes(output))
        rows = [(aid, upload_id, row, received_at, fid, key_id, model_version, score, grade, name)
                for aid, row, fid, name, score, grade in assessed]
        return cls(upload, rows)

    @property
    def nbytes(self) -> int:
        return len(self.upload[-1]) + len(self.upload[-2]) + 100 * len(self.assessed)


Record = AuditRecord | UploadRecord


def table_bytes(table: pa.Table) -> bytes:
    """An Arrow table as an IPC stream with zstd-compressed buffers."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=_ZSTD)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_row(data: bytes, row: int) -> dict[str, Any]:
    """Row `row` of a table stored by `table_bytes`, as plain Python values (null → None)."""
    return pa.ipc.open_stream(data).read_all().slice(row, 1).to_pylist()[0]


def table_metadata(data: bytes) -> dict[str, str]:
    """What was recorded with an upload in its returned table's metadata (mapping used, normalisations)."""
    meta = pa.ipc.open_stream(data).schema.metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items()}


def file_row(data: bytes, size: int, row: int) -> dict[str, Any]:
    """Data row `row` of an uploaded CSV (`size` bytes before compression) as the scoring read it:
    header → cell text, empty → None."""
    blob = _ZSTD.decompress(data, decompressed_size=size, asbytes=True)
    raw = read_upload(blob, read_csv=lambda b: read_csv_text(decode(b)))[0]  # CSV or .xlsx, headers as sent
    return {k: (None if v != v else v) for k, v in raw.iloc[row].items()}  # NaN → None


def make_engine(url: str, synchronous: str = "FULL") -> Engine:
    """Engine for `url`; SQLite files get WAL, the chosen synchronous level and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        # A new database only (an existing one keeps its size): an assessment is ~7.5 KB of JSON, which
        # spills into two overflow pages of 4 KB but one of 8 KB, so a group commit of eight writes
        # about 13 WAL frames instead of 21 (each frame is two write() calls): commits ~15% cheaper.
        cur.execute("PRAGMA page_size=8192")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer's thread does it
        cur.close()

    return engine


def is_sqlite_file(engine: Engine) -> bool:
    """An SQLite database in a file (WAL mode), not in memory."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


class WalCheckpointer:
    """Copies an SQLite WAL into the database file from a thread of its own, in pauses between commits.

    A passive checkpoint never blocks writers (sqlite3 releases the GIL meanwhile), but its fsyncs
    stall the file system: run while requests are committing, they tripled the p99 latency. So a
    checkpoint waits until no commit came for IDLE_SECONDS, or BUSY_CHECKPOINT_BYTES are waiting
    (sustained load). Afterwards a WAL longer than WAL_RESTART_BYTES is truncated, under sustained
    load only one longer than WAL_LIMIT_BYTES: a TRUNCATE checkpoint makes writers wait until it
    finishes, and without one a WAL that writers never let a checkpoint catch up with only grows.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unsaved = 0  # bytes committed since the last checkpoint began
        self._last_commit = 0.0

    def committed(self, nbytes: int, now: float | None = None) -> None:
        """Note a commit of about `nbytes`."""
        self._unsaved += nbytes
        self._last_commit = time.monotonic() if now is None else now

    def due(self, now: float) -> bool:
        """Whether to checkpoint now: something to copy, and a pause in commits or a long WAL."""
        paused = now - self._last_commit >= IDLE_SECONDS
        return self._unsaved > 0 and (paused or self._unsaved >= BUSY_CHECKPOINT_BYTES)

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name="audit-checkpoint", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        conn = self.engine.raw_connection()
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                now = time.monotonic()
                if self.due(now):
                    self._unsaved = 0
                    paused = now - self._last_commit >= IDLE_SECONDS
                    self.checkpoint(conn, WAL_RESTART_BYTES if paused else WAL_LIMIT_BYTES)
            self.checkpoint(conn, WAL_RESTART_BYTES)
        finally:
            conn.close()

    @staticmethod
    def checkpoint(conn: Any, truncate_above: int) -> None:
        """One passive checkpoint; a truncating one when the WAL is longer than `truncate_above` bytes."""
        cur = conn.cursor()
        try:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _, wal_pages, _ = cur.fetchone()
            cur.execute("PRAGMA page_size")
            if wal_pages * cur.fetchone()[0] > truncate_above:
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception as exc:  # housekeeping: the records are already durable in the WAL
            log.warning("WAL checkpoint failed: %s", exc)
        finally:
            cur.close()

    def stop(self) -> None:
        """Run a last checkpoint and end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class AuditStore:
    """Durable, append-only store of assessments with a group-committing writer thread."""

    def __init__(self, url: str, synchronous: str = "FULL"):
        self.engine = make_engine(url, synchronous)
        metadata.create_all(self.engine)
        self._insert_sql = {t.name: str(insert(t).compile(dialect=self.engine.dialect))
                            for t in (assessments, uploads, upload_assessments)}
        self._queue: queue.SimpleQueue[tuple[Sequence[Record], Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        # An SQLite commit without fsync is a page-cache write of ~0.1 ms: done on the event loop,
        # it avoids the GIL hand-off to a writer thread (up to the 5 ms switch interval under load).
        # With fsync (FULL) or a server database a commit waits on I/O, so a writer thread does it.
        self.inline = self.engine.dialect.name == "sqlite" and synchronous != "FULL"
        self._pending: list[tuple[Sequence[Record], Any]] = []
        self._raw: Any = None
        self._lock = threading.Lock()
        self._checkpointer = WalCheckpointer(self.engine) if is_sqlite_file(self.engine) else None

    # -- writes ------------------------------------------------------------------------------
    async def write(self, records: Sequence[Record]) -> None:
        """Return once `records` are committed; raise StoreError when they are not."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if self.inline:
            self._pending.append((records, (loop, done)))
            if len(self._pending) == 1:
                loop.call_soon(self._flush_inline)
        else:
            self._ensure_writer()
            self._queue.put((records, (loop, done)))
        await done

    def _flush_inline(self) -> None:
        """Commit every write queued during this loop turn in one transaction, on the loop itself."""
        group, self._pending = self._pending, []
        self._commit_group(group)

    def write_sync(self, records: Sequence[Record]) -> None:
        """Blocking variant for code outside the event loop."""
        self._commit([records])

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._writer.start()

    def _run(self) -> None:
        """Writer loop: take everything queued, commit it in one transaction, wake the callers."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(nxt)
            self._commit_group(group)

    def _commit_group(self, group: list[tuple[Sequence[Record], Any]]) -> None:
        try:
            self._commit([records for records, _ in group])
            outcomes: list[BaseException | None] = [None] * len(group)
        except Exception as exc:  # one bad record must not fail its neighbours: retry one by one
            log.warning("group commit of %d failed (%s); retrying individually", len(group), exc)
            outcomes = [self._try_commit(records) for records, _ in group]
        for (_, (loop, fut)), err in zip(group, outcomes):
            if self.inline:  # on the loop's own thread: no wake-up write to its self-pipe per record
                _resolve(fut, err)
            else:
                loop.call_soon_threadsafe(_resolve, fut, err)

    def _try_commit(self, records: Sequence[Record]) -> BaseException | None:
        try:
            self._commit([records])
            return None
        except Exception as exc:
            return exc

    def _commit(self, groups: Sequence[Sequence[Record]]) -> None:
        """One transaction for all groups, through the DBAPI's executemany (SQLAlchemy's per-row
        parameter processing costs ~80 µs a row; these rows are plain values)."""
        records = [r for rs in groups for r in rs]
        if not records:
            return
        rows: dict[str, list[tuple[Any, ...]]] = {"assessments": [], "uploads": [], "upload_assessments": []}
        nbytes = 0
        for r in records:
            if isinstance(r, UploadRecord):
                rows["uploads"].append(r.upload)
                rows["upload_assessments"].extend(r.assessed)
                nbytes += r.nbytes
            else:
                rows["assessments"].append(r)
                nbytes += len(r.input_json) + len(r.output_json)
        if self._checkpointer is not None:
            self._checkpointer.committed(nbytes)
            self._checkpointer.start()
        if not self.engine.dialect.positional:
            rows = {t: [dict(zip(_TABLE_COLUMNS[t], p)) for p in ps] for t, ps in rows.items()}
        statements = [(self._insert_sql[t], ps) for t, ps in rows.items() if ps]
        if self.inline:  # one connection, used only by the event loop's thread
            self._commit_raw(statements)
            return
        with self.engine.begin() as conn:
            for sql, params in statements:
                conn.exec_driver_sql(sql, params)

    def _commit_raw(self, statements: list[tuple[str, list[Any]]]) -> None:
        """executemany + commit on a DBAPI connection kept open (no pool checkout per commit)."""
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        cur = self._raw.cursor()
        try:
            for sql, params in statements:
                cur.executemany(sql, params)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise
        finally:
            cur.close()

    # -- reads -------------------------------------------------------------------------------
    def get(self, assessment_id: str) -> dict[str, Any] | None:
        """The stored assessment: who, when, which model, `input` as given and `output` exactly as returned
        (a CSV row's: the file's cells and the returned row, plus `upload` naming the file and row)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(assessments).where(assessments.c.id == assessment_id)).mappings().first()
            if row is not None:
                return _identity(row, row["channel"]) | {"input": json.loads(row["input_json"]),
                                                         "output": json.loads(row["output_json"])}
            a, u = upload_assessments.c, uploads.c
            q = (select(a.id, a.assessed_at, a.firm_id, a.key_id, a.model_version, a.upload_id, a.row, u.file_sha256,
                        u.file_zstd, u.file_size, u.output_arrow).join(uploads, a.upload_id == u.id)
                 .where(a.id == assessment_id))
            row = conn.execute(q).mappings().first()
        if row is None:
            return None
        return _identity(row, "csv") | {
            "input": file_row(row["file_zstd"], row["file_size"], row["row"]),
            "output": table_row(row["output_arrow"], row["row"]),
            "upload": {"id": row["upload_id"], "row": row["row"], "file_sha256": row["file_sha256"],
                       **table_metadata(row["output_arrow"])}}

    def summaries(self, firm_id: str | None = None, key_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Assessments newest first (of one firm, made with one key, when given): id, time, channel,
        model version, score, grade, firm id and the firm's name as submitted."""
        single, csv_rows = assessments.c, upload_assessments.c
        q1 = select(single.id, single.assessed_at, single.channel, single.model_version, single.firm_id,
                    single.input_json, single.output_json)
        q2 = select(csv_rows.id, csv_rows.assessed_at, csv_rows.model_version, csv_rows.firm_id, csv_rows.score,
                    csv_rows.grade, csv_rows.name)
        if firm_id is not None:
            q1, q2 = q1.where(single.firm_id == firm_id), q2.where(csv_rows.firm_id == firm_id)
        if key_id is not None:
            q1, q2 = q1.where(single.key_id == key_id), q2.where(csv_rows.key_id == key_id)
        q1 = q1.order_by(single.assessed_at.desc()).limit(limit)
        q2 = q2.order_by(csv_rows.assessed_at.desc(), csv_rows.row).limit(limit)  # an upload's rows in file order
        with self.engine.connect() as conn:
            out = [_summary(r) for r in conn.execute(q1).mappings()]
            out += [{"assessment_id": r["id"], "assessed_at": r["assessed_at"], "channel": "csv",
                     "model_version": r["model_version"], "score": r["score"], "grade": r["grade"],
                     "firm_id": r["firm_id"], "name": r["name"]} for r in conn.execute(q2).mappings()]
        out.sort(key=lambda s: s["assessed_at"], reverse=True)  # stable: ties keep their order
        return out[:limit]

    def ids(self) -> set[str]:
        """Every stored assessment id (durability checks)."""
        with self.engine.connect() as conn:
            return (set(conn.execute(select(assessments.c.id)).scalars())
                    | set(conn.execute(select(upload_assessments.c.id)).scalars()))

    def check_writable(self) -> None:
        """Write a probe row inside a transaction and roll it back; raise StoreError when that fails."""
        try:
            with self.engine.connect() as conn:
                with conn.begin() as tx:
                    conn.execute(delete(probe))
                    conn.execute(insert(probe), [{"id": "probe"}])
                    tx.rollback()
        except Exception as exc:
            raise StoreError(f"audit store is not writable: {exc}") from exc

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=10)
            self._writer = None
        self.engine.dispose()


def _identity(row: Any, channel: str) -> dict[str, Any]:
    return {"assessment_id": row["id"], "assessed_at": row["assessed_at"], "firm_id": row["firm_id"],
            "key_id": row["key_id"], "channel": channel, "model_version": row["model_version"]}


def _summary(row: Any) -> dict[str, Any]:
    """A history line of an `assessments` row (score and grade from its output, name from its input)."""
    given, result = json.loads(row["input_json"]), json.loads(row["output_json"])
    name = (given.get("name") or given.get(FIELD_SPECS["name"].label_zh)) if isinstance(given, dict) else None
    return {"assessment_id": row["id"], "assessed_at": row["assessed_at"], "channel": row["channel"],
            "model_version": row["model_version"], "score": result.get("score"), "grade": result.get("grade"),
            "firm_id": row["firm_id"], "name": name}


def _resolve(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():  # the request was cancelled (client went away)
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"audit record not written: {err}"))
