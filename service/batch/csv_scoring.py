"""CSV or .xlsx upload → scored CSV, streamed: UTF-8 (with or without BOM) or GBK, English or Chinese
headers, or the bank's own headers through a column mapping (features/mapping.py).

The upload is spooled to a temporary file, checked in one pass (NUL bytes, encoding, line length,
hash and a compressed copy for the audit trail), then read, validated and scored chunk by chunk by
the batch engine's own chunk scorer (`service.batch.local_engine.score_chunk`: the same `Scorer.validate`, the
same rejects, rows with the wrong number of cells rejected with rule `columns`). The reply — one
row per input row, rejected rows in place with their reasons — goes through the product's one CSV
writer (`service.batch.output`) into a spooled file. The audit record is spooled to disk as it is made
(`AuditSpool`: the compressed file, the reply as an Arrow stream, one small row per scored firm) and
copied into the store in pieces when it is committed, so peak memory is bounded by the chunk size,
not by the file's size. An .xlsx upload is read by features/io.py (title rows, merged headers and
trailing totals handled there) and scored in the same chunks.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import shutil
import tempfile
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from features.io import InputError, ParquetBatch, RawChunk, csv_blocks, csv_header_bytes, read_xlsx_frame, unique_header
from features.mapping import ColumnMapping
from features.xlsx import looks_like_xlsx
from features.schema import ALIASES
from models.decision import RECOMMENDATION_COLUMNS
from models.scoring import RESULT_COLUMNS, Scorer
from service.batch.local_engine import ChunkResult, result_schema, score_chunk
from service.batch.ids import new_ids
from service.batch.output import csv_bytes, neutralise_formulas

OUTPUT_COLUMNS: tuple[str, ...] = ("row", "assessment_id") + RESULT_COLUMNS + RECOMMENDATION_COLUMNS + ("error",)
READ_BYTES = 1 << 20  # the checking pass reads the file in pieces of this size
SPOOL_BYTES = 1 << 20  # a reply larger than this is spooled to disk
REPLY_PIECE_BYTES = 64 << 10
ASSESSED_COLUMNS = ("assessment_id", "row", "firm_id", "name", "score", "grade")
# ≈ 5,000 rows. Validation has a fixed cost per chunk (~0.15 s here): 1 MB chunks cost ~35% more CPU
# than scoring a 10,000-row file whole, 2 MB ~10%; the command line's 4 MB blocks save little more CPU
# and cost a server scoring several uploads beside its other requests a larger working set.
UPLOAD_BLOCK_BYTES = 2 << 20
XLSX_CHUNK_ROWS = 5000  # rows of an .xlsx sheet scored per chunk (≈ a CSV block)
SCHEMAS_PER_MODEL = 64  # reply schemas remembered per model (by header)
ZSTD = pa.Codec("zstd", compression_level=1)  # the audit's compression: upload spools here, the store's own records
ASSESSED_SCHEMA = pa.schema([("assessment_id", pa.string()), ("row", pa.int64()), ("firm_id", pa.string()),
                             ("name", pa.string()), ("score", pa.float64()), ("grade", pa.string())])


class AuditSpool:
    """A temporary folder (in TMPDIR) holding an upload's audit record while it is made and committed:
    `file.zst` (the upload, zstd-compressed), `output.arrow` (the reply: Arrow IPC stream, zstd
    buffers) and `assessed.arrow` (ASSESSED_SCHEMA rows). Removed by `close()`, or else when the last
    reference to it goes (the store's writer may still hold the record after its caller gave up)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="techscore-audit-"))
        self._remove = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.file, self.output, self.assessed = (self.folder / n for n in ("file.zst", "output.arrow", "assessed.arrow"))

    def close(self) -> None:
        self._remove()


class CsvError(ValueError):
    """The upload cannot be read as a table at all (the request fails; row errors never do)."""


class UploadLimitExceeded(CsvError):
    """The upload breaks a configured limit (413): `setting` names it, `limit` is its value."""

    def __init__(self, setting: str, limit: int, message: str):
        super().__init__(message)
        self.setting, self.limit = setting, limit


@dataclass(frozen=True)
class UploadLimits:
    """Shape limits checked before any row is parsed (see Settings.max_upload_columns / max_upload_line_bytes)."""
    max_columns: int = 1000
    max_line_bytes: int = 64 << 10
    block_bytes: int = UPLOAD_BLOCK_BYTES


def decode(data: bytes) -> str:
    """Text of an upload: UTF-8 (BOM stripped) when it decodes as such, else GB18030 (a superset of GBK)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise CsvError(f"the file is neither UTF-8 nor GBK/GB18030 text (byte {exc.start})") from exc


def read_csv_text(text: str) -> pd.DataFrame:
    """Every cell as text, one frame row per data row of the file (how the audit trail reads a stored upload).

    Arrow's parser reads the file (~4× faster than pandas' own); a file it rejects (ragged rows) is
    read by pandas' parser, short rows padded with empty cells and long rows cut to the header, so
    that row i is still the file's data row i.
    """
    try:
        return pd.read_csv(io.BytesIO(text.encode("utf-8")), engine="pyarrow", dtype=str, keep_default_na=False,
                           na_values=[""])
    except (ValueError, pa.ArrowException):  # pandas' ParserError and EmptyDataError are ValueErrors
        pass
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise CsvError("the file is empty: expected a header line and at least one row") from exc
    except (pd.errors.ParserError, ValueError):
        pass
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], engine="python",
                           on_bad_lines=lambda cells: cells)  # pandas drops the cells beyond the header's
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise CsvError(f"not a readable CSV table: {exc}") from exc


# ------------------------------------------------------------------------------------------
# The checking pass
# ------------------------------------------------------------------------------------------
@dataclass
class UploadFile:
    """What the checking pass learnt about a spooled upload."""
    path: Path
    encoding: str
    size: int
    sha256: str
    spool: AuditSpool  # the file, compressed, in `spool.file` (for the audit trail)
    header: list[str]  # as sent (an .xlsx: its header row as read)
    xlsx: pa.Table | None = None  # an .xlsx sheet's cells (read whole: the workbook is parsed at once anyway)
    notes: Counter = field(default_factory=Counter)  # what reading did (xlsx title rows, totals dropped)


class _RecordMeter:
    """Longest CSV record so far, fed piece by piece (vectorised: no loop over lines). A line break
    inside quotes continues the record, as the chunk reader cuts them: so an unclosed quote, which
    would make the rest of the file one record read whole, breaks the limit instead."""

    def __init__(self, limit: int):
        self.limit, self.carry, self.lines, self.odd = limit, 0, 0, 0  # odd: quotes seen so far, mod 2

    def feed(self, piece: bytes) -> None:
        data = np.frombuffer(piece, dtype=np.uint8)
        breaks = np.flatnonzero(data == 10)
        quotes = np.cumsum(data == 34)
        if breaks.size:
            ends = np.flatnonzero((quotes[breaks] + self.odd) % 2 == 0)  # breaks outside quotes end a record
            if ends.size:
                lengths = np.diff(breaks[ends], prepend=-1 - self.carry) - 1
                over = np.flatnonzero(lengths > self.limit)
                if over.size:
                    self._fail(self.lines + int(ends[over[0]]) + 1)
                self.carry = len(piece) - int(breaks[ends[-1]]) - 1
            else:
                self.carry += len(piece)
            self.lines += breaks.size
        else:
            self.carry += len(piece)
        self.odd = (self.odd + int(quotes[-1] if quotes.size else 0)) % 2
        if self.carry > self.limit:
            self._fail(self.lines + 1)

    def _fail(self, line: int) -> None:
        raise UploadLimitExceeded(
            "max_upload_line_bytes", self.limit,
            f"第 {line} 行的记录超过 {self.limit:,} 字节的上限（未闭合的引号会把其后所有行并为一条记录）/ the record "
            f"at line {line} is longer than the limit of {self.limit:,} bytes (max_upload_line_bytes); an unclosed "
            f"quote makes every line after it part of one record")


def check_upload(path: Path, limits: UploadLimits, spool: AuditSpool, mapping: ColumnMapping | None = None,
                 sheet: str | None = None) -> UploadFile:
    """One pass over the spooled upload: no NUL bytes, UTF-8 or else GB18030, no record over the line
    limit, a header within the column limit; its hash and compressed copy (to `spool.file`) on the way.
    An .xlsx file is read as a sheet instead."""
    with open(path, "rb") as fh:
        if looks_like_xlsx(fh.read(4)):
            return _check_xlsx(path, limits, spool, mapping, sheet)
    sha, meter = hashlib.sha256(), _RecordMeter(limits.max_line_bytes)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8, size = True, 0
    with open(path, "rb") as fh, pa.CompressedOutputStream(str(spool.file), "zstd") as packed:
        while piece := fh.read(READ_BYTES):
            nul = piece.find(b"\0")
            if nul >= 0:
                raise CsvError(f"第 {size + nul} 字节是 NUL：不是文本 CSV 文件 / byte {size + nul} is a NUL byte: "
                               "not a text CSV file (UTF-16 or binary?); save it as UTF-8 or GBK CSV")
            meter.feed(piece)
            if is_utf8:
                try:
                    utf8.decode(piece)
                except UnicodeDecodeError:
                    is_utf8 = False
            sha.update(piece)
            packed.write(piece)
            size += len(piece)
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    encoding = "utf-8-sig" if is_utf8 else "gb18030"
    return UploadFile(path, encoding, size, sha.hexdigest(), spool, _header(path, encoding, limits))


def _check_xlsx(path: Path, limits: UploadLimits, spool: AuditSpool, mapping: ColumnMapping | None,
                sheet: str | None) -> UploadFile:
    """An .xlsx upload: its sheet read (features/io.py), its hash and compressed copy, the column cap."""
    data = path.read_bytes()
    try:
        frame, notes = read_xlsx_frame(io.BytesIO(data), sheet)
    except InputError as exc:
        raise CsvError(str(exc)) from exc
    header = [str(c) for c in frame.columns]
    _check_columns(header, limits)
    if mapping is not None:
        mapping.check_headers(header)
    spool.file.write_bytes(ZSTD.compress(data, asbytes=True))
    return UploadFile(path, "xlsx", len(data), hashlib.sha256(data).hexdigest(), spool, header,
                      pa.Table.from_pandas(frame, preserve_index=False), notes)


def _check_columns(header: list[str], limits: UploadLimits) -> None:
    if len(header) > limits.max_columns:
        raise UploadLimitExceeded(
            "max_upload_columns", limits.max_columns,
            f"表头有 {len(header):,} 列，超过 {limits.max_columns:,} 列的上限 / the header has {len(header):,} "
            f"columns, above the limit of {limits.max_columns:,} (max_upload_columns)")


def _header(path: Path, encoding: str, limits: UploadLimits) -> list[str]:
    raw = csv_header_bytes(path)
    if not raw.strip(b"\xef\xbb\xbf\r\n\t ,"):
        raise CsvError("文件为空 / the file is empty: expected a header line and at least one row")
    try:
        header = next(csv.reader([raw.decode(encoding).lstrip("\ufeff").rstrip("\r\n")]))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CsvError(f"表头无法读取 / the header line cannot be read: {exc}") from exc
    try:
        unique_header(header, "the upload")
    except InputError as exc:
        raise CsvError(str(exc)) from exc
    _check_columns(header, limits)
    return header


# ------------------------------------------------------------------------------------------
# Scoring, chunk by chunk
# ------------------------------------------------------------------------------------------
@dataclass
class ScoredUpload:
    """The reply (spooled CSV, one row per input row) and what the audit trail and metrics need."""
    file: UploadFile
    reply: BinaryIO
    rows: int = 0
    grades: Counter = field(default_factory=Counter)
    scored: int = 0
    normalised: Counter = field(default_factory=Counter)  # normalisation -> cells it changed (features/kinds.py)

    @property
    def spool(self) -> AuditSpool:
        """The audit record on disk: the compressed file, the reply as returned (Arrow IPC stream, zstd
        buffers, as service.store keeps it) and ASSESSED_COLUMNS of every scored row."""
        return self.file.spool

    def assessed_rows(self) -> Iterator[tuple[str, int, str | None, str | None, float, str]]:
        """(assessment id, row, firm id, name, score, grade) of every scored row, in file order, read back
        from the spool one chunk's batch at a time."""
        with pa.OSFile(str(self.spool.assessed)) as fh:
            for batch in pa.ipc.open_stream(fh):
                yield from zip(*(batch.column(c).to_pylist() for c in ASSESSED_COLUMNS))

    def close(self) -> None:
        """Remove the audit spool (the reply closes itself once sent)."""
        self.spool.close()

    def chunks(self) -> Iterator[bytes]:
        """The reply's bytes, piece by piece; the spooled file is closed at the end."""
        try:
            self.reply.seek(0)
            while piece := self.reply.read(REPLY_PIECE_BYTES):
                yield piece
        finally:
            self.reply.close()


