"""Read raw profile tables (CSV in the encodings banks export, or Parquet): whole, or streamed in chunks."""
from __future__ import annotations

import codecs
import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.schema import FIELD_SPECS

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
TABLE_SUFFIXES = (".csv", ".txt") + PARQUET_SUFFIXES
CSV_BLOCK_BYTES = 8 << 20  # ≈ 20k profile rows per chunk: big enough to amortise, small enough to stay flat
PARQUET_BATCH_ROWS = 20_000
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
    """A whole CSV or Parquet file as a DataFrame of raw profiles."""
    path = Path(path)
    if is_parquet(path):
        return pd.read_parquet(path)
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
                       and not p.name.startswith((".", "_")))
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file())
    if not files:
        raise InputError(f"no CSV or Parquet input at {spec}")
    return files


def check_encoding(encoding: str) -> str:
    """Normalised codec name, or InputError for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r} (try utf-8, utf-8-sig, gbk or gb18030)") from None


@dataclass
class RawChunk:
    """Raw cells of consecutive input rows, as read, and each row's 0-based position in the input."""
    frame: pd.DataFrame
    rows: np.ndarray  # int64


@dataclass
class MalformedRow:
    """A CSV line whose number of cells differs from the header's (skipped by the parser)."""
    row: int  # 0-based data-row position (from the physical line number)
    text: str
    expected: int
    actual: int


class _Positions:
    """Maps the n-th parsed row to its position in the input, counting the malformed rows the parser skipped."""

    def __init__(self) -> None:
        self.skipped: list[int] = []

    def of(self, parsed: np.ndarray) -> np.ndarray:
        if not self.skipped:
            return parsed
        skipped = np.asarray(self.skipped, dtype=np.int64)
        adj = skipped - np.arange(len(skipped))  # non-decreasing
        return parsed + np.searchsorted(adj, parsed, side="right")


