"""Audit store: every assessment committed durably before its answer is sent (SQLAlchemy: SQLite
by default, PostgreSQL for many workers or instances sharing one store).

On PostgreSQL a commit waits for the WAL flush (synchronous_commit on: ~3.5 ms of fdatasync here) and
every round trip to the server costs a wake-up of its backend on a busy host, so a group of single
assessments is one statement on a connection the writer keeps: a multi-row INSERT in autocommit mode
is its own transaction (all rows or none), committed and flushed when it returns: one round trip
instead of four (pool pre-ping, BEGIN, INSERT, COMMIT).

Commits never run on the event loop: a writer thread takes everything queued at that moment and
commits it in one transaction (group commit: with synchronous=FULL eight concurrent requests share
one fsync instead of paying eight). A caller's future resolves only after its transaction has
committed, so a 200 answer implies the record is durable: it survives `kill -9` of the server. A
caller waits at most `commit_timeout` seconds; then it gets StoreError (the API's 503, no decision),
and `healthy()` says False until a commit succeeds again, so a stalled disk never freezes the
process and /readyz can tell.

A CSV upload's file and reply are stored in pieces of BLOB_CHUNK_BYTES (`upload_blobs`), copied from
the upload's spool on disk within the commit's transaction, so neither is ever whole in memory.

A single assessment is stored compact (~1.5 KB with its indexes instead of ~8.5 KB): its input and
answer deflated with a preset dictionary (`service.store.codec`), byte for byte recoverable, beside
the columns history lists need (score, grade, name).

Copying the SQLite WAL back into the database file (a checkpoint, with its fsyncs) is left to a
thread of its own, in pauses between commits or every BUSY_CHECKPOINT_BYTES under sustained load
(`WalCheckpointer`), with the WAL file truncated back to journal_size_limit after each reset.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import orjson
import pyarrow as pa
from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        create_engine, delete, event, insert, select)
from sqlalchemy.dialects.mysql import LONGBLOB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from features.io import read_upload
from features.schema import FIELD_SPECS
from service.store import codec as audit_codec
from service.batch.csv_scoring import ZSTD, decode, read_csv_text

log = logging.getLogger(__name__)
CHECKPOINT_SECONDS = 0.5  # how often the checkpoint thread looks whether a checkpoint is due
IDLE_SECONDS = 0.25  # a checkpoint waits for a pause in commits this long...
# ...unless this much has been committed since the last one. Small enough that a passive checkpoint
# under sustained load copies a few thousand pages, not a WAL of hundreds of MB at once (that was
# the soak's rising p99: the WAL grew to 0.5-1 GB and then cost seconds of fsync to checkpoint).
BUSY_CHECKPOINT_BYTES = 8 << 20
WAL_RESTART_BYTES = 64 << 20  # a WAL longer than this after a checkpoint in a pause is truncated...
WAL_LIMIT_BYTES = 256 << 20  # ...and after one under sustained load only beyond this (writers wait for it)
JOURNAL_SIZE_LIMIT = 64 << 20  # a WAL reset after a complete checkpoint shrinks the file back to this
PROBE_SECONDS = 2.0  # an idle writer commits a heartbeat this often, so healthy() stays true to the disk
COMMIT_TIMEOUT = 5.0  # seconds a request waits for its audit commit before it gets 503
INSERT_BATCH_ROWS = 5000  # upload rows per executemany
BLOB_CHUNK_BYTES = 1 << 20  # an upload's file and reply are stored in pieces of this size (upload_blobs)
# PostgreSQL: a group of at most this many single assessments is committed as one multi-row INSERT on the
# writer's own autocommit connection (one round trip; larger groups and uploads take a transaction).
ONE_STATEMENT_ROWS = 256
UPLOAD_ROW_SECONDS = 60e-6  # … plus this per scored row of an upload (~30 µs a row measured under load)

_BLOB = LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")  # MySQL's plain BLOB stops at 64 KB
metadata = MetaData()
assessments = Table(
    "assessments", metadata,
    Column("id", String(36), primary_key=True),
    Column("assessed_at", String(40), nullable=False),  # ISO 8601 UTC, exactly as returned
    Column("firm_id", String(64), nullable=True),
    Column("key_id", String(64), nullable=False),
    Column("channel", String(8), nullable=False),  # single / batch / rows
    Column("model_version", String(64), nullable=False),
    Column("score", Float, nullable=True),  # for history lists without unpacking the record
    Column("grade", String(16), nullable=True),
    Column("name", Text, nullable=True),  # the firm's name as submitted
    Column("dict_id", String(16), nullable=True),  # audit_dictionaries.id; NULL: plain deflate
    Column("input_size", Integer, nullable=False),  # bytes of the request input at the record's start
    Column("record_z", _BLOB, nullable=False),  # input + answer bytes, deflated (service.store.codec)
    Index("ix_assessments_firm", "firm_id", "assessed_at"),
    Index("ix_assessments_key", "key_id", "assessed_at"),
    Index("ix_assessments_at", "assessed_at"),  # retention
)
dictionaries = Table(
    "audit_dictionaries", metadata,
    Column("id", String(16), primary_key=True),  # start of the sha256 of data
    Column("created_at", String(40), nullable=False),
    Column("data", _BLOB, nullable=False),
)
# A CSV upload is stored once: the file as received and the scored table as returned (both
# compressed), plus one small row per assessment pointing at its row. Writing ~3.6 KB of JSON
# per row instead cost as much as scoring the file. The file and the table are in `upload_blobs`,
# piece by piece (uploads stored before that have them inline, in file_zstd and output_arrow).
uploads = Table(
    "uploads", metadata,
    Column("id", String(36), primary_key=True),
    Column("received_at", String(40), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("file_zstd", _BLOB, nullable=True),  # the uploaded bytes, zstd-compressed (NULL: in upload_blobs)
    Column("output_arrow", _BLOB, nullable=True),  # the returned table: Arrow IPC stream, zstd buffers (idem)
    Index("ix_uploads_received", "received_at"),
)
upload_blobs = Table(
    "upload_blobs", metadata,
    Column("upload_id", String(36), ForeignKey("uploads.id"), primary_key=True),
    Column("part", String(8), primary_key=True),  # "file" (file_zstd's bytes) or "output" (output_arrow's)
    Column("seq", Integer, primary_key=True),  # 0, 1, …: the pieces in order
    Column("data", _BLOB, nullable=False),  # at most BLOB_CHUNK_BYTES
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
    Index("ix_upload_assessments_upload", "upload_id"),
)
_TABLES = (assessments, uploads, upload_assessments, upload_blobs)
_TABLE_COLUMNS = {t.name: tuple(c.name for c in t.columns) for t in _TABLES}
_NAME_KEYS = ("name", FIELD_SPECS["name"].label_zh)
# An answer as the API writes it (orjson, no spaces) names its score and grade side by side near its start.
_SCORE_GRADE = re.compile(rb'"score":(-?[0-9][0-9.eE+-]*),"grade":"([^"\\]{0,16})"')
probe = Table("store_probe", metadata, Column("id", String(8), primary_key=True))


# The data pages of a PostgreSQL store (tables, indexes, TOAST; main forks, not the free-space maps
# that appear now and then): its size in a benchmark or test, schema by schema.
PG_DATA_BYTES = """
WITH t AS (SELECT oid, reltoastrelid FROM pg_class
           WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'),
rels AS (SELECT oid FROM t
         UNION ALL SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0
         UNION ALL SELECT indexrelid FROM pg_index
                   WHERE indrelid IN (SELECT oid FROM t UNION ALL SELECT reltoastrelid FROM t))
SELECT sum(pg_relation_size(oid, 'main')) FROM rels"""


class StoreError(RuntimeError):
    """The audit record could not be written: no decision may be returned."""


class AuditRecord(NamedTuple):
    """One row of `assessments` (JSON already serialised: stored byte for byte as answered). The input and
    the answer may be given as UTF-8 bytes (what was received and is sent) or as text."""
    id: str
    assessed_at: str
    firm_id: str | None
    key_id: str
    channel: str
    model_version: str
    input_json: str | bytes
    output_json: str | bytes


BlobSource = bytes | Path  # an upload's file or reply: in memory, or a spooled file copied piece by piece


@dataclass(frozen=True)
class UploadRecord:
    """A scored CSV upload, ready to insert: a row of `uploads` (its file_zstd and output_arrow None), the
    file (zstd-compressed) and the returned table (`table_bytes`) as `blobs` stored piece by piece, and one
    small row per assessment made (`UploadRecord.build` compresses: call it off the event loop)."""
    upload: tuple[Any, ...]  # a row of `uploads`
    assessed: Sequence[tuple[Any, ...]]  # rows of `upload_assessments` (may be lazy: iterated per batch)
    blobs: Sequence[tuple[str, BlobSource]] = ()  # ("file" | "output", bytes or a file to copy)
    keep: Any = None  # what must stay alive until the record is written (the spool the blob files are in)

    @classmethod
    def build(cls, upload_id: str, received_at: str, key_id: str, model_version: str, file: bytes,
              output: pa.Table, assessed: Sequence[tuple[str, int, str | None, str | None, float, str]]) -> "UploadRecord":
        """`assessed`: (assessment id, row, firm_id, name, score, grade) of each scored row of `output`."""
        upload = (upload_id, received_at, key_id, model_version, output.num_rows, hashlib.sha256(file).hexdigest(),
                  len(file), None, None)
        rows = [(aid, upload_id, row, received_at, fid, key_id, model_version, score, grade, name)
                for aid, row, fid, name, score, grade in assessed]
        return cls(upload, rows, (("file", ZSTD.compress(file, asbytes=True)), ("output", table_bytes(output))))

    @property
    def nbytes(self) -> int:
        inline = sum(len(b) for b in self.upload[-2:] if b is not None) if self.upload else 0
        return inline + sum(_blob_size(src) for _, src in self.blobs) + 100 * len(self.assessed)

    def blob_rows(self) -> Iterator[tuple[str, str, int, bytes]]:
        """Rows of `upload_blobs`: (upload id, part, seq, piece), read from the spool as they are inserted."""
        for part, source in self.blobs:
            for seq, piece in enumerate(_pieces(source)):
                yield self.upload[0], part, seq, piece


def _blob_size(source: BlobSource) -> int:
    return len(source) if isinstance(source, (bytes, bytearray)) else source.stat().st_size


def _pieces(source: BlobSource) -> Iterator[bytes]:
    """A blob in pieces of BLOB_CHUNK_BYTES (at least one piece, empty for an empty blob)."""
    if isinstance(source, (bytes, bytearray)):
        for start in range(0, max(len(source), 1), BLOB_CHUNK_BYTES):
            yield bytes(source[start:start + BLOB_CHUNK_BYTES])
        return
    with open(source, "rb") as fh:
        piece = fh.read(BLOB_CHUNK_BYTES)
        yield piece
        while piece := fh.read(BLOB_CHUNK_BYTES):
            yield piece


def upload_blob(conn: Any, upload_id: str, part: str, inline: bytes | None = None) -> bytes:
    """An upload's file (`part` "file") or returned table ("output") as stored: the row's own column
    (`inline`, uploads stored before upload_blobs) or its pieces joined."""
    if inline is not None:
        return bytes(inline)
    b = upload_blobs.c
    return b"".join(bytes(p) for p in conn.execute(
        select(b.data).where(b.upload_id == upload_id, b.part == part).order_by(b.seq)).scalars())


Record = AuditRecord | UploadRecord


def table_bytes(table: pa.Table) -> bytes:
    """An Arrow table as an IPC stream with zstd-compressed buffers."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=ZSTD)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_row(data: bytes, row: int) -> dict[str, Any]:
    """Row `row` of a table stored by `table_bytes`, as plain Python values (null → None)."""
    return pa.ipc.open_stream(data).read_all().slice(row, 1).to_pylist()[0]


def table_metadata(data: bytes) -> dict[str, str]:
    """What was recorded with an upload in its returned table: the schema's metadata (mapping, sheet) and
    any batch's custom metadata (the normalisation counts, known once the file was read)."""
    reader = pa.ipc.open_stream(data)
    meta = dict(reader.schema.metadata or {})
    while True:
        try:
            _, custom = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        meta |= dict(custom or {})
    return {k.decode(): v.decode() for k, v in meta.items()}


def file_row(data: bytes, size: int, row: int) -> dict[str, Any]:
    """Data row `row` of an uploaded CSV (`size` bytes before compression) as the scoring read it:
    header → cell text, empty → None."""
    blob = ZSTD.decompress(data, decompressed_size=size, asbytes=True)
    raw = read_upload(blob, read_csv=lambda b: read_csv_text(decode(b)))[0]  # CSV or .xlsx, headers as sent
    return {k: (None if v != v else v) for k, v in raw.iloc[row].items()}  # NaN → None


def make_engine(url: str, synchronous: str = "FULL") -> Engine:
    """Engine for `url`; SQLite files get WAL, the chosen synchronous level and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):  # one connection shared by the writer thread and readers
        return create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    # A `file:…?uri=true` URL names a file for SQLite's URI parser: its folder exists already
    # (creating "file:/x" would make a folder named `file:` in the working directory).
    if parsed.query.get("uri") != "true":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        # A new database only (an existing one keeps its size): a compact record fits a 4 KB page
        # as well, but uploads' blobs and the checkpoint's sequential copy do better on 8 KB pages.
        cur.execute("PRAGMA page_size=8192")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer's thread does it
        cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        cur.close()

    return engine


def is_sqlite_file(engine: Engine) -> bool:
    """An SQLite database in a file (WAL mode), not in memory."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


class WalCheckpointer:
    """Copies an SQLite WAL into the database file: in pauses between commits from a thread of its own,
    under sustained load from the writer thread between two group commits.

    A passive checkpoint never blocks writers, but its fsyncs stall the file system: run while
    requests are committing, they tripled the p99 latency; so the thread waits until no commit came
    for IDLE_SECONDS. Under sustained load there is no pause, and a checkpoint running beside the
    writer never catches up with it: the WAL is never started over and grows (to 0.5-1 GB in a
    4-minute soak, every read searching a longer wal-index, p99 rising 3x). So once
    BUSY_CHECKPOINT_BYTES have been committed, the writer thread itself checkpoints before its next
    commit: nothing is appended meanwhile, the checkpoint copies the whole WAL, and the next commit
    writes from the WAL's start again (journal_size_limit then trims the file). A WAL still longer
    than WAL_LIMIT_BYTES (a reader held it) is truncated.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._unsaved = 0  # bytes committed since the last checkpoint began
        self._last_commit = 0.0

    def committed(self, nbytes: int, now: float | None = None) -> bool:
        """Note a commit of about `nbytes`; True when the writer should checkpoint before its next one."""
        self._unsaved += nbytes
        self._last_commit = time.monotonic() if now is None else now
        return self._unsaved >= BUSY_CHECKPOINT_BYTES

    def due(self, now: float) -> bool:
        """Whether the thread should checkpoint now: something to copy, and a pause in commits."""
        return self._unsaved > 0 and now - self._last_commit >= IDLE_SECONDS

    def between_commits(self) -> None:
        """A checkpoint by the writer thread, which commits nothing meanwhile (see the class)."""
        self._unsaved = 0
        conn = self.engine.raw_connection()
        try:
            self.checkpoint(conn, WAL_LIMIT_BYTES)
        finally:
            conn.close()

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
                    self.checkpoint(conn, WAL_RESTART_BYTES)
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _later(loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., None], *args: Any) -> Any:
    return loop.call_later(delay, callback, *args)


class AuditStore:
    """Durable, append-only store of assessments with a group-committing writer thread.

    `healthy()` is the cheap probe for readiness: False while a commit has been running longer than
    `commit_timeout`, after a request timed out waiting for one, or when the last commit (or idle
    heartbeat) failed; True again after the next one succeeds. It reads three attributes: call it
    on the event loop.
    """

    def __init__(self, url: str, synchronous: str = "FULL", commit_timeout: float = COMMIT_TIMEOUT, *,
                 migrate: bool = True, call_later: Callable[..., Any] = _later,
                 clock: Callable[[], float] = time.monotonic):
        from service.store.migrations import upgrade  # the migrations read this module's tables

        self.engine = make_engine(url, synchronous)
        if migrate:
            upgrade(self.engine)
        self.commit_timeout = commit_timeout
        self._call_later = call_later  # tests inject a timer they fire themselves
        self._clock = clock
        self._insert_sql = {t.name: str(insert(t).compile(dialect=self.engine.dialect)) for t in _TABLES}
        self._one_statement = self.engine.dialect.name == "postgresql"
        self._statements: dict[int, str] = {}  # multi-row INSERT of n assessments (PostgreSQL)
        self._own: Any = None  # the writer's autocommit connection (PostgreSQL), opened on first use
        self._own_lock = threading.Lock()  # write_sync may run beside the writer thread
        self._queue: queue.SimpleQueue[tuple[Sequence[Record], Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._checkpointer = WalCheckpointer(self.engine) if is_sqlite_file(self.engine) else None
        self._dict_id, self._dict = self._latest_dictionary()
        self._dicts: dict[str, bytes] = {} if self._dict_id is None else {self._dict_id: self._dict}
        self._primed = audit_codec.compressor(self._dict)
        self._samples: list[bytes] = []  # recent records, while the dictionary is young
        self._checkpoint_due = False
        self._busy_since: float | None = None  # when the commit in progress began
        self._busy_allowed = commit_timeout  # how long that commit may take (more for big uploads)
        self._pending_rows = 0  # upload rows queued or being committed (a record behind them waits longer)
        self._timed_out = False  # a caller gave up waiting on the commit in progress
        self.last_error: str | None = None  # of the last commit or heartbeat; None when it succeeded
        self._heartbeat()

    # -- health ------------------------------------------------------------------------------
    def healthy(self) -> bool:
        """Whether an audit commit can be expected to succeed now (cheap, never blocks)."""
        since = self._busy_since
        if since is not None and (self._timed_out or self._clock() - since > self._busy_allowed):
            return False
        return self.last_error is None

    def check_writable(self) -> None:
        """Raise StoreError when `healthy()` is False (it never waits on the disk)."""
        if not self.healthy():
            raise StoreError(f"audit store is not writable: {self.last_error or 'a commit is stalled'}")

    def _heartbeat(self) -> None:
        """Commit a probe row (a real write, so a full or read-only disk shows), noting the outcome."""
        self._busy_allowed = self.commit_timeout
        self._busy_since = self._clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(probe))
                conn.execute(insert(probe), [{"id": "probe"}])
            self.last_error = None
            if self._checkpointer is not None:  # its page goes to the WAL too: let a pause copy it back
                self._checkpointer.committed(2 * 8192)
                self._checkpointer.start()
        except Exception as exc:
            self.last_error = _first_line(exc)
            log.warning("audit store heartbeat failed: %s", exc)
        finally:
            self._busy_since, self._timed_out = None, False

    # -- writes ------------------------------------------------------------------------------
    async def write(self, records: Sequence[Record]) -> None:
        """Return once `records` are committed; raise StoreError when they are not, or not within
        `commit_timeout` plus the time the upload rows queued before them (these included) may take
        (the records are then dropped unless their commit has already begun)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._ensure_writer()
        with self._lock:
            self._pending_rows += _upload_rows(records)
            allowed = self.commit_timeout + UPLOAD_ROW_SECONDS * self._pending_rows
        timer = self._call_later(loop, allowed, functools.partial(self._expire, allowed=allowed), done)
        self._queue.put((records, (loop, done)))
        try:
            await done
        finally:
            timer.cancel()

    def allowed_seconds(self, records: Sequence[Record]) -> float:
        """How long a commit of `records` may take: the timeout, plus a little per row of an upload (a
        170,000-row upload's record takes seconds to insert on a healthy disk; a single one, none)."""
        return self.commit_timeout + UPLOAD_ROW_SECONDS * _upload_rows(records)

    def _expire(self, fut: asyncio.Future[None], allowed: float) -> None:
        if not fut.done():
            self._timed_out = True
            fut.set_exception(StoreError(f"audit commit not done within {allowed:g} s"))

    def write_sync(self, records: Sequence[Record]) -> None:
        """Blocking variant for code outside the event loop."""
        self._commit([records])
        self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        if self._checkpoint_due and self._checkpointer is not None:
            self._checkpoint_due = False
            self._checkpointer.between_commits()

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._writer.start()

    def _run(self) -> None:
        """Writer loop: take everything queued, commit it in one transaction, wake the callers;
        when idle, commit a heartbeat now and then."""
        while True:
            try:
                item = self._queue.get(timeout=PROBE_SECONDS)
            except queue.Empty:
                self._heartbeat()
                continue
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
            taken = sum(_upload_rows(records) for records, _ in group)
            # a caller that timed out (or went away) got no decision: its records are not written
            group = [g for g in group if not g[1][1].done()]
            try:
                if group:
                    self._commit_group(group)
            finally:
                with self._lock:
                    self._pending_rows -= taken
            self._checkpoint_if_due()  # after the callers were answered, before the next commit

    def _commit_group(self, group: list[tuple[Sequence[Record], Any]]) -> None:
        self._busy_allowed = self.allowed_seconds([r for records, _ in group for r in records])
        self._busy_since = self._clock()
        try:
            self._commit([records for records, _ in group])
            outcomes: list[BaseException | None] = [None] * len(group)
            self.last_error = None
        except Exception as exc:  # one bad record must not fail its neighbours: retry one by one
            log.warning("group commit of %d failed (%s); retrying individually", len(group), exc)
            outcomes = [self._try_commit(records) for records, _ in group]
            if all(outcomes):
                self.last_error = _first_line(exc)
        finally:
            self._busy_since, self._timed_out = None, False
        # one wake-up of each event loop per group, not one per caller
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]] = {}
        for (_, (loop, fut)), err in zip(group, outcomes):
            by_loop.setdefault(loop, []).append((fut, err))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, answers)
            except RuntimeError:  # that loop has closed: nobody waits for these answers
                pass

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
        rows: dict[str, list[tuple[Any, ...]]] = {"assessments": [], "uploads": []}
        nbytes = 0
        singles = [r for r in records if not isinstance(r, UploadRecord)]
        uploaded = [r for r in records if isinstance(r, UploadRecord)]
        for r in uploaded:
            rows["uploads"].append(r.upload)
            nbytes += r.nbytes
        if singles:
            packed = self._pack(singles)
            rows["assessments"] = packed
            nbytes += sum(len(p[-1]) + 300 for p in packed)
        if self._one_statement and not uploaded and len(rows["assessments"]) <= ONE_STATEMENT_ROWS:
            self._insert_one_statement(rows["assessments"])
            return
        with self.engine.begin() as conn:
            for table, params in rows.items():
                if params:
                    conn.exec_driver_sql(self._insert_sql[table], self._params(table, params))
            # an upload's rows go in batches: the whole list of an upload's tuples would cost far more
            # memory than the file (one transaction all the same)
            for r in uploaded:
                for piece in r.blob_rows():  # one piece in memory at a time
                    conn.exec_driver_sql(self._insert_sql["upload_blobs"], self._params("upload_blobs", [piece]))
                for batch in _batches(r.assessed, INSERT_BATCH_ROWS):
                    conn.exec_driver_sql(self._insert_sql["upload_assessments"],
                                         self._params("upload_assessments", batch))
        if self._checkpointer is not None:  # WAL bytes: the rows, and the index pages a commit rewrites
            self._checkpoint_due |= self._checkpointer.committed(nbytes + 6 * 8192)
            self._checkpointer.start()

    def _insert_one_statement(self, rows: list[tuple[Any, ...]]) -> None:
        """`rows` of `assessments` as one INSERT on the writer's autocommit connection: a statement is its
        own transaction, so it returns once all of them are committed (or raises, none written). The
        connection is kept (no pool checkout, no pre-ping); one that fails is closed, the next commit opens
        another."""
        sql = self._statements.get(len(rows))
        if sql is None:
            head = self._insert_sql["assessments"].partition(" VALUES ")[0]
            one = "(" + ", ".join(["%s"] * len(_TABLE_COLUMNS["assessments"])) + ")"
            sql = self._statements.setdefault(len(rows), f"{head} VALUES {', '.join([one] * len(rows))}")
        params = tuple(v for r in rows for v in r)
        with self._own_lock:
            if self._own is None:
                self._own = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._own.exec_driver_sql(sql, params)
                self._own.commit()  # ends SQLAlchemy's own bookkeeping; the server committed already
            except Exception:
                own, self._own = self._own, None
                try:
                    own.invalidate()
                    own.close()
                except Exception:  # noqa: BLE001 - the connection is dropped either way
                    pass
                raise

    def _params(self, table: str, rows: list[tuple[Any, ...]]) -> list[Any]:
        """Rows as the DBAPI takes them: tuples (SQLite's qmark style) or dicts (psycopg's named style)."""
        if self.engine.dialect.positional:
            return rows
        return [dict(zip(_TABLE_COLUMNS[table], p)) for p in rows]

    def _pack(self, records: Sequence[AuditRecord]) -> list[tuple[Any, ...]]:
        """Rows of `assessments`: the identity columns, score, grade and name, and the compressed
        input + answer (the first records a store ever writes make its compression dictionary)."""
        encoded = [(_utf8(r.input_json), _utf8(r.output_json)) for r in records]
        if self._dict is None or len(self._dict) < audit_codec.DICT_BYTES:
            # a young dictionary (the store's very first record or two) is replaced once records
            # enough to fill one have been seen: records name the dictionary they were packed with
            self._samples = (self._samples + [i + o for i, o in encoded])[-audit_codec.DICT_SAMPLES:]
            if self._dict is None or sum(map(len, self._samples)) >= audit_codec.DICT_BYTES:
                self._store_dictionary(audit_codec.make_dictionary(self._samples))
        rows = []
        for r, (raw_in, raw_out) in zip(records, encoded):
            score, grade, name = _summary_fields(raw_in, raw_out)
            rows.append((r.id, r.assessed_at, r.firm_id, r.key_id, r.channel, r.model_version, score, grade, name,
                         self._dict_id, len(raw_in), audit_codec.pack(raw_in, raw_out, self._dict, self._primed)))
        return rows

    def _latest_dictionary(self) -> tuple[str | None, bytes | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(dictionaries.c.id, dictionaries.c.data)
                               .order_by(dictionaries.c.created_at.desc()).limit(1)).first()
        return (row[0], bytes(row[1])) if row is not None else (None, None)

    def _store_dictionary(self, data: bytes) -> None:
        """Commit a new dictionary before any record names it (another worker may store the same)."""
        dict_id = audit_codec.dictionary_id(data)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(dictionaries), [{"id": dict_id, "created_at": _now(), "data": data}])
        except IntegrityError:
            pass  # already there: the same bytes
        self._dict_id, self._dict, self._primed = dict_id, data, audit_codec.compressor(data)
        self._dicts[dict_id] = data
        if len(data) >= audit_codec.DICT_BYTES:
            self._samples = []

    def dictionary(self, dict_id: str | None) -> bytes | None:
        """A stored compression dictionary by id (cached; they never change)."""
        if dict_id is None:
            return None
        if dict_id not in self._dicts:
            with self.engine.connect() as conn:
                data = conn.execute(select(dictionaries.c.data).where(dictionaries.c.id == dict_id)).scalar_one()
            self._dicts[dict_id] = bytes(data)
        return self._dicts[dict_id]

    def unpack(self, row: Any) -> tuple[bytes, bytes]:
        """(input, answer) bytes of an `assessments` row, exactly as received and returned."""
        return audit_codec.unpack(bytes(row["record_z"]), row["input_size"], self.dictionary(row["dict_id"]))

    # -- reads -------------------------------------------------------------------------------
    def get(self, assessment_id: str) -> dict[str, Any] | None:
        """The stored assessment: who, when, which model, `input` as given and `output` exactly as returned
        (a CSV row's: the file's cells and the returned row, plus `upload` naming the file and row)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(assessments).where(assessments.c.id == assessment_id)).mappings().first()
            if row is not None:
                given, answer = self.unpack(row)
                return _identity(row, row["channel"]) | {"input": orjson.loads(given), "output": orjson.loads(answer)}
            a, u = upload_assessments.c, uploads.c
            q = (select(a.id, a.assessed_at, a.firm_id, a.key_id, a.model_version, a.upload_id, a.row, u.file_sha256,
                        u.file_zstd, u.file_size, u.output_arrow).join(uploads, a.upload_id == u.id)
                 .where(a.id == assessment_id))
            row = conn.execute(q).mappings().first()
            if row is None:
                return None
            file = upload_blob(conn, row["upload_id"], "file", row["file_zstd"])
            output = upload_blob(conn, row["upload_id"], "output", row["output_arrow"])
        return _identity(row, "csv") | {
            "input": file_row(file, row["file_size"], row["row"]),
            "output": table_row(output, row["row"]),
            "upload": {"id": row["upload_id"], "row": row["row"], "file_sha256": row["file_sha256"],
                       **table_metadata(output)}}

    def get_bytes(self, assessment_id: str) -> tuple[bytes, bytes] | None:
        """(request input, answer) of a single, batch or rows assessment, byte for byte as received and
        returned; None when there is no such record (CSV rows: their file is in `uploads`)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(assessments.c.dict_id, assessments.c.input_size, assessments.c.record_z)
                               .where(assessments.c.id == assessment_id)).mappings().first()
        return None if row is None else self.unpack(row)

    def summaries(self, firm_id: str | None = None, key_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Assessments newest first (of one firm, made with one key, when given): id, time, channel,
        model version, score, grade, firm id and the firm's name as submitted."""
        single, csv_rows = assessments.c, upload_assessments.c
        q1 = select(single.id, single.assessed_at, single.channel, single.model_version, single.score, single.grade,
                    single.firm_id, single.name)
        q2 = select(csv_rows.id, csv_rows.assessed_at, csv_rows.model_version, csv_rows.score, csv_rows.grade,
                    csv_rows.firm_id, csv_rows.name)
        if firm_id is not None:
            q1, q2 = q1.where(single.firm_id == firm_id), q2.where(csv_rows.firm_id == firm_id)
        if key_id is not None:
            q1, q2 = q1.where(single.key_id == key_id), q2.where(csv_rows.key_id == key_id)
        q1 = q1.order_by(single.assessed_at.desc()).limit(limit)
        q2 = q2.order_by(csv_rows.assessed_at.desc(), csv_rows.row).limit(limit)  # an upload's rows in file order
        with self.engine.connect() as conn:
            out = [_summary(r, r["channel"]) for r in conn.execute(q1).mappings()]
            out += [_summary(r, "csv") for r in conn.execute(q2).mappings()]
        out.sort(key=lambda s: s["assessed_at"], reverse=True)  # stable: ties keep their order
        return out[:limit]

    def ids(self) -> set[str]:
        """Every stored assessment id (durability checks)."""
        with self.engine.connect() as conn:
            return (set(conn.execute(select(assessments.c.id)).scalars())
                    | set(conn.execute(select(upload_assessments.c.id)).scalars()))

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=10)
            self._writer = None
        with self._own_lock:
            if self._own is not None:
                self._own.close()
                self._own = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


