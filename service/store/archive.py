"""Retention of the audit store: records older than a cutoff exported to Parquet, then deleted.

The export is written to a temporary file, fsynced and renamed into place before a single record is
deleted, and only the records it holds are deleted, in short transactions (the writer thread's
commits wait for at most one of them). A crash in between leaves records both in the archive and in
the store, never in neither. One archive runs at a time across processes (a PostgreSQL advisory
lock, or a lock file beside an SQLite database); another process finding it taken skips its turn.

One Parquet row per assessment: who, when, which model, score, grade and name, `input` and `output`
as text — for single, batch and rows assessments the request input and the answer byte for byte;
for a CSV row the file's cells and the returned row as JSON, with the upload's id, row and sha256.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, select, tuple_
from sqlalchemy.engine import Engine

from service.batch.output import AtomicFile
from service.store.audit import (AuditStore, assessments, file_row, is_sqlite_file, table_row, upload_assessments,
                                 upload_blob, upload_blobs, uploads)

log = logging.getLogger(__name__)
PAGE = 2000  # records read (and deleted) per transaction
_LOCK_KEY = 0x7EC5_A0D2
SCHEMA = pa.schema([
    ("assessment_id", pa.string()), ("assessed_at", pa.string()), ("channel", pa.string()),
    ("firm_id", pa.string()), ("key_id", pa.string()), ("model_version", pa.string()),
    ("score", pa.float64()), ("grade", pa.string()), ("name", pa.string()),
    ("input", pa.string()), ("output", pa.string()),
    ("upload_id", pa.string()), ("upload_row", pa.int64()), ("file_sha256", pa.string()),
])


@dataclass(frozen=True)
class ArchiveResult:
    path: Path | None  # None: nothing was older than the cutoff (no file written)
    records: int
    deleted: int


def cutoff(before: date | datetime) -> str:
    """A date (midnight UTC) or datetime as the store's timestamp text, for comparing with `assessed_at`."""
    if not isinstance(before, datetime):
        before = datetime.combine(before, time(), tzinfo=timezone.utc)
    if before.tzinfo is None:
        before = before.replace(tzinfo=timezone.utc)
    return before.astimezone(timezone.utc).isoformat(timespec="microseconds")


