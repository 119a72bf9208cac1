"""Read an Excel workbook (.xlsx) as the same text cells a CSV gives, in batches (python-calamine).

A register kept in Excel often has a title row above the headers, group headers merged across
columns, header cells merged down two rows, and a 合计 (total) row at the bottom. The header row is
the first row that is neither blank, nor a lone title, nor cut by a horizontal merge; a header cell
left empty by a vertical merge takes the merged cell's text; trailing total rows are dropped. Every
such step is counted (`notes`), and a column with data but no header is refused naming the cell.
Numbers come out as their shortest exact text (6800, 0.45), dates as ISO text, so the field kinds
(features/kinds.py) read an Excel cell and a CSV cell alike.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Iterator

import pyarrow as pa

XLSX_SUFFIXES = (".xlsx", ".xlsm")
XLSX_BATCH_ROWS = 10_000
_HEAD_ROWS = 20  # rows looked at to find the header
_TOTAL_WORDS = frozenset({"合计", "总计", "小计", "总合计", "合计数", "total", "totals", "sum", "grandtotal"})


class XlsxError(ValueError):
    """The workbook cannot be read as one table (file-level problem: the message names sheet and cell)."""


def is_xlsx(path: Path | str) -> bool:
    return Path(path).suffix.lower() in XLSX_SUFFIXES


def looks_like_xlsx(data: bytes) -> bool:
    """An upload's bytes are a zip container (xlsx), not text."""
    return data[:4] == b"PK\x03\x04"


def column_letter(j: int) -> str:
    """0 → A, 26 → AA (how Excel names a column)."""
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(65 + r) + out
    return out


def cell_text(v: Any) -> str | None:
    """One cell as the text a CSV export would hold; empty → None."""
    t = type(v)
    if t is str:
        return v if v.strip() else None
    if t is float:
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is datetime:
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if t is date:
        return v.isoformat()
    if t is timedelta or t is time:
        return str(v)
    return None if v is None else str(v)


def _is_total(row: list[Any]) -> bool:
    """A 合计 / Total row: its first non-empty cell says so."""
    for v in row:
        if v is not None and v != "":
            word = "".join(unicodedata.normalize("NFKC", str(v)).lower().split()).rstrip(":：")
            return word in _TOTAL_WORDS
    return False