class TableStream:
    """One CSV or Parquet source read in chunks; `base_row` offsets the reported row positions."""

    def __init__(self, source: Path | str | bytes, *, parquet: bool | None = None, encoding: str | None = None,
                 base_row: int = 0, block_bytes: int | None = None, name: str | None = None,
                 row_groups: list[int] | None = None):
        self.source = source
        self.name = name or str(source if not isinstance(source, bytes) else "<bytes>")
        self.parquet = is_parquet(source) if parquet is None else parquet
        self.encoding = encoding
        self.base_row = base_row
        self.block_bytes = block_bytes or CSV_BLOCK_BYTES
        self.row_groups = row_groups  # Parquet: read only these row groups
        self.rows_read = 0  # rows yielded + malformed rows skipped
        self.malformed: list[MalformedRow] = []
        self._file: pa.NativeFile | None = None
        self._total_rows: int | None = None
        self.size = len(source) if isinstance(source, bytes) else os.path.getsize(source)

    def fraction_done(self) -> float:
        """Share of the source consumed so far (bytes for CSV, rows for Parquet)."""
        if self.parquet:
            total = self._total_rows or 1
            return min(1.0, self.rows_read / total)
        return min(1.0, self._file.tell() / self.size) if self._file is not None and self.size else 0.0

    def __iter__(self) -> Iterator[RawChunk]:
        return self._parquet_chunks() if self.parquet else self._csv_chunks()

    # -- Parquet --------------------------------------------------------------------------
    def _parquet_chunks(self) -> Iterator[RawChunk]:
        src = pa.BufferReader(self.source) if isinstance(self.source, bytes) else self.source
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.name}: not a readable Parquet file ({exc})") from exc
        groups = range(pf.num_row_groups) if self.row_groups is None else self.row_groups
        self._total_rows = sum(pf.metadata.row_group(g).num_rows for g in groups)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=list(groups)):
            start = self.rows_read
            self.rows_read += batch.num_rows
            yield RawChunk(batch.to_pandas(), self.base_row + np.arange(start, self.rows_read, dtype=np.int64))

    # -- CSV ------------------------------------------------------------------------------
    def _header(self, encoding: str) -> list[str]:
        """Header cells of the first line."""
        if isinstance(self.source, bytes):
            head = self.source[: 1 << 20]
        else:
            with open(self.source, "rb") as fh:
                head = fh.read(1 << 20)
        line = head.split(b"\n", 1)[0]
        try:
            text = line.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.name}: header is not {encoding} text; pass --encoding") from exc
        return next(csv.reader([text.rstrip("\r")]), [])

    def _csv_chunks(self) -> Iterator[RawChunk]:
        if self.encoding:
            enc = check_encoding(self.encoding)
        elif isinstance(self.source, bytes):
            enc = "utf-8-sig" if _decodes(self.source) else "gb18030"
        else:
            enc = detect_encoding(Path(self.source))
        header = self._header(enc)
        if not any(h.strip() for h in header):
            raise InputError(f"{self.name}: empty file or no header line")
        positions = _Positions()

        def on_malformed(row: pacsv.InvalidRow) -> str:
            pos = self.rows_read + len(positions.skipped) if row.number is None else row.number - 2
            positions.skipped.append(pos)
            self.malformed.append(MalformedRow(self.base_row + pos, row.text, row.expected_columns, row.actual_columns))
            return "skip"

        self._file = pa.BufferReader(self.source) if isinstance(self.source, bytes) else pa.OSFile(str(self.source))
        # The BOM is skipped by Arrow; 'utf-8-sig' is the same codec as far as Arrow is concerned.
        arrow_enc = "utf8" if enc in ("utf-8-sig", "utf_8_sig", "utf-8", "utf8") else enc
        try:
            reader = pacsv.open_csv(
                self._file,
                read_options=pacsv.ReadOptions(block_size=self.block_bytes, use_threads=False, encoding=arrow_enc),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_malformed),
                # every cell as text, only empty cells missing: the validator coerces by field kind
                convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                     null_values=[""], strings_can_be_null=True,
                                                     quoted_strings_can_be_null=True),
            )
            parsed = 0
            for batch in reader:
                rows = positions.of(np.arange(parsed, parsed + batch.num_rows, dtype=np.int64))
                parsed += batch.num_rows
                self.rows_read = parsed + len(positions.skipped)
                yield RawChunk(batch.to_pandas(), self.base_row + rows)
            self.rows_read = parsed + len(positions.skipped)
        except pa.ArrowInvalid as exc:
            hint = "; the file is not in the detected encoding, pass --encoding" if "UTF8" in str(exc) else ""
            raise InputError(f"{self.name}: cannot read CSV after row {self.base_row + self.rows_read}: {exc}{hint}") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.name}: bytes not valid {enc} after row {self.base_row + self.rows_read}; pass --encoding") from exc
        finally:
            self._file.close()


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def iter_tables(spec: Path | str, encoding: str | None = None) -> Iterator[TableStream]:
    """Streams over every file of `spec` (file, folder or glob), rows numbered across files in order."""
    base = 0
    for path in input_files(spec):
        stream = TableStream(path, encoding=encoding, base_row=base)
        yield stream
        base += stream.rows_read


def csv_header_bytes(path: Path) -> bytes:
    """The first line of a CSV file, newline included (prepended to byte ranges read elsewhere)."""
    with open(path, "rb") as fh:
        return fh.readline()


def read_csv_range(path: Path, start: int, end: int) -> bytes:
    """Header + the whole lines that begin in [start, end) of a CSV file (byte-range partitioning)."""
    header = csv_header_bytes(path)
    start = max(start, len(header))
    with open(path, "rb") as fh:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":  # mid-line: the line belongs to the previous range
            fh.readline()
        first = fh.tell()
        if first >= end:
            return header
        fh.seek(end - 1)
        if fh.read(1) != b"\n":
            fh.readline()
        last = fh.tell()
        fh.seek(first)
        return header + fh.read(last - first)
