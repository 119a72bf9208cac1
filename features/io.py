"""Read raw profile tables (CSV in the encodings banks export, or Parquet): whole, or streamed in chunks."""
from __future__ import annotations

import codecs
import csv
import glob
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.mapping import ColumnMapping
from features.schema import FIELD_SPECS
from features.xlsx import XLSX_BATCH_ROWS, XlsxError, is_xlsx, looks_like_xlsx, open_xlsx

# Text-like fields are read as strings so leading zeros and codes survive (region 010000 …).
_STRING_KINDS = {"text", "enum", "date"}
_STRING_COLUMNS = {
    col
    for spec in FIELD_SPECS.values()
    if spec.kind in _STRING_KINDS
    for col in (spec.name, spec.label_zh)
}
ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm") + PARQUET_SUFFIXES
CSV_BLOCK_BYTES = 4 << 20  # ≈ 10k profile rows per chunk: big enough to amortise, small enough to stay flat
PARQUET_BATCH_ROWS = 10_000
_SAMPLES = 8  # places in the file where the encoding is sampled


class InputError(ValueError):
    """The input cannot be read as a table (file-level problem, not a bad row)."""


def is_parquet(path: Path | str) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def _whole_lines(block: bytes, at_start: bool) -> bytes:
    """The complete lines of a block read from anywhere in a file (b'\\n' never occurs inside a UTF-8/GBK character)."""
    if not at_start:
        block = block[block.find(b"\n") + 1:]
    cut = block.rfind(b"\n")
    return block if cut < 0 else block[: cut + 1]


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """UTF-8 (with or without BOM) when samples from the start, middle and end decode as UTF-8, else GB18030/GBK."""
    size = os.path.getsize(path)
    starts = sorted({0} | {int(size * k / _SAMPLES) for k in range(1, _SAMPLES)} if size > sample_bytes * _SAMPLES else {0})
    with open(path, "rb") as fh:
        for start in starts:
            fh.seek(start)
            block = fh.read(sample_bytes)
            sample = block if size <= sample_bytes else _whole_lines(block, start == 0)
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError:
                return "gb18030"
    return "utf-8-sig"


def read_table(path: Path | str, encoding: str | None = None) -> pd.DataFrame:
    """A whole CSV, Parquet or Excel file as a DataFrame of raw profiles."""
    path = Path(path)
    if is_parquet(path):
        return pd.read_parquet(path)
    if is_xlsx(path):
        return read_xlsx_frame(path)[0]
    enc = encoding or detect_encoding(path)
    return pd.read_csv(path, encoding=enc, dtype={c: str for c in _STRING_COLUMNS}, keep_default_na=False, na_values=[""])


# ------------------------------------------------------------------------------------------
# Streaming
# ------------------------------------------------------------------------------------------
def input_files(spec: Path | str) -> list[Path]:
    """A file, a folder of partitions (its CSV/Parquet files) or a glob pattern → files in sorted order."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES
                       and not p.name.startswith((".", "_", "~$")))
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file())
    if not files:
        raise InputError(f"no CSV or Parquet input (nor Excel) at {spec}")
    return files


def check_encoding(encoding: str) -> str:
    """Normalised codec name, or InputError for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r} (try utf-8, utf-8-sig, gbk or gb18030)") from None


@dataclass
class MalformedRow:
    """A CSV line whose number of cells differs from the header's (skipped by the parser)."""
    row: int  # position within its chunk (from the physical line number)
    text: str
    expected: int
    actual: int


@dataclass
class RawChunk:
    """Raw cells of consecutive input rows, as read; positions count from the chunk's first input row."""
    frame: pd.DataFrame
    rows: np.ndarray  # int64 position of each frame row within the chunk
    n_rows: int  # input rows covered, malformed lines included
    malformed: list[MalformedRow]
    notes: Counter = field(default_factory=Counter)  # what reading did to the file (xlsx title/total rows)