def _blank(row: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


@dataclass
class XlsxTable:
    """A sheet opened for reading: its headers, and its data rows as batches of text columns."""
    headers: list[str]
    sheet: str
    rows: Iterator[list[Any]]
    width: int
    notes: Counter = field(default_factory=Counter)
    height: int = 0  # rows in the sheet (progress)

    def batches(self, rows_per_batch: int = XLSX_BATCH_ROWS) -> Iterator[tuple[pa.RecordBatch, Counter]]:
        """Data rows in batches of text columns; trailing total rows (and blank rows) dropped.

        Total-looking rows are held back until a data row follows them (then they are data, and the
        validator will say what is wrong with them) or the sheet ends (then they are dropped and counted).
        """
        buf: list[list[Any]] = []
        held: list[list[Any]] = []
        first = True
        for row in self.rows:
            if _blank(row) or _is_total(row):
                held.append(row)
                continue
            if held:
                buf.extend(h for h in held if not _blank(h))
                held = []
            buf.append(row)
            if len(buf) >= rows_per_batch:
                yield self._batch(buf), (self.notes if first else Counter())
                buf, first = [], False
        dropped = sum(1 for h in held if not _blank(h))
        tail = Counter({"xlsx:total_rows_dropped": dropped}) if dropped else Counter()
        if buf or first:
            yield self._batch(buf), (self.notes + tail if first else tail)
        elif tail:
            yield self._batch([]), tail

    def _batch(self, rows: list[list[Any]]) -> pa.RecordBatch:
        n = len(self.headers)
        if self.width > n:  # cells right of the last header would be lost: refuse, naming the first
            for r in rows:
                extra = [j for j in range(n, len(r)) if cell_text(r[j]) is not None]
                if extra:
                    raise XlsxError(f"sheet {self.sheet!r}: column {column_letter(extra[0])} has data "
                                    f"({cell_text(r[extra[0]])!r}) but no header / 该列有数据但没有表头")
        cols = []
        for j in range(len(self.headers)):
            cols.append(pa.array([cell_text(r[j]) if j < len(r) else None for r in rows], pa.string()))
        return pa.RecordBatch.from_arrays(cols, names=self.headers)


def open_xlsx(source: Path | str | IO[bytes], sheet: str | None = None) -> XlsxTable:
    """Open the first sheet (or `sheet`, by name or 1-based number) and find its header row."""
    from python_calamine import CalamineError, load_workbook

    name = getattr(source, "name", None) or "upload"
    try:
        wb = load_workbook(source)
        names = wb.sheet_names
        if sheet is None:
            ws = wb.get_sheet_by_index(0)
        elif sheet in names:
            ws = wb.get_sheet_by_name(sheet)
        elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
            ws = wb.get_sheet_by_index(int(sheet) - 1)
        else:
            raise XlsxError(f"{name}: no sheet {sheet!r}; the workbook has {', '.join(map(repr, names))}")
        merged = ws.merged_cell_ranges or []
        rows = ws.iter_rows()
    except (CalamineError, OSError, ValueError) as exc:
        if isinstance(exc, XlsxError):
            raise
        raise XlsxError(f"{name}: not a readable .xlsx workbook ({exc})") from exc
    top, left = ws.start or (0, 0)
    head: list[list[Any]] = []
    for row in rows:
        head.append(row)
        if len(head) >= _HEAD_ROWS:
            break
    table = _table(head, rows, merged, (top, left), ws.name, name)
    table.height = int(ws.height or 0)
    return table


def _table(head: list[list[Any]], rest: Iterator[list[Any]], merged: list, origin: tuple[int, int],
           sheet: str, name: str) -> XlsxTable:
    """Locate the header row among the first rows; the rows after it are data."""
    top, left = origin
    across = {r0 - top for (r0, c0), (r1, c1) in merged if c1 > c0 for r0 in range(r0, r1 + 1)}
    width = max((len(r) for r in head), default=0)
    notes: Counter = Counter()
    for h, row in enumerate(head):
        filled = [j for j, v in enumerate(row) if cell_text(v) is not None]
        if not filled:
            continue
        if h in across or len(filled) == 1 and width > 1:
            notes["xlsx:title_rows_skipped"] += 1
            continue
        headers = _headers(row, h, head, merged, origin, sheet, name)
        data = iter(head[h + 1:])

        def chained() -> Iterator[list[Any]]:
            yield from data
            yield from rest
        return XlsxTable(headers, sheet, chained(), width, notes)
    raise XlsxError(f"{name}, sheet {sheet!r}: no header row in the first {_HEAD_ROWS} rows")


def _headers(row: list[Any], h: int, head: list[list[Any]], merged: list, origin: tuple[int, int],
             sheet: str, name: str) -> list[str]:
    """Header texts; a cell emptied by a vertical merge takes the merge's text; trailing empty columns cut."""
    top, left = origin
    out: list[str | None] = [cell_text(v) for v in row]
    for j, text in enumerate(out):
        if text is not None:
            continue
        for (r0, c0), (r1, c1) in merged:
            if r0 - top < h <= r1 - top and c0 - left <= j <= c1 - left:
                out[j] = cell_text(head[r0 - top][c0 - left])
                break
    while out and out[-1] is None:
        out.pop()
    missing = [j for j, t in enumerate(out) if t is None]
    if missing:
        cells = ", ".join(f"{column_letter(left + j)}{top + h + 1}" for j in missing)
        raise XlsxError(f"{name}, sheet {sheet!r}: header cell {cells} is empty (a merged header? give every "
                        f"column its own header) / 表头单元格 {cells} 为空")
    seen: Counter = Counter(out)
    dup = [t for t, k in seen.items() if k > 1]
    if dup:
        raise XlsxError(f"{name}, sheet {sheet!r}: header {dup[0]!r} appears {seen[dup[0]]} times / 表头重复")
    return [str(t).strip() for t in out]
