"""The generated firms written as a bank's systems export them (`techscore generate --style bank-export`).

Same firms as `training.synthetic.generate_detailed` (same seed, same values), but:

- headers are the bank's: our Chinese label, with the unit in brackets (full-width or not), a wording
  from `features.mapping.HEADER_ALIASES`, or the English label; a 序号 column first and a 备注 column last;
- amounts with thousands separators (`6,800.00`), some columns in 元 (header says so), one column
  with units in its cells (`6800万`, `0.68亿`, `68,000,000元`), negatives in accounting brackets;
- shares as percentages (`45.67%`, or a `(%)` header over `45.67`), counts with thousands separators,
  a few full-width digits;
- dates as `2021/3/5`, `2021年3月5日`, `20210305`, `2021.03.05` (Excel: real dates and serial numbers);
- yes/no as 是/否, Y/N, 有/无, √/×; enum values by their Chinese names;
- CSV in GBK with CRLF line ends; .xlsx with a merged title row, number and date formats and a
  trailing 合计 row.

`planted` lists every row that must be rejected, with field and rule: the generator's own corrupted
values (still wrong after formatting) plus day-first dates and comma decimals in share fields, which
are ambiguous and must never be guessed.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from features.enum_labels import VALUE_LABELS
from features.kinds import MONEY_UNIT, SHARE_UNIT, bool_value, enum_value
from features.mapping import HEADER_ALIASES
from features.schema import FIELD_NAMES, FIELD_SPECS
from features.validate import validate_frame
from training.synthetic import AS_OF_DEFAULT, LABEL_COLUMNS, generate_detailed

_BOOL_STYLES = (("是", "否"), ("Y", "N"), ("有", "无"), ("√", "×"), ("1", "0"))
_DATE_STYLES = ("%Y/%-m/%-d", "%Y年%-m月%-d日", "%Y%m%d", "%Y.%m.%d")
_FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
PLANTED_SHARE = 0.005  # extra rows with an ambiguous cell


@dataclass
class BankExport:
    """The export's cells (text, as the CSV holds them), its typed Excel cells, and what is known about it."""
    text: pd.DataFrame  # bank headers, text cells ('' for empty)
    excel: pd.DataFrame  # the same with numbers and dates typed, for .xlsx
    excel_formats: dict[str, str]  # header -> Excel number format
    headers: dict[str, str]  # our field -> their header (the truth `map suggest` is measured against)
    planted: pd.DataFrame  # row, field, rule, source: the rows that must be rejected

    @property
    def planted_rows(self) -> np.ndarray:
        return np.unique(self.planted["row"].to_numpy())


def _dec(v: float) -> Decimal:
    return Decimal(repr(float(v)))