def _positions(n_parsed: int, skipped: list[int]) -> np.ndarray:
    """Position of each parsed row, counting the malformed rows the parser skipped."""
    parsed = np.arange(n_parsed, dtype=np.int64)
    if not skipped:
        return parsed
    adj = np.sort(np.asarray(skipped, dtype=np.int64)) - np.arange(len(skipped))  # non-decreasing
    return parsed + np.searchsorted(adj, parsed, side="right")


def _arrow_encoding(encoding: str) -> str:
    """Arrow skips a UTF-8 BOM itself and decodes UTF-8 natively; other codecs go through Python's."""
    return "utf8" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


@dataclass
class CsvBlock:
    """Whole CSV records [start, stop) of a file, cheap to pass around: the bytes are read (with the
    header line put first) and parsed where the block is scored."""
    header: bytes
    encoding: str
    name: str
    start: int  # byte offset of the records in the file
    stop: int
    fraction: float  # share of the file read once this block is
    mapping: ColumnMapping | None = None  # the bank's headers → our fields, applied as the block is read

    def read_bytes(self) -> bytes:
        """The header line and the block's records."""
        with open(self.name, "rb") as fh:
            fh.seek(self.start)
            return self.header + fh.read(self.stop - self.start)

    def read(self) -> RawChunk:
        """Parse every cell as text (only empty cells missing); lines with the wrong cell count set aside."""
        malformed: list[MalformedRow] = []

        def on_malformed(row: pacsv.InvalidRow) -> str:
            pos = row.number - 2 if row.number is not None else len(malformed)
            malformed.append(MalformedRow(pos, row.text, row.expected_columns, row.actual_columns))
            return "skip"

        data = self.read_bytes()
        try:
            first = self.header.decode(self.encoding).lstrip("\ufeff").rstrip("\r\n")
            header = next(csv.reader([first]))
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(use_threads=False, encoding=_arrow_encoding(self.encoding),
                                               block_size=max(len(data), 1 << 20)),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_malformed),
                convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                     null_values=[""], strings_can_be_null=True,
                                                     quoted_strings_can_be_null=True))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InputError(f"{self.name}: cannot read the CSV records from byte {self.start} as {self.encoding} "
                             f"({exc}); pass --encoding if the file is in another encoding") from exc
        rows = _positions(table.num_rows, [m.row for m in malformed])
        return RawChunk(mapped(table.to_pandas(), self.mapping), rows, table.num_rows + len(malformed), malformed)


@dataclass
class ParquetBatch:
    """Rows decoded from a Parquet file, still as Arrow (cheap to pass to a worker process)."""
    batch: pa.RecordBatch
    fraction: float  # share of the file's rows read once this batch is
    mapping: ColumnMapping | None = None
    notes: Counter = field(default_factory=Counter)

    def read(self) -> RawChunk:
        n = self.batch.num_rows
        return RawChunk(mapped(self.batch.to_pandas(), self.mapping), np.arange(n, dtype=np.int64), n, [],
                        self.notes)


def mapped(frame: pd.DataFrame, mapping: ColumnMapping | None) -> pd.DataFrame:
    """Raw cells with the bank's headers mapped to our fields (unchanged without a mapping)."""
    return frame if mapping is None else mapping.apply(frame)


def _safe_cut(block: bytes) -> int:
    """Length of the longest prefix ending with a line break outside quotes (0 if none).

    Inside a quoted field quotes come in pairs, so a line break ends a record exactly when the
    number of quote characters before it is even (0x22 and 0x0A never occur inside a GBK character).
    """
    total, after, end = block.count(b'"'), 0, len(block)
    while (i := block.rfind(b"\n", 0, end)) >= 0:
        after += block.count(b'"', i, end)
        if (total - after) % 2 == 0:
            return i + 1
        end = i
    return 0


def csv_header_bytes(path: Path) -> bytes:
    """The first line of a CSV file, line break included."""
    with open(path, "rb") as fh:
        return fh.readline()