def score_upload(scorer: Scorer, path: Path, as_of: date, limits: UploadLimits, mapping: ColumnMapping | None = None,
                 sheet: str | None = None) -> Iterator[ScoredUpload | None]:
    """Check, then validate and score a spooled upload one chunk per step: yields None after each step (so
    that the caller can run every step on a worker thread, interleaving uploads), the ScoredUpload last.

    Raises CsvError (UploadLimitExceeded for a broken limit) for a file that cannot be scored at all."""
    spool = AuditSpool()
    try:
        upload = check_upload(path, limits, spool, mapping, sheet)
    except InputError as exc:  # a mapping that names columns the file does not have
        spool.close()
        raise CsvError(str(exc)) from exc
    except BaseException:
        spool.close()
        raise
    try:
        yield None
    except BaseException:
        spool.close()
        raise
    header = mapping.rename(upload.header) if mapping is not None else upload.header
    try:
        schema = _result_schema(scorer, tuple(header))
    except ValueError as exc:  # two headers mapping to one field; a generic-mode model's missing columns
        raise CsvError(str(exc)) from exc
    reply_schema = pa.schema([pa.field("row", pa.int64()), pa.field("assessment_id", pa.string()), *schema,
                              pa.field("error", pa.string())])
    name_column = next((c for c in header if ALIASES.get(c, c) == "name"), None)
    # The mapping and sheet used go with the stored reply (the audit trail), in its schema's metadata.
    reply_schema = reply_schema.with_metadata({"mapping": mapping.text if mapping else "", "sheet": sheet or ""})
    out = ScoredUpload(upload, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))
    try:
        out.reply.write(csv_bytes(reply_schema.empty_table(), header=True))
        options = pa.ipc.IpcWriteOptions(compression=ZSTD)
        with (pa.ipc.new_stream(str(spool.output), reply_schema, options=options) as ipc,
              pa.ipc.new_stream(str(spool.assessed), ASSESSED_SCHEMA, options=options) as assessed):
            for block in _blocks(upload, limits, mapping):
                try:
                    chunk = block.read()
                    res = score_chunk(scorer, chunk, as_of, schema, "parquet")  # neutralised below, with the reply
                except ValueError as exc:  # InputError, or a file the model's columns cannot be read from
                    raise CsvError(str(exc).replace(str(path), "the upload")) from exc
                table = neutralise_formulas(_reply(res, chunk, out, reply_schema, name_column, assessed))
                out.reply.write(csv_bytes(table))
                ipc.write_table(table)
                out.rows += chunk.n_rows
                out.grades.update(res.grades)
                out.normalised.update(res.normalised)
                yield None
            out.normalised.update(upload.notes)
            # the counts are known at the end: an empty last batch carries them (service.store.audit reads them)
            ipc.write_batch(pa.RecordBatch.from_pylist([], schema=reply_schema),
                            custom_metadata={"normalised": json.dumps(dict(out.normalised), ensure_ascii=False)})
        if not out.rows:
            raise CsvError("文件只有表头，没有数据行 / the file has a header line but no data rows")
    except BaseException:
        out.reply.close()
        spool.close()
        raise
    yield out


