"""Local batch engine: stream CSV/Parquet in chunks → validate → score → write CSV/Parquet atomically.

Blocks of whole CSV records (or Parquet batches) are parsed, validated and scored on a thread per
core (Arrow and numpy release the GIL for most of the work) while the main thread reads the next
block and writes finished ones in input order; at most one block per thread waits, so memory stays
flat, and the output bytes do not depend on timing or on where blocks were cut.
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
import pyarrow.compute as pc

from features.io import CsvBlock, MalformedRow, ParquetBatch, RawChunk, file_pieces, input_columns, input_files
from features.validate import REJECT_COLUMNS
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
    """One chunk scored: output rows and reject lines (rows counted from the chunk's start) as Arrow
    tables ready to write, plus counts."""
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


def result_schema(scorer: Scorer, columns: list[str]) -> pa.Schema:
    """The output columns (`ScoreBatch.to_frame()`) as an Arrow schema, from scoring zero rows with these input columns."""
    empty = scorer.validate(pd.DataFrame({c: pd.Series(dtype=object) for c in columns})).clean
    return arrow_schema(scorer.score_frame(empty).to_frame())


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
    frame = scorer.score_frame(checked.clean).to_frame()
    rejects = checked.rejects
    if len(rejects):
        rejects = rejects.assign(row=chunk.rows[rejects["row"].to_numpy()])
    if chunk.malformed:
        rejects = pd.concat([rejects, _malformed_rejects(chunk.malformed)], ignore_index=True)
        rejects = rejects.sort_values("row", kind="stable")
    return ChunkResult(
        scored=for_output(frame, schema, fmt),
        rejects=for_output(rejects, REJECTS_SCHEMA, "csv"),
        n_input=chunk.n_rows,
        n_scored=len(frame),
        grades=Counter(frame["grade"].value_counts().to_dict()),
        rules=Counter(rejects.groupby(["field", "rule"]).size().to_dict()) if len(rejects) else Counter(),
    )


def score_piece(scorer: Scorer, piece: CsvBlock | ParquetBatch, as_of: date, schema: pa.Schema, fmt: str) -> ChunkResult:
    """Parse (CSV) and score one piece: runs on a worker thread."""
    return score_chunk(scorer, piece.read(), as_of, schema, fmt)


def shift_rows(rejects: pa.Table, offset: int) -> pa.Table:
    """Reject lines renumbered from chunk positions to input positions."""
    if not offset or not rejects.num_rows:
        return rejects
    rows = pc.add(rejects.column("row"), pa.scalar(offset, pa.int64()))
    return rejects.set_column(0, REJECTS_SCHEMA.field("row"), rows)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _pieces(src: Path | str, encoding: str | None) -> Iterator[tuple[CsvBlock | ParquetBatch, float]]:
    """Every piece of every input file, with the share of the input's bytes consumed once it is read."""
    files = input_files(src)
    sizes = [os.path.getsize(f) for f in files]
    total, before = sum(sizes) or 1, 0
    for path, size in zip(files, sizes):
        for piece in file_pieces(path, encoding):
            yield piece, (before + piece.fraction * size) / total
        before += size


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
    schema = result_schema(scorer, input_columns(input_files(src)[0], encoding))
    summary = BatchSummary(output=out)
    rej_path = rejects_path_for(out)
    pieces = _pieces(src, encoding)
    with AtomicFile(out) as out_file, AtomicFile(rej_path) as rej_file, \
            ThreadPoolExecutor(workers, thread_name_prefix="score") as pool:
        sink = TableSink(out_file.file, schema, fmt)
        rej_sink = TableSink(rej_file.file, REJECTS_SCHEMA, "csv")
        pending: deque[tuple[Future, float]] = deque()

        def drain_one() -> None:
            job, consumed = pending.popleft()
            res = job.result()
            if res.n_scored:
                sink.write(res.scored)
            if res.rejects.num_rows:
                rej_sink.write(shift_rows(res.rejects, summary.rows))
            summary.add(res)
            if progress:
                progress(summary.rows, int(summary.rows / consumed) if consumed > 0 else None)

        try:
            for piece, consumed in pieces:
                pending.append((pool.submit(score_piece, scorer, piece, as_of, schema, fmt), consumed))
                while len(pending) > workers:  # bounded: memory stays flat
                    drain_one()
            while pending:
                drain_one()
        finally:
            for job, _ in pending:
                job.cancel()
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
