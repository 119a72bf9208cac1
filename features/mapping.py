"""A bank's own column headers: the mapping file (their column → our field, with an optional unit),
applying it to raw cells, and suggesting one from a file's headers and sample values.

Mapping file (YAML)::

    columns:
      统一社会信用代码: firm_id
      营业收入（元）: {field: revenue_y0, unit: 元}     # cells without a unit are read in 元
      前五大客户占比(%): {field: top5_customer_share, unit: "%"}

A column the mapping does not name keeps its header (our names and Chinese labels are always
understood; anything else is carried through as an extra column). A unit is applied by giving each
cell that carries none the column's unit, so the field kind (features/kinds.py) converts it and
counts it like any `6800万` typed in a cell.
"""
from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from features import kinds
from features.schema import FIELD_SPECS, uscc_valid_mask

# Wordings banks' systems use for our fields (besides our names, Chinese labels and English labels).
# Compared after folding full-width forms, case, spaces and a unit in brackets (see `header_key`).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "firm_id": ("统一社会信用代码证号", "社会信用代码", "信用代码", "USCC", "Credit code"),
    "name": ("企业全称", "客户名称", "借款人名称", "Customer name"),
    "region_code": ("所在地区代码", "区划代码"),
    "industry_code": ("行业代码", "所属行业代码"),
    "founded_on": ("注册日期", "成立时间", "Founded"),
    "as_of": ("数据日期", "报表日期", "Data date"),
    "revenue_y0": ("营业收入", "营业收入(本年)", "本年营业收入", "营业总收入", "Revenue FY2024", "Revenue"),
    "revenue_y1": ("营业收入(去年)", "上年营业收入", "Revenue FY2023"),
    "revenue_y2": ("营业收入(前两年)", "前年营业收入", "Revenue FY2022"),
    "cost_of_sales_y0": ("营业成本", "本年营业成本", "Cost of sales"),
    "net_profit_y0": ("净利润", "本年净利润", "Net profit"),
    "total_assets": ("资产合计", "总资产", "Total assets"),
    "total_liabilities": ("负债合计", "总负债"),
    "net_assets_y0": ("净资产", "所有者权益合计", "Net assets"),
    "cash": ("现金及现金等价物", "货币资金余额"),
    "operating_cash_flow_y0": ("经营性现金流净额", "经营现金流"),
    "rd_expense_y0": ("研发费用合计", "研发费用", "本年研发费用", "研发投入", "R&D expense"),
    "rd_expense_y1": ("上年研发费用", "研发费用(去年)"),
    "rd_expense_y2": ("前年研发费用",),
    "top5_customer_share": ("前五大客户占比", "前五名客户销售占比", "客户集中度"),
    "staff_total": ("员工人数", "从业人数", "职工人数", "Employees"),
    "rd_staff": ("研发人员", "研发人员数量"),
    "key_staff_turnover_12m": ("核心人员流失率", "核心员工流失率"),
    "invention_patents_granted": ("发明专利", "已授权发明专利", "发明专利数"),
    "software_copyrights": ("软件著作权", "软著数量"),
    "qualification_tier": ("企业资质", "资质等级", "认定资质"),
    "registered_capital": ("注册资本金",),
    "paid_in_capital": ("实收资本", "实缴资本金"),
    "latest_round": ("融资轮次", "最新融资轮次"),
    "latest_round_date": ("最近一次融资日期", "融资日期"),
    "tax_grade": ("纳税等级", "纳税信用评级", "税务等级"),
    "current_overdue": ("是否逾期", "当前逾期"),
    "worst_loan_class": ("五级分类", "最差五级分类", "贷款五级分类"),
    "enforcement_listed": ("是否被执行人", "失信被执行人"),
    "requested_amount": ("申请额度", "申请贷款金额", "Loan amount"),
    "tenor_months": ("申请期限", "贷款期限(月)"),
    "security_type": ("担保类型", "担保方式(贷款)"),
}
assert set(HEADER_ALIASES) <= set(FIELD_SPECS), "aliases must name schema fields"

_UNIT_IN_BRACKETS = re.compile(r"[(\[]\s*(?:单位[:：]?\s*)?(%|‰|万元|千元|亿元|元|万|亿|人|件|项|次|天|月|年|家|个)\s*[)\]]$")
PLACE_AT = 0.8  # fuzzy header similarity needed to place a column


class MappingError(ValueError):
    """The mapping file is unreadable or names something that does not exist."""


def header_key(text: str) -> tuple[str, str | None]:
    """(comparable header text, unit in brackets or None): full-width folded, lower case, no spaces."""
    t = _plain(text)
    unit = None
    while (m := _UNIT_IN_BRACKETS.search(t)) is not None:  # 申请期限(月)（月）: every unit bracket at the end
        unit, t = unit or m.group(1), t[: m.start()].rstrip()
    t = re.sub(r"[\s_]+", "", t.lower()).replace("【", "(").replace("】", ")")
    return t, unit