def _blocks(upload: UploadFile, limits: UploadLimits, mapping: ColumnMapping | None) -> Iterator[Any]:
    """The upload's chunks to read and score: CSV blocks of whole records, or slices of the xlsx sheet."""
    if upload.xlsx is not None:  # the sheet's rows read like a Parquet file's batches
        batches = upload.xlsx.to_batches(max_chunksize=XLSX_CHUNK_ROWS)
        for k, batch in enumerate(batches, 1):
            yield ParquetBatch(batch, k / len(batches), mapping)
        return
    for block in csv_blocks(upload.path, upload.encoding, limits.block_bytes):
        block.mapping = mapping
        yield block


_SCHEMAS: "weakref.WeakKeyDictionary[Scorer, dict[tuple[str, ...], pa.Schema]]" = weakref.WeakKeyDictionary()


def _result_schema(scorer: Scorer, header: tuple[str, ...]) -> pa.Schema:
    """`service.batch.local_engine.result_schema`, remembered per model and header (it scores an empty frame: ~0.2 s,
    and a bank sends the same export layout again and again)."""
    known = _SCHEMAS.setdefault(scorer, {})
    if header not in known:
        if len(known) >= SCHEMAS_PER_MODEL:
            known.clear()
        known[header] = result_schema(scorer, list(header))
    return known[header]