def csv_block_bounds(path: Path, block_bytes: int, start: int | None = None,
                     stop: int | None = None) -> Iterator[tuple[int, int]]:
    """Byte ranges of whole records (never splitting a quoted line break) covering [start, stop) of the data."""
    header = csv_header_bytes(path)
    pos = len(header) if start is None else start
    stop = os.path.getsize(path) if stop is None else stop
    with open(path, "rb") as fh:
        size = block_bytes
        while pos < stop:
            fh.seek(pos)
            block = fh.read(min(size, stop - pos))
            if pos + len(block) >= stop:
                yield pos, stop
                return
            cut = _safe_cut(block)
            if cut == 0:  # one record longer than the block: look further
                size *= 2
                continue
            yield pos, pos + cut
            pos, size = pos + cut, block_bytes


def csv_blocks(path: Path, encoding: str | None = None, block_bytes: int | None = None,
               start: int | None = None, stop: int | None = None) -> Iterator[CsvBlock]:
    """A CSV file (or the records in [start, stop)) as blocks of whole records with the header line prepended."""
    enc = check_encoding(encoding) if encoding else detect_encoding(path)
    header = csv_header_bytes(path)
    if not header.strip(b"\xef\xbb\xbf\r\n\t ,"):
        raise InputError(f"{path}: empty file or no header line")
    size = os.path.getsize(path) or 1
    for a, b in csv_block_bounds(path, block_bytes or CSV_BLOCK_BYTES, start, stop):
        yield CsvBlock(header, enc, str(path), a, b, b / size)


def xlsx_batches(path: Path, sheet: str | None = None, mapping: ColumnMapping | None = None,
                 rows_per_batch: int = XLSX_BATCH_ROWS) -> Iterator[ParquetBatch]:
    """An Excel sheet in batches of text cells (read in this process: a workbook is one zip stream)."""
    table = _opened_xlsx(path, sheet, keep=False)
    if mapping is not None:
        mapping.check_headers(table.headers)
    total = max(table.height, 1)
    done = 0
    try:
        for batch, notes in table.batches(rows_per_batch):
            done += batch.num_rows
            yield ParquetBatch(batch, min(done / total, 1.0), mapping, notes)
    except XlsxError as exc:
        raise InputError(f"{path}: {exc}") from exc


_OPENED: dict[tuple[str, str | None], Any] = {}  # one sheet opened for its headers, kept for its rows


def _opened_xlsx(path: Path, sheet: str | None, keep: bool) -> Any:
    """An opened sheet; the one `input_columns` opened is reused by `xlsx_batches` (a workbook is parsed
    whole when opened, so opening it once matters for a big register)."""
    key = (str(path), sheet)
    table = _OPENED.pop(key, None)
    if table is None:
        _OPENED.clear()
        try:
            table = open_xlsx(path, sheet)
        except XlsxError as exc:
            raise InputError(str(exc)) from exc
    if keep:
        _OPENED[key] = table
    return table


def read_xlsx_frame(source: Path | str | Any, sheet: str | None = None,
                    mapping: ColumnMapping | None = None) -> tuple[pd.DataFrame, Counter]:
    """A whole sheet as a frame of text cells, and what reading it did (title rows skipped, totals dropped)."""
    try:
        table = open_xlsx(source, sheet)
        if mapping is not None:
            mapping.check_headers(table.headers)
        parts = list(table.batches())
    except XlsxError as exc:
        raise InputError(str(exc)) from exc
    notes = sum((n for _, n in parts), Counter())
    frame = pa.Table.from_batches([b for b, _ in parts]).to_pandas()
    return mapped(frame, mapping), notes


def read_upload(data: bytes, mapping: ColumnMapping | None = None, sheet: str | None = None,
                read_csv: Any = None) -> tuple[pd.DataFrame, Counter]:
    """An uploaded file (CSV text or .xlsx bytes) as raw text cells with the mapping applied.

    `read_csv(bytes) -> DataFrame` reads CSV uploads (the service's own reader); Excel is read here.
    """
    if looks_like_xlsx(data):
        return read_xlsx_frame(io.BytesIO(data), sheet, mapping)
    frame = read_csv(data)
    if mapping is not None:
        mapping.check_headers([str(c) for c in frame.columns])
    return mapped(frame, mapping), Counter()


