"""Dask engine: the local engine's scoring core run over partitions of a dataset on a Dask cluster.

The driver plans pieces (byte ranges of big CSV files, row groups of Parquet files), workers read,
validate, score and write one part file per piece into a hidden temporary folder next to the output,
and the driver publishes the result only when every piece succeeded: the folder of Parquet parts is
renamed into place, or the CSV parts are joined into one file. Input and output paths must be
visible to every worker (a shared filesystem), as with any Dask file IO.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from features.io import (check_encoding, csv_block_bounds, csv_blocks, detect_encoding, input_columns, input_files,
                         is_parquet, parquet_batches)
from models.scoring import Scorer
from service.batch.local_engine import (REJECTS_SCHEMA, BatchSummary, ChunkResult, Progress, RejectRateExceeded, check_has_rows,
                           rejects_path_for, result_schema, score_piece, shift_rows)
from service.batch.output import AtomicFile, TableSink, format_of

PIECE_BYTES = 64 << 20  # CSV bytes per task (cut on record boundaries, read in smaller blocks)
LOCAL_WORKERS = 2


@dataclass(frozen=True)
class Piece:
    """One task's share of the input: a CSV byte range or some Parquet row groups of one file."""
    index: int
    path: str
    size: int  # bytes, for progress
    encoding: str | None = None  # CSV: detected once per file, so every range decodes alike
    start: int = 0
    stop: int = 0
    row_groups: tuple[int, ...] = ()


@dataclass
class PieceResult:
    """What a worker did with one piece (its reject rows are numbered from 0 within the piece)."""
    index: int
    stats: ChunkResult  # tables empty: the rows went to part files