def _reply(res: ChunkResult, chunk: RawChunk, out: ScoredUpload, schema: pa.Schema,
           name_column: str | None, assessed: pa.ipc.RecordBatchStreamWriter) -> pa.Table:
    """One chunk's reply rows: results for scored rows, reasons for the others, in input order; the
    scored rows' ASSESSED_COLUMNS written to `assessed` (the audit spool)."""
    n, offset = chunk.n_rows, out.rows
    error = np.full(n, None, dtype=object)
    rejected_firm = np.full(n, None, dtype=object)
    rejected = np.empty(0, dtype=np.int64)
    if res.rejects.num_rows:
        by_row = res.rejects.select(["row", "firm_id", "message"]).to_pandas().groupby("row", sort=True)
        rejected = by_row.size().index.to_numpy()
        error[rejected] = by_row["message"].agg("; ".join).to_numpy()
        rejected_firm[rejected] = by_row["firm_id"].first().to_numpy()
    scored = np.setdiff1d(np.arange(n), rejected)  # the chunk scorer keeps input order
    assert len(scored) == res.n_scored, "every row is either scored or rejected"
    at = np.full(n, -1, dtype=np.int64)
    at[scored] = np.arange(len(scored))
    table = res.scored.take(pa.array(at, mask=at < 0))
    firm = table.column("firm_id").to_numpy(zero_copy_only=False).astype(object)
    firm[rejected] = rejected_firm[rejected]
    ids = np.full(n, None, dtype=object)
    ids[scored] = new_ids(len(scored))
    table = (table.set_column(table.schema.get_field_index("firm_id"), "firm_id", _text(firm))
             .add_column(0, "row", pa.array(np.arange(offset, offset + n, dtype=np.int64)))
             .add_column(1, "assessment_id", _text(ids))
             .append_column("error", _text(error))).cast(schema)
    if len(scored):
        done = table.select(["assessment_id", "row", "firm_id", "score", "grade"]).take(pa.array(scored))
        assessed.write_table(done.add_column(3, "name", _names(chunk, scored, name_column)).cast(ASSESSED_SCHEMA))
        out.scored += len(scored)
    return table


def _names(chunk: RawChunk, scored: np.ndarray, column: str | None) -> pa.Array:
    """The firm names of the scored rows, as submitted."""
    if column is None:
        return pa.nulls(len(scored), pa.string())
    frame_rows = np.searchsorted(chunk.rows, scored)  # chunk.rows: each parsed row's position in the chunk
    return _text(chunk.frame[column].to_numpy(dtype=object)[frame_rows])


def _text(values: np.ndarray) -> pa.Array:
    """Object array of text → Arrow strings (None and NaN → null)."""
    return pa.array(values, type=pa.string(), from_pandas=True)