def sample_rows(path: Path, rows: int = 200, encoding: str | None = None, sheet: str | None = None) -> pd.DataFrame:
    """The first rows of a CSV, Parquet or Excel file as text cells (for `map suggest`)."""
    if is_xlsx(path):
        try:
            table = open_xlsx(path, sheet)
            return next(table.batches(rows))[0].to_pandas()
        except XlsxError as exc:
            raise InputError(str(exc)) from exc
    if is_parquet(path):
        return pq.ParquetFile(path).read_row_group(0).slice(0, rows).to_pandas().astype(str)
    enc = check_encoding(encoding) if encoding else detect_encoding(path)
    try:
        return pd.read_csv(path, encoding=enc, dtype=str, nrows=rows, keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from exc


def parquet_batches(path: Path, row_groups: list[int] | None = None) -> Iterator[ParquetBatch]:
    """A Parquet file (or some of its row groups) in batches of PARQUET_BATCH_ROWS."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    groups = list(range(pf.num_row_groups)) if row_groups is None else row_groups
    total = sum(pf.metadata.row_group(g).num_rows for g in groups) or 1
    done = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=groups):
        done += batch.num_rows
        yield ParquetBatch(batch, done / total)


def input_columns(path: Path, encoding: str | None = None, mapping: ColumnMapping | None = None,
                  sheet: str | None = None) -> list[str]:
    """The column names of a CSV (header line), Parquet or Excel file, mapped to our fields by `mapping`."""
    names = _raw_columns(path, encoding, sheet)
    if mapping is not None:
        mapping.check_headers(names)
        return mapping.rename(names)
    return names


def _raw_columns(path: Path, encoding: str | None, sheet: str | None) -> list[str]:
    if is_xlsx(path):
        return _opened_xlsx(path, sheet, keep=True).headers
    if is_parquet(path):
        return pq.ParquetFile(path).schema_arrow.names
    enc = check_encoding(encoding) if encoding else detect_encoding(path)
    raw = csv_header_bytes(path)
    if b"\0" in raw:  # UTF-16 or a binary file: no bank export we read has NUL bytes
        raise InputError(f"{path}: 表头含 NUL 字节，不是 UTF-8 或 GBK 文本 CSV / the header line has NUL bytes: "
                         "not a UTF-8 or GBK text CSV file")
    try:
        return unique_header(next(csv.reader([raw.decode(enc).lstrip("\ufeff").rstrip("\r\n")]), []), path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the header line is not {enc} text; pass --encoding") from exc
    except csv.Error as exc:  # e.g. a header cell above the csv module's field limit (128 KB)
        raise InputError(f"{path}: 表头无法按 CSV 读取 / the header line cannot be read as CSV: {exc}") from exc


def unique_header(names: list[str], where: object) -> list[str]:
    """The header's names, or InputError when one repeats (its cells could not be told apart)."""
    seen: set[str] = set()
    repeated = list(dict.fromkeys(n for n in names if n in seen or seen.add(n)))  # type: ignore[func-returns-value]
    if repeated:
        raise InputError(f"{where}: 表头列名重复 / the header repeats column names: {', '.join(repeated)[:200]}")
    return names


def file_pieces(path: Path, encoding: str | None = None, mapping: ColumnMapping | None = None,
                sheet: str | None = None) -> Iterator[CsvBlock | ParquetBatch]:
    """One input file as pieces to read (CSV blocks, Parquet or Excel batches), in order, the mapping applied."""
    if is_xlsx(path):
        return xlsx_batches(path, sheet, mapping)
    if mapping is not None:
        mapping.check_headers(_raw_columns(path, encoding, sheet))
    if is_parquet(path):
        return (ParquetBatch(b.batch, b.fraction, mapping) for b in parquet_batches(path))
    return (CsvBlock(b.header, b.encoding, b.name, b.start, b.stop, b.fraction, mapping)
            for b in csv_blocks(path, encoding))
