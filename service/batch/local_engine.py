"""Local batch engine: stream CSV/Parquet in chunks → validate → score → write CSV/Parquet atomically.

Blocks of whole CSV records (or Parquet batches) are parsed, validated, scored and encoded in a
worker process per core — forked once the model is loaded, so they start at once and share its
memory; on systems without fork, threads — while the main process plans the next blocks. Finished
rows are written in input order: CSV by the workers themselves, taking turns; Parquet by the main
process. At most two blocks per worker are in flight, so memory stays flat, and the output bytes do
not depend on timing or on where blocks were cut.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from collections import Counter, deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from datetime import date
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.io import CsvBlock, InputError, MalformedRow, ParquetBatch, RawChunk, file_pieces, input_columns, input_files
from features.mapping import ColumnMapping
from features.validate import REJECT_COLUMNS
from models.scoring import Scorer
from service.batch.output import AtomicFile, OrderedAppends, TableSink, csv_bytes, for_output, format_of

Progress = Callable[[int, int | None], None]  # (rows done, estimated total rows)
REJECTS_SCHEMA = pa.schema([pa.field(c, pa.int64() if c == "row" else pa.string()) for c in REJECT_COLUMNS])
MALFORMED_TEXT_CHARS = 200
PR_SET_PDEATHSIG = 1  # prctl(2) option


class RejectRateExceeded(RuntimeError):
    """More rows were rejected than --max-reject-rate allows; the scored output was not written."""

    def __init__(self, summary: "BatchSummary", limit: float):
        self.summary, self.limit = summary, limit
        super().__init__(
            f"rejected {summary.rejected:,} of {summary.rows:,} rows ({summary.reject_rate:.2%}), above the "
            f"allowed {limit:.2%} (--max-reject-rate); scored output not written"
            + (f"; see {summary.rejects_path}" if summary.rejects_path else ""))


@dataclass
class BatchSummary:
    """What a run did: counts, grades, the commonest reject rules, time and files."""
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    grade_counts: Counter = field(default_factory=Counter)
    reject_rules: Counter = field(default_factory=Counter)  # (field, rule) -> violations
    normalised: Counter = field(default_factory=Counter)  # normalisation -> cells it changed (features/kinds.py)
    seconds: float = 0.0
    output: Path | None = None
    rejects_path: Path | None = None

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0

    def add(self, other: "ChunkResult") -> None:
        self.rows += other.n_input
        self.scored += other.n_scored
        self.rejected += other.n_input - other.n_scored
        self.grade_counts.update(other.grades)
        self.reject_rules.update(other.rules)
        self.normalised.update(other.normalised)


@dataclass
class ChunkResult:
    """One chunk scored: output rows and reject lines (rows counted from the chunk's start) as Arrow tables
    ready to write, plus counts. `scored` is None when a worker process appended the rows to the output itself."""
    scored: pa.Table | None
    rejects: pa.Table
    n_input: int
    n_scored: int
    grades: Counter
    rules: Counter
    normalised: Counter = field(default_factory=Counter)


def rejects_path_for(out: Path) -> Path:
    """`scored.csv` → `scored.rejects.csv`; a partitioned output folder `scored/` → `scored.rejects.csv`."""
    out = Path(out)
    stem = out.name if out.suffix.lower() not in (".csv", ".parquet", ".pq", ".txt") else out.stem
    return out.with_name(stem + ".rejects.csv")


def result_schema(scorer: Scorer, columns: list[str]) -> pa.Schema:
    """The output columns (`ScoreBatch.to_table()`) as an Arrow schema, from scoring zero rows with these input columns."""
    empty = scorer.validate(pd.DataFrame({c: pd.Series(dtype=object) for c in columns})).clean
    return scorer.score(empty).to_table().schema


def _malformed_rejects(rows: list[MalformedRow]) -> pd.DataFrame:
    """CSV lines with the wrong number of cells, as reject lines."""
    return pd.DataFrame({
        "row": np.array([r.row for r in rows], dtype=np.int64),
        "firm_id": None,
        "field": "",
        "rule": "columns",
        "value": [r.text[:MALFORMED_TEXT_CHARS] for r in rows],
        "message": [f"该行有 {r.actual} 个字段，表头有 {r.expected} 个 / the line has {r.actual} cells, "
                    f"the header has {r.expected}" for r in rows],
    }, columns=list(REJECT_COLUMNS))


def score_chunk(scorer: Scorer, chunk: RawChunk, as_of: date, schema: pa.Schema, fmt: str) -> ChunkResult:
    """The scoring core shared by every engine: validate, score and format one chunk of raw rows."""
    checked = scorer.validate(chunk.frame, as_of_default=as_of)
    scored = scorer.score(checked.clean)
    rejects = checked.rejects
    if len(rejects):
        rejects = rejects.assign(row=chunk.rows[rejects["row"].to_numpy()])
    if chunk.malformed:
        rejects = pd.concat([rejects, _malformed_rejects(chunk.malformed)], ignore_index=True)
        rejects = rejects.sort_values("row", kind="stable")
    return ChunkResult(
        scored=for_output(scored.to_table(), schema, fmt),
        rejects=for_output(rejects, REJECTS_SCHEMA, "csv"),
        n_input=chunk.n_rows,
        n_scored=len(scored),
        grades=Counter(dict(zip(*np.unique(scored.grade.astype(str), return_counts=True)))),
        rules=Counter(rejects.groupby(["field", "rule"]).size().to_dict()) if len(rejects) else Counter(),
        normalised=checked.normalised + chunk.notes,
    )


def score_piece(scorer: Scorer, piece: CsvBlock | ParquetBatch, as_of: date, schema: pa.Schema, fmt: str) -> ChunkResult:
    """Parse (CSV) and score one piece: runs on a worker."""
    return score_chunk(scorer, piece.read(), as_of, schema, fmt)


_worker: tuple[Scorer, OrderedAppends | None] | None = None  # set in each worker process by _start_worker


def _start_worker(scorer: Scorer, appends: OrderedAppends | None, parent: int) -> None:
    """Worker process start-up: keep the scorer; signals are for the parent to handle; die with the parent."""
    global _worker
    _worker = scorer, appends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's clean-up handler: the parent cleans up
    try:  # Linux: SIGKILL when the parent dies, even by kill -9 (a worker blocked on its queue never notices)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _score_in_worker(index: int, piece: CsvBlock | ParquetBatch, as_of: date, schema: pa.Schema, fmt: str) -> ChunkResult:
    """`score_piece` in a worker process; CSV rows are appended to the output here, in input order."""
    scorer, appends = _worker
    encoded = b""
    try:
        res = score_piece(scorer, piece, as_of, schema, fmt)
        if appends is not None:
            encoded, res.scored = csv_bytes(res.scored), None
        return res
    finally:  # a failed chunk still passes its turn on (the parent then stops the run)
        if appends is not None:
            appends.append(index, encoded)


def _executor(scorer: Scorer, workers: int, out: BinaryIO,
              fmt: str) -> tuple[Executor, Callable[..., ChunkResult]]:
    """Worker processes forked with the scorer loaded (appending CSV rows to `out` themselves) where the
    OS can fork; else threads. Returns the pool and the task to submit to it."""
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        appends = OrderedAppends(out, context) if fmt == "csv" else None
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                   initargs=(scorer, appends, os.getpid()))
        return pool, _score_in_worker
    return ThreadPoolExecutor(workers, thread_name_prefix="score"), partial(_score_in_thread, scorer)


def _score_in_thread(scorer: Scorer, index: int, piece: CsvBlock | ParquetBatch, as_of: date, schema: pa.Schema,
                     fmt: str) -> ChunkResult:
    return score_piece(scorer, piece, as_of, schema, fmt)


def shift_rows(rejects: pa.Table, offset: int) -> pa.Table:
    """Reject lines renumbered from chunk positions to input positions."""
    if not offset or not rejects.num_rows:
        return rejects
    rows = pc.add(rejects.column("row"), pa.scalar(offset, pa.int64()))
    return rejects.set_column(0, REJECTS_SCHEMA.field("row"), rows)


def check_has_rows(summary: BatchSummary, src: Path | str) -> None:
    """InputError for an input without a single data row (a header-only file is a mistake, not a run)."""
    if not summary.rows:
        raise InputError(f"{src}: 没有数据行 / no data rows, only a header (or nothing): nothing to score")


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _pieces(src: Path | str, encoding: str | None, mapping: ColumnMapping | None = None,
            sheet: str | None = None) -> Iterator[tuple[CsvBlock | ParquetBatch, float]]:
    """Every piece of every input file, with the share of the input's bytes consumed once it is read."""
    files = input_files(src)
    sizes = [os.path.getsize(f) for f in files]
    total, before = sum(sizes) or 1, 0
    for path, size in zip(files, sizes):
        for piece in file_pieces(path, encoding, mapping, sheet):
            yield piece, (before + piece.fraction * size) / total
        before += size


def score_file(scorer: Scorer, src: Path | str, out: Path | str, as_of: date | None = None, *,
               encoding: str | None = None, fmt: str | None = None, max_reject_rate: float | None = None,
               workers: int | None = None, progress: Progress | None = None, mapping: ColumnMapping | None = None,
               sheet: str | None = None) -> BatchSummary:
    """Score every valid row of `src` (file, folder or glob) into `out`; invalid rows go to `<out>.rejects.csv`.

    Both files appear only when complete. Raises RejectRateExceeded (after writing the rejects) when
    the share of rejected rows is above `max_reject_rate`, and InputError for an unreadable input.
    """
    started = time.perf_counter()
    out = Path(out)
    fmt = format_of(out, fmt)
    as_of = as_of or date.today()
    workers = workers or default_workers()
    schema = result_schema(scorer, input_columns(input_files(src)[0], encoding, mapping, sheet))
    summary = BatchSummary(output=out)
    rej_path = rejects_path_for(out)
    pieces = _pieces(src, encoding, mapping, sheet)
    with AtomicFile(out) as out_file, AtomicFile(rej_path) as rej_file:
        sink = TableSink(out_file.file, schema, fmt)
        rej_sink = TableSink(rej_file.file, REJECTS_SCHEMA, "csv")
        pool, score = _executor(scorer, workers, out_file.file, fmt)
        pending: deque[tuple[Future, float]] = deque()

        def drain_one() -> None:
            job, consumed = pending.popleft()
            res = job.result()
            if res.scored is not None and res.n_scored:
                sink.write(res.scored)
            if res.rejects.num_rows:
                rej_sink.write(shift_rows(res.rejects, summary.rows))
            out_file.write_behind()
            summary.add(res)
            if progress:
                progress(summary.rows, int(summary.rows / consumed) if consumed > 0 else None)

        with pool:
            try:
                for index, (piece, consumed) in enumerate(pieces):
                    pending.append((pool.submit(score, index, piece, as_of, schema, fmt), consumed))
                    while len(pending) > 2 * workers:  # bounded: memory stays flat
                        drain_one()
                while pending:
                    drain_one()
            except BaseException:
                for job, _ in pending:
                    job.cancel()
                raise
        sink.close()
        rej_sink.close()
        if summary.rejected:
            summary.rejects_path = rej_file.commit()
        else:
            rej_path.unlink(missing_ok=True)  # no stale rejects from an earlier run
        summary.seconds = time.perf_counter() - started
        check_has_rows(summary, src)
        if max_reject_rate is not None and summary.reject_rate > max_reject_rate:
            raise RejectRateExceeded(summary, max_reject_rate)
        out_file.commit()
    if progress:
        progress(summary.rows, summary.rows)
    return summary