# ------------------------------------------------------------------------------------------
# The mapping file
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnMapping:
    """Their header → (our field, unit of cells that carry none, or None)."""
    columns: dict[str, tuple[str, str | None]]
    text: str = ""  # the file as given (recorded with an upload)

    def rename(self, headers: list[str]) -> list[str]:
        """Headers with mapped ones replaced by our field names (matched after trimming and NFKC)."""
        by_key = {_plain(h): f for h, (f, _) in self.columns.items()}
        return [by_key.get(_plain(h), h) for h in headers]

    def check_headers(self, headers: list[str]) -> None:
        """Every column the mapping names must be in the file (a stale mapping is an error, not a guess)."""
        have = {_plain(h) for h in headers}
        missing = [h for h in self.columns if _plain(h) not in have]
        if missing:
            raise MappingError(f"the mapping names column(s) {', '.join(map(repr, missing))} which the file does "
                               f"not have / 映射文件中的列在文件中不存在")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rename mapped columns and give unit-less cells of unit columns the column's unit."""
        units = {f: u for f, u in self.columns.values() if u and kinds.unit_factor(FIELD_SPECS[f].unit, u) != 1.0}
        out = frame.set_axis(self.rename([str(c) for c in frame.columns]), axis=1)
        for f, unit in units.items():
            if f in out.columns:
                out[f] = with_unit(out[f], unit)
        return out


def _plain(h: str) -> str:
    return unicodedata.normalize("NFKC", str(h)).replace("\ufeff", "").strip()


def with_unit(col: pd.Series, unit: str) -> pd.Series:
    """Cells that carry no unit of their own get `unit` appended (blank cells stay blank)."""
    arr = kinds.arrow_text(col)
    if arr is None:  # text cells as read from a file are Arrow already; anything else via str
        arr = pa.array(col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v)),
                       pa.string())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    arr = arr.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    keep = pc.or_kleene(pc.equal(trimmed, ""), pc.match_substring_regex(trimmed, r"[%‰元万亿人件项次天月年家个]$"))
    out = pc.if_else(pc.fill_null(keep, True), arr, pc.binary_join_element_wise(trimmed, unit, ""))
    return pd.Series(pd.arrays.ArrowStringArray(out), index=col.index, name=col.name)


def parse_mapping(text: str, source: str = "mapping") -> ColumnMapping:
    """A mapping from its YAML text; MappingError naming the entry when something is wrong."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{source}: not valid YAML ({exc})") from exc
    entries = doc.get("columns", doc) if isinstance(doc, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise MappingError(f"{source}: expected `columns:` with their column → our field entries")
    columns: dict[str, tuple[str, str | None]] = {}
    for header, target in entries.items():
        fld, unit = (target.get("field"), target.get("unit")) if isinstance(target, dict) else (target, None)
        if fld not in FIELD_SPECS:
            raise MappingError(f"{source}: column {header!r} maps to {fld!r}, which is not a field "
                               f"(see `techscore map suggest` or the schema)")
        unit = None if unit in (None, "") else str(unit)
        if unit is not None and kinds.unit_factor(FIELD_SPECS[fld].unit, unit) is None:
            raise MappingError(f"{source}: unit {unit!r} of column {header!r} does not fit field {fld} "
                               f"(unit {FIELD_SPECS[fld].unit or 'none'})")
        columns[str(header)] = (fld, unit)
    dup = [f for f in {f for f, _ in columns.values()} if sum(1 for g, _ in columns.values() if g == f) > 1]
    if dup:
        raise MappingError(f"{source}: field {dup[0]} is mapped from more than one column")
    return ColumnMapping(columns, text)


def load_mapping(path: Path | str) -> ColumnMapping:
    """Read a mapping file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc})") from exc
    return parse_mapping(text, str(path))


# ------------------------------------------------------------------------------------------
# Suggesting a mapping
# ------------------------------------------------------------------------------------------
@dataclass
class ColumnGuess:
    """Where one of the file's columns goes, how sure we are, and why."""
    header: str
    field: str | None
    unit: str | None
    confidence: float
    reason: str
    alternatives: list[str] = field(default_factory=list)


def _candidates() -> dict[str, str]:
    """Every known header text (as `header_key`) → field."""
    out: dict[str, str] = {}
    for name, spec in FIELD_SPECS.items():
        for text in (name, spec.label_zh, spec.label_en, *HEADER_ALIASES.get(name, ())):
            out.setdefault(header_key(text)[0], name)
    return out