def archive(store: AuditStore, before: date | datetime, path: Path, delete_after: bool = False) -> ArchiveResult:
    """Export every assessment made before `before` to the Parquet file `path`; delete them from the
    store afterwards when `delete_after`. Refuses to overwrite an existing file."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the archive does not overwrite a file")
    until = cutoff(before)
    singles: list[str] = []
    upload_ids: list[str] = []
    count = 0
    with AtomicFile(path) as dst:
        with pq.ParquetWriter(dst.file, SCHEMA, compression="zstd") as writer:
            for table, ids in _pages(store, until, upload_ids):
                writer.write_table(table)
                singles.extend(ids)
                count += table.num_rows
        if count == 0:
            return ArchiveResult(None, 0, 0)
        dst.commit()  # fsynced and renamed into place
    _fsync_dir(path.parent)
    deleted = _delete(store.engine, singles, upload_ids) if delete_after else 0
    return ArchiveResult(path, count, deleted)


def _pages(store: AuditStore, until: str, upload_ids: list[str]) -> Iterator[tuple[pa.Table, list[str]]]:
    """Arrow tables of the records older than `until`, a page at a time (ids of the single ones)."""
    a = assessments.c
    last: tuple[str, str] = ("", "")
    while True:
        q = (select(assessments).where(a.assessed_at < until, tuple_(a.assessed_at, a.id) > last)
             .order_by(a.assessed_at, a.id).limit(PAGE))
        with store.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        if not rows:
            break
        out = []
        for r in rows:
            given, answer = store.unpack(r)
            out.append(_line(r, r["channel"], given.decode("utf-8"), answer.decode("utf-8")))
        yield pa.Table.from_pylist(out, schema=SCHEMA), [r["id"] for r in rows]
        last = (rows[-1]["assessed_at"], rows[-1]["id"])
    with store.engine.connect() as conn:
        ids = list(conn.execute(select(uploads.c.id).where(uploads.c.received_at < until)
                                .order_by(uploads.c.received_at)).scalars())
    for upload_id in ids:  # one upload at a time: its file is read once for all its rows
        yield _upload_table(store.engine, upload_id), []
        upload_ids.append(upload_id)


def _upload_table(engine: Engine, upload_id: str) -> pa.Table:
    u, a = uploads.c, upload_assessments.c
    with engine.connect() as conn:
        up = conn.execute(select(u.file_zstd, u.file_size, u.output_arrow, u.file_sha256)
                          .where(u.id == upload_id)).mappings().one()
        rows = conn.execute(select(upload_assessments).where(a.upload_id == upload_id).order_by(a.row)).mappings().all()
        file = upload_blob(conn, upload_id, "file", up["file_zstd"])
        output = upload_blob(conn, upload_id, "output", up["output_arrow"])
    out = []
    for r in rows:
        given = file_row(file, up["file_size"], r["row"])
        answer = table_row(output, r["row"])
        line = _line(r, "csv", _json(given), _json(answer))
        out.append(line | {"upload_id": upload_id, "upload_row": r["row"], "file_sha256": up["file_sha256"]})
    return pa.Table.from_pylist(out, schema=SCHEMA)


def _line(r: Any, channel: str, given: str, answer: str) -> dict[str, Any]:
    return {"assessment_id": r["id"], "assessed_at": r["assessed_at"], "channel": channel, "firm_id": r["firm_id"],
            "key_id": r["key_id"], "model_version": r["model_version"], "score": r["score"], "grade": r["grade"],
            "name": r["name"], "input": given, "output": answer}


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _delete(engine: Engine, singles: list[str], upload_ids: list[str]) -> int:
    """Delete the archived records, a page per transaction; return how many assessments went."""
    deleted = 0
    for start in range(0, len(singles), PAGE):
        with engine.begin() as conn:
            deleted += conn.execute(delete(assessments).where(assessments.c.id.in_(singles[start:start + PAGE]))).rowcount
    for upload_id in upload_ids:
        with engine.begin() as conn:
            deleted += conn.execute(delete(upload_assessments)
                                    .where(upload_assessments.c.upload_id == upload_id)).rowcount
            conn.execute(delete(upload_blobs).where(upload_blobs.c.upload_id == upload_id))
            conn.execute(delete(uploads).where(uploads.c.id == upload_id))
    return deleted


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(engine: Engine) -> Iterator[bool]:
    """Whether this process may archive now (True) or another one is at it (False)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_LOCK_KEY})").scalar()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
                conn.commit()
        return
    if not is_sqlite_file(engine):
        yield True
        return
    with open(f"{engine.url.database}.archive-lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def apply_retention(store: AuditStore, days: int, folder: Path, now: datetime | None = None) -> ArchiveResult | None:
    """Archive into `folder` and delete every record older than `days` days; None when another
    process holds the archive lock."""
    now = now or datetime.now(timezone.utc)
    before = now - timedelta(days=days)
    with exclusive(store.engine) as mine:
        if not mine:
            return None
        name = f"audit-before-{before:%Y%m%dT%H%M%S}Z-{now:%Y%m%dT%H%M%S%f}.parquet"
        return archive(store, before, Path(folder) / name, delete_after=True)


class RetentionJob:
    """Applies the retention in a thread of its own: soon after start-up, then every `every` seconds."""

    def __init__(self, store: AuditStore, days: int, folder: Path, every: float = 6 * 3600, first: float = 60.0):
        self.store, self.days, self.folder, self.every, self.first = store, days, Path(folder), every, first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-retention", daemon=True)

    def start(self) -> "RetentionJob":
        self._thread.start()
        return self

    def _run(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            wait = self.every
            try:
                result = apply_retention(self.store, self.days, self.folder)
            except Exception as exc:  # housekeeping: the next turn tries again
                log.error("audit retention failed: %s", exc)
                continue
            if result is not None and result.records:
                log.warning("audit retention: %d records archived to %s and deleted", result.records, result.path)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
