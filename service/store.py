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
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import Column, Index, MetaData, String, Table, Text, create_engine, delete, event, insert, select
from sqlalchemy.engine import Engine, make_url

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
_COLUMNS = tuple(c.name for c in assessments.columns)
probe = Table("store_probe", metadata, Column("id", String(8), primary_key=True))


class StoreError(RuntimeError):
    """The audit record could not be written: no decision may be returned."""


@dataclass(frozen=True)
class AuditRecord:
    """One row of the audit trail (JSON already serialised: stored byte for byte as answered)."""
    id: str
    assessed_at: str
    firm_id: str | None
    key_id: str
    channel: str
    model_version: str
    input_json: str
    output_json: str


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
        self._insert_sql = str(insert(assessments).compile(dialect=self.engine.dialect))
        self._queue: queue.SimpleQueue[tuple[Sequence[AuditRecord], Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        # An SQLite commit without fsync is a page-cache write of ~0.1 ms: done on the event loop,
        # it avoids the GIL hand-off to a writer thread (up to the 5 ms switch interval under load).
        # With fsync (FULL) or a server database a commit waits on I/O, so a writer thread does it.
        self.inline = self.engine.dialect.name == "sqlite" and synchronous != "FULL"
        self._pending: list[tuple[Sequence[AuditRecord], Any]] = []
        self._raw: Any = None
        self._lock = threading.Lock()
        self._checkpointer = WalCheckpointer(self.engine) if is_sqlite_file(self.engine) else None

    # -- writes ------------------------------------------------------------------------------
    async def write(self, records: Sequence[AuditRecord]) -> None:
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

    def write_sync(self, records: Sequence[AuditRecord]) -> None:
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

    def _commit_group(self, group: list[tuple[Sequence[AuditRecord], Any]]) -> None:
        try:
            self._commit([records for records, _ in group])
            outcomes: list[BaseException | None] = [None] * len(group)
        except Exception as exc:  # one bad record must not fail its neighbours: retry one by one
            log.warning("group commit of %d failed (%s); retrying individually", len(group), exc)
            outcomes = [self._try_commit(records) for records, _ in group]
        for (_, (loop, fut)), err in zip(group, outcomes):
            loop.call_soon_threadsafe(_resolve, fut, err)

    def _try_commit(self, records: Sequence[AuditRecord]) -> BaseException | None:
        try:
            self._commit([records])
            return None
        except Exception as exc:
            return exc

    def _commit(self, groups: Sequence[Sequence[AuditRecord]]) -> None:
        """One transaction for all groups, through the DBAPI's executemany (SQLAlchemy's per-row
        parameter processing costs ~80 µs a row; these rows are plain strings)."""
        records = [r for rs in groups for r in rs]
        if not records:
            return
        if self._checkpointer is not None:
            self._checkpointer.committed(sum(len(r.input_json) + len(r.output_json) for r in records))
            self._checkpointer.start()
        if self.engine.dialect.positional:
            params: list[Any] = [tuple(getattr(r, c) for c in _COLUMNS) for r in records]
        else:
            params = [r.__dict__ for r in records]
        if self.inline:  # one connection, used only by the event loop's thread
            self._commit_raw(params)
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._insert_sql, params)

    def _commit_raw(self, params: list[Any]) -> None:
        """executemany + commit on a DBAPI connection kept open (no pool checkout per commit)."""
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        cur = self._raw.cursor()
        try:
            cur.executemany(self._insert_sql, params)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise
        finally:
            cur.close()

    # -- reads -------------------------------------------------------------------------------
    def get(self, assessment_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(assessments).where(assessments.c.id == assessment_id)).mappings().first()
        return dict(row) if row else None

    def history(self, firm_id: str, key_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """A firm's assessments, newest first; only those made with `key_id` when given."""
        q = select(assessments).where(assessments.c.firm_id == firm_id)
        if key_id is not None:
            q = q.where(assessments.c.key_id == key_id)
        q = q.order_by(assessments.c.assessed_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def ids(self) -> set[str]:
        """Every stored assessment id (durability checks)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(assessments.c.id)).scalars())

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


def _resolve(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():  # the request was cancelled (client went away)
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"audit record not written: {err}"))