def plan_pieces(src: Path | str, encoding: str | None = None, piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Split a file, folder or glob into pieces in input order."""
    pieces: list[Piece] = []
    for path in input_files(src):
        if is_parquet(path):
            meta = pq.ParquetFile(path).metadata
            for g in range(meta.num_row_groups):
                size = meta.row_group(g).total_byte_size
                pieces.append(Piece(len(pieces), str(path), size, row_groups=(g,)))
            continue
        enc = check_encoding(encoding) if encoding else detect_encoding(path)
        for start, stop in csv_block_bounds(path, piece_bytes):
            pieces.append(Piece(len(pieces), str(path), stop - start, enc, start, stop))
    return pieces


def _empty_stats() -> ChunkResult:
    return ChunkResult(pa.table({}), REJECTS_SCHEMA.empty_table(), 0, 0, Counter(), Counter())


def score_part(scorer: Scorer, piece: Piece, as_of: date, schema: pa.Schema, fmt: str, parts: str) -> PieceResult:
    """Worker task: score one piece into `parts/part-NNNNN.<fmt>` and `parts/rejects-NNNNN.parquet`."""
    if piece.row_groups:
        reads = parquet_batches(Path(piece.path), list(piece.row_groups))
    else:
        reads = csv_blocks(Path(piece.path), piece.encoding, start=piece.start, stop=piece.stop)
    stats = _empty_stats()
    name = f"{piece.index:05d}"
    with open(Path(parts) / f"part-{name}.{fmt}", "wb") as out, open(Path(parts) / f"rejects-{name}.parquet", "wb") as rej:
        sink = TableSink(out, schema, fmt, header=False)
        rej_sink = TableSink(rej, REJECTS_SCHEMA, "parquet")
        for read in reads:
            res = score_piece(scorer, read, as_of, schema, fmt)
            if res.n_scored:
                sink.write(res.scored)
            rej_sink.write(shift_rows(res.rejects, stats.n_input))
            _accumulate(stats, res)
        sink.close()
        rej_sink.close()
    return PieceResult(piece.index, stats)


def _accumulate(total: ChunkResult, res: ChunkResult) -> None:
    total.n_input += res.n_input
    total.n_scored += res.n_scored
    total.grades.update(res.grades)
    total.rules.update(res.rules)


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator["object"]:
    """A client of the named scheduler, or of a local cluster (one process per worker) when none is named."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers or LOCAL_WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _publish_dir(tmp: Path, out: Path) -> None:
    """Rename a finished folder into place, replacing an older output of the same name."""
    old = None
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def score_dataset(scorer: Scorer, src: Path | str, out: Path | str, as_of: date | None = None, *,
                  encoding: str | None = None, fmt: str | None = None, max_reject_rate: float | None = None,
                  scheduler: str | None = None, workers: int | None = None, client: "object | None" = None,
                  piece_bytes: int = PIECE_BYTES, progress: Progress | None = None) -> BatchSummary:
    """Score a dataset on Dask: same rows, values and rejects as `service.batch.local_engine.score_file`.

    Parquet output is a folder of part files (one per piece, in input order); CSV output is one file.
    """
    if client is None:
        with dask_client(scheduler, workers) as own:
            return score_dataset(scorer, src, out, as_of, encoding=encoding, fmt=fmt, max_reject_rate=max_reject_rate,
                                 client=own, piece_bytes=piece_bytes, progress=progress)
    from distributed import as_completed

    started = time.perf_counter()
    out = Path(out)
    fmt = format_of(out, fmt)
    as_of = as_of or date.today()
    schema = result_schema(scorer, input_columns(input_files(src)[0], encoding))
    pieces = plan_pieces(src, encoding, piece_bytes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    parts = tmp / out.name
    parts.mkdir()
    try:
        remote_scorer = client.scatter(scorer, broadcast=True)
        futures = [client.submit(score_part, remote_scorer, p, as_of, schema, fmt, str(parts), pure=False)
                   for p in pieces]
        results: dict[int, PieceResult] = {}
        total_bytes, done_bytes, done_rows = sum(p.size for p in pieces) or 1, 0, 0
        for fut in as_completed(futures):
            res = fut.result()
            results[res.index] = res
            done_bytes += pieces[res.index].size
            done_rows += res.stats.n_input
            if progress:
                progress(done_rows, int(done_rows * total_bytes / max(done_bytes, 1)))
        summary = BatchSummary(output=out)
        for i in range(len(pieces)):
            summary.add(results[i].stats)
        summary.rejects_path = _write_rejects(parts, [results[i].stats.n_input for i in range(len(pieces))],
                                              rejects_path_for(out), summary.rejected > 0)
        summary.seconds = time.perf_counter() - started
        check_has_rows(summary, src)
        if max_reject_rate is not None and summary.reject_rate > max_reject_rate:
            raise RejectRateExceeded(summary, max_reject_rate)
        for rej in parts.glob("rejects-*.parquet"):
            rej.unlink()
        if fmt == "parquet":
            _publish_dir(parts, out)
        else:
            _join_csv(parts, len(pieces), schema, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(summary.rows, summary.rows)
    return summary


def _write_rejects(parts: Path, rows_per_piece: list[int], path: Path, any_rejects: bool) -> Path | None:
    """All pieces' reject lines, renumbered to input positions, as one CSV (or no file when there are none)."""
    if not any_rejects:
        path.unlink(missing_ok=True)
        return None
    with AtomicFile(path) as dst:
        sink = TableSink(dst.file, REJECTS_SCHEMA, "csv")
        offset = 0
        for i, n in enumerate(rows_per_piece):
            table = pq.read_table(parts / f"rejects-{i:05d}.parquet")
            if table.num_rows:
                sink.write(shift_rows(table, offset))
            offset += n
        sink.close()
        return dst.commit()


def _join_csv(parts: Path, n_pieces: int, schema: pa.Schema, out: Path) -> None:
    """Header + every CSV part in input order, as one file renamed into place."""
    with AtomicFile(out) as dst:
        sink = TableSink(dst.file, schema, "csv")
        sink.close()  # writes the header only
        for i in range(n_pieces):
            with open(parts / f"part-{i:05d}.csv", "rb") as part:
                shutil.copyfileobj(part, dst.file, 1 << 20)
        dst.commit()
