"""Local batch engine: stream CSV/Parquet in chunks → validate → score → write CSV/Parquet atomically.

Chunks are validated and scored on a small thread pool (Arrow, numpy and most of pandas release the
GIL) while the main thread reads the next chunk and writes finished ones in input order, so memory
stays flat and the output bytes do not depend on timing.
"""
from __future__ import annotations

import os
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from features.io import InputError, MalformedRow, RawChunk, input_files, iter_tables
from features.validate import REJECT_COLUMNS, validate_frame
from models.scoring import Scorer
from service.output import AtomicFile, TableSink, arrow_schema, for_output, format_of

Progress = Callable[[int, int | None], None]  # (rows done, estimated total rows)
REJECTS_SCHEMA = pa.schema([pa.field(c, pa.int64() if c == "row" else pa.string()) for c in REJECT_COLUMNS])
MALFORMED_TEXT_CHARS = 200


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


@dataclass
class ChunkResult:
    """One chunk scored: output rows and reject lines as Arrow tables ready to write, plus counts."""
    scored: pa.Table
    rejects: pa.Table
    n_input: int
    n_scored: int
    grades: Counter
    rules: Counter


def rejects_path_for(out: Path) -> Path:
    """`scored.csv` → `scored.rejects.csv`; a partitioned output folder `scored/` → `scored.rejects.csv`."""
    out = Path(out)
    stem = out.name if out.suffix.lower() not in (".csv", ".parquet", ".pq", ".txt") else out.stem
    return out.with_name(stem + ".rejects.csv")


def result_schema(scorer: Scorer) -> pa.Schema:
    """The output columns (`ScoreBatch.to_frame()`) as an Arrow schema, from scoring zero rows."""
    empty = validate_frame(pd.DataFrame()).clean
    return arrow_schema(scorer.score_frame(empty).to_frame())


def score_chunk(scorer: Scorer, chunk: RawChunk, as_of: date, schema: pa.Schema, fmt: str) -> ChunkResult:
    """The scoring core shared by every engine: validate, score and format one chunk of raw rows."""
    checked = validate_frame(chunk.frame, as_of_default=as_of)
    frame = scorer.score_frame(checked.clean).to_frame()
    rejects = checked.rejects
    if len(rejects):
        rejects = rejects.assign(row=chunk.rows[rejects["row"].to_numpy()])
    return ChunkResult(
        scored=for_output(frame, schema, fmt),
        rejects=for_output(rejects, REJECTS_SCHEMA, "csv"),
        n_input=len(chunk.frame),
        n_scored=len(frame),
        grades=Counter(frame["grade"].value_counts().to_dict()),
        rules=Counter(rejects.groupby(["field", "rule"]).size().to_dict()) if len(rejects) else Counter(),
    )


def malformed_result(rows: list[MalformedRow]) -> ChunkResult:
    """CSV lines with the wrong number of cells, as reject lines (each counts as one rejected input row)."""
    rejects = pd.DataFrame({
        "row": np.array([r.row for r in rows], dtype=np.int64),
        "firm_id": None,
        "field": "",
        "rule": "columns",
        "value": [r.text[:MALFORMED_TEXT_CHARS] for r in rows],
        "message": [f"该行有 {r.actual} 个字段，表头有 {r.expected} 个 / the line has {r.actual} cells, "
                    f"the header has {r.expected}" for r in rows],
    }, columns=list(REJECT_COLUMNS))
    return ChunkResult(pa.table({}), for_output(rejects, REJECTS_SCHEMA, "csv"), len(rows), 0, Counter(),
                       Counter({("", "columns"): len(rows)}))


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _Estimate:
    """Total rows of a multi-file input, extrapolated from the bytes consumed so far."""

    def __init__(self, files: list[Path]):
        self.sizes = [os.path.getsize(f) for f in files]
        self.total = sum(self.sizes) or 1
        self.done_bytes = 0

    def rows(self, rows_read: int, stream_fraction: float, file_index: int) -> int | None:
        consumed = self.done_bytes + stream_fraction * self.sizes[file_index]
        return int(rows_read * self.total / consumed) if consumed > 0 else None


def _chunks(src: Path | str, encoding: str | None, estimate: _Estimate) -> Iterator[tuple[RawChunk | list[MalformedRow], int | None]]:
    """Every chunk of every input file (and the malformed CSV lines skipped before it), with the estimated total rows."""
    for i, stream in enumerate(iter_tables(src, encoding)):
        for chunk in stream:
            total = estimate.rows(stream.base_row + stream.rows_read, stream.fraction_done(), i)
            if stream.malformed:
                yield stream.malformed[:], total
                stream.malformed.clear()
            yield chunk, total
        if stream.malformed:
            yield stream.malformed[:], None
            stream.malformed.clear()
        estimate.done_bytes += estimate.sizes[i]


def score_file(scorer: Scorer, src: Path | str, out: Path | str, as_of: date | None = None, *,
               encoding: str | None = None, fmt: str | None = None, max_reject_rate: float | None = None,
               workers: int | None = None, progress: Progress | None = None) -> BatchSummary:
    """Score every valid row of `src` (file, folder or glob) into `out`; invalid rows go to `<out>.rejects.csv`.

    Both files appear only when complete. Raises RejectRateExceeded (after writing the rejects) when
    the share of rejected rows is above `max_reject_rate`, and InputError for an unreadable input.
    """
    started = time.perf_counter()
    out = Path(out)
    fmt = format_of(out, fmt)
    as_of = as_of or date.today()
    workers = workers or default_workers()
    schema = result_schema(scorer)
    estimate = _Estimate(input_files(src))
    summary = BatchSummary(output=out)
    rej_path = rejects_path_for(out)
    with AtomicFile(out) as out_file, AtomicFile(rej_path) as rej_file, \
            ThreadPoolExecutor(workers, thread_name_prefix="score") as pool:
        sink = TableSink(out_file.file, schema, fmt)
        rej_sink = TableSink(rej_file.file, REJECTS_SCHEMA, "csv")
        pending: deque[tuple[Future | ChunkResult, int | None]] = deque()

        def drain_one() -> None:
            job, total = pending.popleft()
            res = job.result() if isinstance(job, Future) else job
            if res.n_scored:
                sink.write(res.scored)
            if res.rejects.num_rows:
                rej_sink.write(res.rejects)
            summary.add(res)
            if progress:
                progress(summary.rows, total)

        for item, total in _chunks(src, encoding, estimate):
            if isinstance(item, list):
                pending.append((malformed_result(item), total))
            else:
                pending.append((pool.submit(score_chunk, scorer, item, as_of, schema, fmt), total))
            while len(pending) > workers:
                drain_one()
        while pending:
            drain_one()
        sink.close()
        rej_sink.close()
        if summary.rejected:
            summary.rejects_path = rej_file.commit()
        else:
            rej_path.unlink(missing_ok=True)  # no stale rejects from an earlier run
        summary.seconds = time.perf_counter() - started
        if max_reject_rate is not None and summary.reject_rate > max_reject_rate:
            raise RejectRateExceeded(summary, max_reject_rate)
        out_file.commit()
    if progress:
        progress(summary.rows, summary.rows)
    return summary


__all__ = ["BatchSummary", "ChunkResult", "InputError", "RejectRateExceeded", "REJECTS_SCHEMA", "rejects_path_for",
           "result_schema", "score_chunk", "score_file"]