def _utf8(text: str | bytes) -> bytes:
    """A record's JSON as the bytes stored: bytes as given (the request body and the answer sent are not decoded
    and encoded again), text encoded."""
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _identity(row: Any, channel: str) -> dict[str, Any]:
    return {"assessment_id": row["id"], "assessed_at": row["assessed_at"], "firm_id": row["firm_id"],
            "key_id": row["key_id"], "channel": channel, "model_version": row["model_version"]}


def _batches(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _upload_rows(records: Sequence[Record]) -> int:
    """Scored rows of the uploads among `records` (what makes a commit long)."""
    return sum(len(r.assessed) for r in records if isinstance(r, UploadRecord))


def _summary(row: Any, channel: str) -> dict[str, Any]:
    return {"assessment_id": row["id"], "assessed_at": row["assessed_at"], "channel": channel,
            "model_version": row["model_version"], "score": row["score"], "grade": row["grade"],
            "firm_id": row["firm_id"], "name": row["name"]}


def _summary_fields(raw_input: bytes, raw_output: bytes) -> tuple[float | None, str | None, str | None]:
    """Score and grade from an answer, the firm's name (a text, else none) from its input."""
    given = _loads(raw_input)
    name = next((given[k] for k in _NAME_KEYS if given.get(k)), None) if isinstance(given, dict) else None
    name = name if isinstance(name, str) else None
    found = _SCORE_GRADE.search(raw_output, 0, 400)  # our own answers: read where they put them
    if found is not None:
        return float(found[1]), found[2].decode("utf-8"), name
    result = _loads(raw_output)  # any other shape: parse it (~50 µs for an answer)
    if not isinstance(result, dict):
        return None, None, name
    score, grade = result.get("score"), result.get("grade")
    return (float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
            grade if isinstance(grade, str) else None, name)


def _loads(raw: bytes) -> Any:
    """JSON as stored; what orjson refuses (an integer beyond 64 bits) through the standard parser,
    and None for anything else: the record is stored whatever its summary columns get."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except ValueError:
            return None


def _first_line(exc: BaseException) -> str:
    """An error as `last_error` shows it: its message's first line, else its type's name."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _resolve_all(answers: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for fut, err in answers:
        _resolve(fut, err)


def _resolve(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():  # the request timed out or was cancelled (client went away)
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"audit record not written: {err}"))