def _fit(values: pd.Series, fld: str, unit: str | None) -> float:
    """Share of the sample's present cells the field's kind accepts (1.0 when none are present)."""
    spec = FIELD_SPECS[fld]
    s = values.dropna().astype(str)
    s = s[s.str.strip() != ""]
    if s.empty:
        return 1.0
    s = pd.Series(pd.arrays.ArrowStringArray(pa.array(s.tolist(), pa.string())))
    if unit and kinds.unit_factor(spec.unit, unit) not in (None, 1.0):
        s = with_unit(s, unit)
    if spec.kind == "text":
        return float(uscc_valid_mask(s.astype(object)).mean()) if fld == "firm_id" else 1.0
    _, rules, _ = kinds.COLUMN_PARSERS[spec.kind](s, spec)
    return 1.0 - float(np.logical_or.reduce(list(rules.values())).mean())


def _guess(header: str, values: pd.Series, known: dict[str, str]) -> ColumnGuess:
    key, unit = header_key(header)
    if key in known:
        fld = known[key]
        how = "our name" if key == fld else ("Chinese label" if header_key(FIELD_SPECS[fld].label_zh)[0] == key
                                             else "label/alias")
        conf, reason = 1.0, how
    else:
        scored = sorted(((difflib.SequenceMatcher(None, key, k).ratio(), f) for k, f in known.items()), reverse=True)
        best, fld = scored[0]
        runner = next((r for r, f in scored if f != fld), 0.0)
        alts = list(dict.fromkeys(f for _, f in scored[:6]))[:3]
        if best < PLACE_AT or best - runner < 0.05:
            by_value = _by_values(values)
            if by_value:
                return ColumnGuess(header, by_value, None, 0.9, "sample values are valid USCCs")
            return ColumnGuess(header, None, unit, best, f"no field matches well (best {best:.2f})", alts)
        conf, reason = best, f"similar to {fld} ({best:.2f})"
    if unit is not None and kinds.unit_factor(FIELD_SPECS[fld].unit, unit) is None:
        unit = None  # a bracket that is not a unit this field can take (e.g. 年 in a label)
    if unit == "%" and _max_number(values) <= 1.0:
        reason += "; header says % but the values look like shares: no unit applied, check"
        conf *= 0.9
        unit = None
    fit = _fit(values, fld, unit)
    if fit < 0.9:
        conf *= fit
        reason += f"; only {fit:.0%} of sample values fit {FIELD_SPECS[fld].kind}"
    if unit:
        reason += f"; unit {unit} from the header"
    return ColumnGuess(header, fld, unit, round(conf, 3), reason)


def _max_number(values: pd.Series) -> float:
    v = pd.to_numeric(values, errors="coerce")
    return float(v.max()) if v.notna().any() else np.inf


def _by_values(values: pd.Series) -> str | None:
    """A column recognised by its values alone (USCCs)."""
    s = values.dropna().astype(str).str.strip()
    s = s[s != ""]
    return "firm_id" if len(s) and uscc_valid_mask(s).mean() >= 0.9 else None


def suggest_mapping(sample: pd.DataFrame) -> list[ColumnGuess]:
    """A guess per column of `sample` (headers and a few hundred rows of text cells); when two
    columns go to one field, the more certain keeps it and the other is left unplaced."""
    known = _candidates()
    guesses = [_guess(str(h), sample.iloc[:, j], known) for j, h in enumerate(sample.columns)]
    best: dict[str, ColumnGuess] = {}
    for g in guesses:
        if g.field is None:
            continue
        other = best.get(g.field)
        if other is None or g.confidence > other.confidence:
            if other is not None:
                _unplace(other, g)
            best[g.field] = g
        else:
            _unplace(g, other)
    return guesses


def _unplace(loser: ColumnGuess, winner: ColumnGuess) -> None:
    loser.alternatives = [loser.field or ""]
    loser.reason = f"also looks like {loser.field}, which column {winner.header!r} matches better"
    loser.field, loser.confidence = None, 0.0


def mapping_yaml(guesses: list[ColumnGuess], source: str = "") -> str:
    """The suggestion as a mapping file, confidence and reason beside each line, unplaced columns listed."""
    lines = [f"# Column mapping suggested by `techscore map suggest {source}`: review it before use.",
             "# their column: our field   (or {field: ..., unit: ...} when cells need a unit)", "columns:"]
    for g in guesses:
        if g.field is None:
            continue
        target = g.field if not g.unit else "{field: %s, unit: %s}" % (g.field, json.dumps(g.unit, ensure_ascii=False))
        lines.append(f"  {json.dumps(g.header, ensure_ascii=False)}: {target}   # {g.confidence:.2f} {g.reason}")
    unplaced = [g for g in guesses if g.field is None]
    if unplaced:
        lines.append("# Not placed (add a line above if one of them is a field; else they are carried through):")
        lines += [f"#   {json.dumps(g.header, ensure_ascii=False)}: {g.reason}"
                  + (f"; candidates {', '.join(g.alternatives)}" if g.alternatives else "") for g in unplaced]
    return "\n".join(lines) + "\n"


def mapping_of(guesses: list[ColumnGuess]) -> ColumnMapping:
    """The placed guesses as a ColumnMapping (what scoring with the suggestion unreviewed would use)."""
    return parse_mapping(mapping_yaml(guesses))

