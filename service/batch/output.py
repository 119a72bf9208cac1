"""Output files that appear whole or not at all, and CSV/Parquet table sinks written chunk by chunk."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# OWASP "CSV injection": a cell starting with one of these is run as a formula by spreadsheets, also
# in their full-width (＝＋－＠) and small (﹦﹢﹣﹫) forms, which spreadsheet input methods fold to ASCII,
# and after leading white space (spaces, NBSP, the ideographic space, BOM, zero-width space) that
# spreadsheets trim; a cell starting with a tab or CR is neutralised whatever follows.
_FORMULA_CHARS = "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b"
_LEADING_SPACE = (" \t\n\v\f\r\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\u200b\ufeff"
                  + "".join(map(chr, range(0x2000, 0x200B))))
FORMULA_FIRST_CHARS = pa.array(sorted(set(_FORMULA_CHARS + _LEADING_SPACE)))  # cheap pre-check on the first char
_FORMULA = (r"^[\t\r]|^[\p{Z}\t\n\v\f\r\x{200B}\x{FEFF}]*"
            r"[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}\x{FE66}\x{FE62}\x{FE63}\x{FE6B}]")
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # "-5" is a number to a spreadsheet, not a formula
FORMATS = ("csv", "parquet")


def format_of(path: Path, fmt: str | None = None) -> str:
    """'csv' or 'parquet': the explicit choice, else by extension (CSV unless .parquet/.pq)."""
    if fmt:
        if fmt.lower() not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}: choose csv or parquet")
        return fmt.lower()
    return "parquet" if Path(path).suffix.lower() in (".parquet", ".pq") else "csv"


class AtomicFile:
    """A file that becomes visible at `path` only on commit().

    On Linux it is written as an anonymous O_TMPFILE in the target directory and linked in at the end,
    so even a SIGKILLed run leaves nothing behind; elsewhere a hidden temp file is removed on failure.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp: Path | None = None
        try:
            fd = os.open(self.path.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            self._tmp = Path(tmp)
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=1 << 20)

    def write_behind(self) -> None:
        """Start writing what the file holds so far to disk, without waiting, and let the kernel drop those
        pages once written: the final fsync then has little left to wait for, and a big output does not
        crowd the page cache."""
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def commit(self) -> Path:
        """Flush to disk and rename into place (replacing an older file of the same name)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        if self._tmp is None:
            self._tmp = Path(tempfile.mktemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"))
            try:
                _link_anonymous(self.file.fileno(), self._tmp)
            except OSError:  # no /proc: copy the anonymous file out
                with open(self._tmp, "wb") as dst, open(f"/dev/fd/{self.file.fileno()}", "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        else:
            os.chmod(self._tmp, 0o644)
        self.file.close()
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def discard(self) -> None:
        """Drop what was written; the target path is left untouched."""
        if not self.file.closed:
            self.file.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()  # no-op after commit()


def _link_anonymous(fd: int, path: Path) -> None:
    """Give an O_TMPFILE file a name. Only linkat(2) with AT_SYMLINK_FOLLOW resolves /proc/self/fd/N to the
    file itself (plain link(2) tries to link the /proc entry and fails with EXDEV); Python uses linkat
    only when a directory descriptor is passed."""
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Prefix a single quote to text cells a spreadsheet would run as a formula; numeric columns untouched."""
    for i, field in enumerate(table.schema):
        if not pa.types.is_string(field.type):
            continue
        col = table.column(i)
        starts = pc.is_in(pc.utf8_slice_codeunits(col, 0, 1), value_set=FORMULA_FIRST_CHARS)
        if not pc.any(starts).as_py():  # the usual case: the number test below is a regex
            continue
        risky = pc.and_kleene(pc.match_substring_regex(col, _FORMULA),
                              pc.invert(pc.match_substring_regex(col, _PLAIN_NUMBER)))
        if pc.any(risky).as_py():
            fixed = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
            table = table.set_column(i, field, fixed)
    return table


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A result frame as an Arrow table of `schema` (no index, no pandas metadata: plain, stable bytes)."""
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).replace_schema_metadata(None)


def for_output(data: pd.DataFrame | pa.Table, schema: pa.Schema, fmt: str) -> pa.Table:
    """A result frame or table ready for a sink: Arrow of `schema`, and formula-safe when it goes to CSV."""
    table = to_arrow(data, schema) if isinstance(data, pd.DataFrame) else data.cast(schema)
    return neutralise_formulas(table) if fmt == "csv" else table


def csv_bytes(table: pa.Table, header: bool = False) -> bytes:
    """A table as UTF-8 CSV bytes (Arrow's writer): the same bytes however the rows are split into tables."""
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header))
    return buf.getvalue().to_pybytes()


class OrderedAppends:
    """Lets worker processes append encoded chunks to one shared file strictly in chunk order.

    Made before the workers are forked (they inherit the descriptor and the lock): each worker writes
    its own bytes, so the rows never travel back through the parent process. Tasks start in the order
    they were submitted and a failed one still passes its turn on, so a waiting worker never waits for
    a chunk that will not come.
    """

    def __init__(self, file: BinaryIO, context: Any):
        file.flush()  # what the parent wrote (the header) comes first
        self.fd = file.fileno()
        self._turn = context.Condition()
        self._next = context.RawValue("q", 0)  # the chunk whose turn it is

    def append(self, index: int, data: bytes) -> None:
        """Wait for chunk `index`'s turn, write `data` (possibly nothing) and pass the turn on."""
        with self._turn:
            self._turn.wait_for(lambda: self._next.value == index)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            self._next.value = index + 1
            self._turn.notify_all()


class TableSink:
    """Writes tables of one schema to a binary file as CSV (header once) or Parquet (a row group per write).

    CSV also takes rows already encoded by `csv_bytes` (e.g. by a worker process), written as they are.
    """

    def __init__(self, file: BinaryIO, schema: pa.Schema, fmt: str, *, header: bool = True):
        self.fmt, self.schema, self._file = fmt, schema, file
        self._writer = pq.ParquetWriter(file, schema, compression="zstd") if fmt == "parquet" else None
        if self._writer is None and header:
            file.write(csv_bytes(schema.empty_table(), header=True))

    def write(self, rows: pa.Table | bytes) -> None:
        """Append rows (already made formula-safe by `for_output` when CSV)."""
        if self._writer is not None:
            self._writer.write_table(rows)
        else:
            self._file.write(rows if isinstance(rows, bytes) else csv_bytes(rows))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