def _plain(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros (68000000, 0.68)."""
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _money_text(v: float, style: str, rng: np.random.Generator) -> str:
    if style == "yuan":
        return f"{_dec(v) * 10000:,.2f}"
    if style == "units":
        unit = ("万", "亿", "元", "万元")[int(rng.integers(0, 4))]
        scale = {"万": 0, "万元": 0, "亿": -4, "元": 4}[unit]
        return _plain(_dec(v).scaleb(scale)) + unit
    if v < 0 and rng.random() < 0.5:
        return f"({-_dec(v):,.2f})"
    return f"{_dec(v):,.2f}"


def _cells(values: pd.Series, fld: str, style: str, rng: np.random.Generator) -> tuple[list, list]:
    """(CSV text, Excel value) per cell of one field in the column's style."""
    spec = FIELD_SPECS[fld]
    text, excel = [], []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT or v == "":
            text.append("")
            excel.append(None)
            continue
        t, x = _cell(v, spec, style, rng)
        text.append(t)
        excel.append(x)
    return text, excel


def _cell(v, spec, style: str, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    kind = spec.kind
    if kind == "number" and spec.unit == MONEY_UNIT:
        t = _money_text(float(v), style, rng)
        return t, (t if style == "units" else float(_dec(v) * (10000 if style == "yuan" else 1)))
    if kind == "number" and spec.unit == SHARE_UNIT:
        pct = _plain(_dec(v) * 100)
        return pct + "%", float(v)
    if kind in ("number", "integer"):
        f = float(v)
        t = f"{int(f):,}" if kind == "integer" and f.is_integer() else _plain(_dec(f))
        if style == "unit" and spec.unit:
            t += spec.unit
        if rng.random() < 0.01:
            t = t.translate(_FULL_WIDTH)
        return t, (f if style != "unit" and t.isascii() else t)
    if kind == "date":
        d = pd.Timestamp(v)
        if style == "iso":
            return d.strftime("%Y-%m-%d"), d.to_pydatetime()
        if style == "serial":
            serial = int((d - pd.Timestamp("1899-12-30")).days)
            return str(serial), serial
        t = d.strftime(style)
        return t, (d.to_pydatetime() if style == "%Y/%-m/%-d" else t)
    if kind == "bool":
        try:
            yes = bool_value(v)
        except ValueError:
            return str(v), str(v)
        t = _BOOL_STYLES[int(style)][0 if yes else 1]
        return t, t
    if kind == "enum":
        value = enum_value(str(v), spec.enum)
        t = VALUE_LABELS[value][0] if value in spec.enum else str(v)
        return t, t
    return str(v), str(v)


def _header_variants(fld: str, with_unit: bool = True) -> list[str]:
    spec = FIELD_SPECS[fld]
    out = [spec.label_zh, *HEADER_ALIASES.get(fld, ()), spec.label_en]
    if with_unit and spec.unit and spec.unit not in (SHARE_UNIT, "date") and not spec.label_zh.endswith(f"({spec.unit})"):
        out += [f"{spec.label_zh}（{spec.unit}）", f"{spec.label_zh}({spec.unit})"]
    return out


def _style(fld: str, rng: np.random.Generator) -> str:
    spec = FIELD_SPECS[fld]
    if spec.kind == "number" and spec.unit == MONEY_UNIT:
        return ("thousands", "thousands", "yuan", "units")[int(rng.integers(0, 4))]
    if spec.kind == "number" and spec.unit == SHARE_UNIT:
        return "pct_cell"
    if spec.kind == "integer":
        return "unit" if spec.unit == "人" and rng.random() < 0.3 else "plain"
    if spec.kind == "date":
        return (*_DATE_STYLES, "serial", "iso")[int(rng.integers(0, len(_DATE_STYLES) + 2))]
    if spec.kind == "bool":
        return str(int(rng.integers(0, len(_BOOL_STYLES))))
    return "plain"


def _header(fld: str, style: str, rng: np.random.Generator) -> str:
    spec = FIELD_SPECS[fld]
    if style == "yuan":
        return f"{spec.label_zh}（元）" if rng.random() < 0.5 else f"{spec.label_zh}(元)"
    if style == "unit":
        return spec.label_zh
    variants = _header_variants(fld, with_unit=style != "units")  # cells with units: no unit in the header
    return variants[int(rng.integers(0, len(variants)))]


def bank_export(rows: int, seed: int, as_of: date = AS_OF_DEFAULT) -> BankExport:
    """The generated firms (seed `seed`) formatted as a bank's export, with the rows that must be rejected."""
    syn = generate_detailed(rows, seed, as_of)
    raw = syn.frame.drop(columns=list(LABEL_COLUMNS))
    own = validate_frame(raw, as_of_default=as_of).rejects
    planted = own[["row", "field", "rule"]].assign(source="generator")
    rng = np.random.default_rng([seed, 18])
    text: dict[str, list] = {"序号": [str(i + 1) for i in range(rows)]}
    excel: dict[str, list] = {"序号": list(range(1, rows + 1))}
    formats: dict[str, str] = {}
    headers: dict[str, str] = {}
    for fld in FIELD_NAMES:
        style = _style(fld, rng)
        head = _header(fld, style, rng)
        headers[fld] = head
        text[head], excel[head] = _cells(raw[fld], fld, style, rng)
        formats[head] = _excel_format(fld, style)
    text["备注"] = excel["备注"] = [""] * rows
    extra = _plant_ambiguous(text, excel, headers, planted, rng, rows)
    planted = pd.concat([planted, extra], ignore_index=True).sort_values(["row", "field"], ignore_index=True)
    return BankExport(pd.DataFrame(text), pd.DataFrame(excel), formats, headers, planted)


def _excel_format(fld: str, style: str) -> str:
    spec = FIELD_SPECS[fld]
    if spec.kind == "number" and spec.unit == MONEY_UNIT and style != "units":
        return "#,##0.00"
    if spec.kind == "number" and spec.unit == SHARE_UNIT:
        return "0.00%"
    if spec.kind == "date" and style in ("iso", "%Y/%-m/%-d"):
        return "yyyy/m/d"
    return ""


def _plant_ambiguous(text: dict, excel: dict, headers: dict, planted: pd.DataFrame, rng: np.random.Generator,
                     rows: int) -> pd.DataFrame:
    """Day-first dates and comma decimals in share fields, in rows that are otherwise valid."""
    clean_rows = np.setdiff1d(np.arange(rows), planted["row"].to_numpy())
    k = max(2, int(round(rows * PLANTED_SHARE)))
    picked = rng.choice(clean_rows, size=min(k, len(clean_rows)), replace=False)
    out = []
    for i, r in enumerate(sorted(picked)):
        if i % 2 == 0:
            fld, rule = "founded_on", "ambiguous:date"
            cell = f"{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 13)):02d}/20{int(rng.integers(10, 20))}"
        else:
            fld, rule = "top5_customer_share", "ambiguous:separator"
            cell = f"0,{int(rng.integers(100, 999))}"
        head = headers[fld]
        text[head][r] = excel[head][r] = cell
        out.append((int(r), fld, rule, "ambiguous cell"))
    return pd.DataFrame(out, columns=["row", "field", "rule", "source"])


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------
def write_bank_export(export: BankExport, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write the export: `.xlsx` (merged title row, formats, 合计 row) or CSV (GBK, CRLF), atomically;
    its planted rows beside it as `<name>.planted.csv`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix.lower() == ".xlsx":
            _write_xlsx(export, Path(tmp), title or "科技型企业客户清单（导出）")
        else:
            data = export.text.to_csv(index=False, lineterminator="\r\n")
            Path(tmp).write_bytes(data.encode("gbk", errors="replace"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    export.planted.to_csv(path.with_name(path.stem + ".planted.csv"), index=False)
    return path


def _write_xlsx(export: BankExport, path: Path, title: str) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("客户清单")
    cols = list(export.excel.columns)
    ws.merge_range(0, 0, 0, len(cols) - 1, title, wb.add_format({"bold": True, "align": "center"}))
    ws.write_row(1, 0, cols)
    fmts = {h: wb.add_format({"num_format": f}) for h, f in export.excel_formats.items() if f}
    columns = [export.excel[c].tolist() for c in cols]
    for r in range(len(export.excel)):
        for j, c in enumerate(cols):
            v = columns[j][r]
            if v is None or v is pd.NaT or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v):
                continue
            fmt = fmts.get(c)
            if isinstance(v, str):
                ws.write_string(r + 2, j, v)
            elif hasattr(v, "year"):
                ws.write_datetime(r + 2, j, v, fmt)
            else:
                ws.write_number(r + 2, j, v, fmt)
    money = [j for j, c in enumerate(cols) if export.excel_formats.get(c) == "#,##0.00"]
    total_row = len(export.excel) + 2
    ws.write_string(total_row, 0, "合计")
    for j in money[:3]:
        ws.write_number(total_row, j, float(np.nansum([v for v in columns[j] if isinstance(v, float)])))
    wb.close()

