"""Field kinds own their input tolerance: what a number, integer, bool, enum, date or text cell may look
like, and how it becomes the clean value. The one home of these rules.

Every path uses it: the pydantic model's before-validators (features/schema.py, one value at a time),
the vectorised frame validator (features/validate.py, whole pandas/Arrow columns), and the generator
(training/synthetic.py). A column is parsed in two steps:

1. the *plain* form (what our own files hold: `6800`, `0.45`, `2021-03-05`, `1`/`true`/`是`, `hnte`)
   in one Arrow/numpy pass; untouched by normalisation, so clean files cost what they always did;
2. the cells the plain parse refused, and only those, go through the spreadsheet forms a bank's
   export holds: thousands separators, `45.0%` in share fields, amounts with 元/千元/万/万元/亿 in
   万元 fields, full-width digits and punctuation, `2021/3/5`, `2021年3月5日`, `20210305`,
   `2021.03.05`, Excel serial numbers in date columns, 有/无 and √/× for yes/no, enum values by their
   Chinese names. Each accepted cell is counted under its normalisation's name (`Tally`), so a run
   can say what it changed. A cell that could mean two things (`1,234` in a share field,
   `03/05/2021`) is refused under a rule of its own, never guessed.

A cell's result never depends on its neighbours: each is parsed on its own.
"""
from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.enum_labels import EXTRA_SPELLINGS, VALUE_LABELS

Tally = Counter  # normalisation name -> cells it touched

# ------------------------------------------------------------------------------------------
# The accepted spellings
# ------------------------------------------------------------------------------------------
BOOL_TOKENS: dict[str, bool] = {"1": True, "0": False, "1.0": True, "0.0": False, "true": True, "false": False,
                                "yes": True, "no": False, "y": True, "n": False, "是": True, "否": False}
# Spreadsheet ticks and 有/无 (after NFKC folding and lower-casing), each with its normalisation name.
BOOL_EXTRA: dict[str, tuple[bool, str]] = {"有": (True, "bool:有/无"), "无": (False, "bool:有/无"),
                                           "√": (True, "bool:√/×"), "×": (False, "bool:√/×"),
                                           "✓": (True, "bool:√/×"), "✗": (False, "bool:√/×"),
                                           "✔": (True, "bool:√/×"), "✘": (False, "bool:√/×")}
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ]00:00:00(?:\.0+)?)?")  # midnight times tolerated
DATE_MIN, DATE_MAX = date(1700, 1, 1), date(2199, 12, 31)  # inside datetime64[ns] range
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 10_000, 99_999  # 1927-05-18 … 2173-10-14; a 4-digit number is a year
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")  # serial 1 = 1900-01-01 (after Excel's phantom 1900-02-29)

MONEY_UNIT = "万元"
SHARE_UNIT = "share 0-1"
# Units written in an amount's cell or column header, as a factor to 万元.
MONEY_FACTORS: dict[str, float] = {"元": 1e-4, "千元": 0.1, "万": 1.0, "万元": 1.0, "亿": 1e4, "亿元": 1e4}
PERCENT_UNITS = ("%",)
_QUOTES = "\"'“”‘’「」『』《》"


class FieldLike(Protocol):
    """What a kind needs to know of a field (features.schema.FieldSpec has it)."""
    name: str
    kind: str
    unit: str
    enum: tuple[str, ...]


def fold(text: str) -> str:
    """Full-width digits, letters and punctuation to their ASCII forms (NFKC)."""
    return unicodedata.normalize("NFKC", text)


def spelling_key(text: str) -> str:
    """How an enum spelling is compared: folded, lower case, without spaces and quote marks."""
    return "".join(ch for ch in fold(text).lower() if not ch.isspace() and ch not in _QUOTES)


# Chinese names from enum_labels (and the extra spellings kept beside them) -> canonical value.
_SPELLED = [(spelling_key(zh), v) for v, (zh, _) in VALUE_LABELS.items()] + [
    (spelling_key(s), v) for v, spellings in EXTRA_SPELLINGS.items() for s in spellings]
ENUM_SPELLINGS: dict[str, str] = dict(_SPELLED)
assert len(set(_SPELLED)) == len(ENUM_SPELLINGS), "an enum spelling must name one value"
assert set(ENUM_SPELLINGS.values()) <= set(VALUE_LABELS), "extra spellings must name enum values"


@functools.lru_cache(maxsize=None)
def enum_spellings(values: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """A field's accepted spellings: (lower-case value -> value, spelling key -> value).

    A value's case is the schema Literal's (tax_grade's A/B/M/C/D), written nowhere else: any case
    of the value is accepted and the Literal's returned. Per field, as `a` (round) and `A` (grade) differ.
    """
    return {v.lower(): v for v in values}, {k: v for k, v in ENUM_SPELLINGS.items() if v in values}


def unit_factor(field_unit: str, unit: str) -> float | None:
    """Factor turning a value written in `unit` into the field's unit; None when the unit does not fit."""
    if unit == field_unit:
        return 1.0
    if field_unit == MONEY_UNIT:
        return MONEY_FACTORS.get(unit)
    if field_unit == SHARE_UNIT and unit in PERCENT_UNITS:
        return 0.01
    return None


# ------------------------------------------------------------------------------------------
# Arrow helpers
# ------------------------------------------------------------------------------------------
def arrow_text(s: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The Arrow strings behind an Arrow-backed pandas text column (zero-copy), else None."""
    dt = s.dtype
    if (isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow") or (
            isinstance(dt, pd.ArrowDtype) and pa.types.is_string(dt.pyarrow_dtype)):
        return pa.array(s)
    return None


def trimmed_and_blank(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray, np.ndarray]:
    """Cells without surrounding whitespace, and which of them are missing or empty."""
    trimmed = pc.utf8_trim_whitespace(arr)
    return trimmed, pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)


def cells_at(s: pd.Series, rows: np.ndarray) -> pa.Array:
    """The cells of `s` at `rows` as Arrow text (missing → null), for the tolerant second pass."""
    arr = arrow_text(s)
    if arr is not None:
        out = arr.take(pa.array(rows))
        out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
        return out.cast(pa.string())  # pandas may hold large_string
    vals = s.to_numpy(dtype=object)[rows]
    return pa.array([None if v is None or (isinstance(v, float) and v != v) else str(v) for v in vals],
                    pa.string())


def _folded(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Trimmed NFKC-folded cells and which of them folding changed (full-width input)."""
    trimmed = pc.utf8_trim_whitespace(arr)
    folded = pc.utf8_trim_whitespace(pc.utf8_normalize(trimmed, "NFKC"))
    changed = pc.fill_null(pc.not_equal(folded, trimmed), False).to_numpy(zero_copy_only=False)
    return folded, changed


def _np_text(arr: pa.Array) -> np.ndarray:
    """Arrow strings as an object array ('' for null)."""
    return pc.fill_null(arr, "").to_numpy(zero_copy_only=False).astype(object)


def _count(tally: Tally, name: str, mask: np.ndarray) -> None:
    n = int(np.count_nonzero(mask))
    if n:
        tally[name] += n


# ------------------------------------------------------------------------------------------
# Numbers (number and integer kinds)
# ------------------------------------------------------------------------------------------
# Units a number cell may carry (longer spellings first: the regex takes the first that fits).
_NUMBER_UNITS = ["%", "千元", "万元", "亿元", "元", "万", "亿", "人", "件", "项", "次", "天", "月", "年", "家", "个", "级"]
_NUMBER = (r"^(?P<open>\(?)(?P<sign>[+-]?)(?P<num>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?|[0-9]+\.?[0-9]*|\.[0-9]+)"
           r"(?P<close>\)?)\s*(?P<unit>" + "|".join(_NUMBER_UNITS) + r")?$")


def tolerant_numbers(arr: pa.Array, field_unit: str) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """The spreadsheet forms of numbers, for cells the plain parse refused.

    Returns values (NaN where refused), refusals by rule (`ambiguous:separator` for thousands
    separators in a share field, `unit` for a unit the field cannot take; cells matching nothing
    are in neither: the caller's `type:*` rule stays), and the tally of normalisations applied.
    """
    tally: Tally = Counter()
    folded, full_width = _folded(arr)
    parts = pc.extract_regex(folded, _NUMBER)
    matched = parts.is_valid().to_numpy(zero_copy_only=False)
    n = len(arr)
    values = np.full(n, np.nan)
    rules = {"ambiguous:separator": np.zeros(n, bool), "unit": np.zeros(n, bool)}
    if not matched.any():
        return values, rules, tally

    def flag(expr: Any) -> np.ndarray:
        return pc.fill_null(expr, False).to_numpy(zero_copy_only=False)

    num, unit_text = parts.field("num"), parts.field("unit")
    opened, closed = flag(pc.equal(parts.field("open"), "(")), flag(pc.equal(parts.field("close"), ")"))
    paren = opened & closed
    matched &= opened == closed
    minus = flag(pc.equal(parts.field("sign"), "-"))
    matched &= ~(paren & flag(pc.not_equal(parts.field("sign"), "")))
    comma = flag(pc.match_substring(num, ","))
    units = _NUMBER_UNITS
    unit_at = _token_index(unit_text, pa.array(units, pa.string()))
    factor = np.array([unit_factor(field_unit, u) or np.nan for u in units] + [np.nan])[unit_at]
    has_unit = flag(pc.not_equal(unit_text, ""))
    unit = np.array(units + [""], dtype=object)[unit_at]
    bad_unit = matched & has_unit & np.isnan(factor)
    share_comma = matched & comma & (field_unit == SHARE_UNIT) & ~bad_unit  # one rule per cell
    ok = matched & ~bad_unit & ~share_comma
    digits = pc.if_else(pa.array(ok), pc.replace_substring(num, ",", ""), pa.scalar(None, pa.string()))
    v = pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False)
    v = np.where(minus, -v, v)
    v = np.where(paren, -v, v)
    scaled = has_unit & ok & (factor != 1.0)
    v = np.where(scaled, _decimal_round(v * np.where(np.isnan(factor), 1.0, factor)), v)
    values[ok] = v[ok]
    rules["unit"] = bad_unit
    rules["ambiguous:separator"] = share_comma
    _count(tally, "full_width", ok & full_width)
    _count(tally, "thousands_separator", ok & comma)
    _count(tally, "accounting_negative", ok & paren)
    for u in sorted(set(unit[ok & has_unit])):
        _count(tally, "percent" if u in PERCENT_UNITS else f"unit:{u}", ok & (unit == u))
    return values, rules, tally


def _decimal_round(v: np.ndarray) -> np.ndarray:
    """A value scaled by a power of ten, back to the double nearest the decimal written (0.68亿 is 6800,
    not 6800.000000000001): rounded to as many decimals (≤ 10) as keep v·10^d an exact integer."""
    with np.errstate(divide="ignore", invalid="ignore"):
        digits = np.ceil(np.log10(np.abs(v) + 1.0))
    d = np.clip(15 - np.nan_to_num(digits, nan=0.0), 0, 10)
    scale = 10.0 ** d
    return np.rint(v * scale) / scale


def blank(s: pd.Series) -> np.ndarray:
    """Missing cells: NA or a string that is empty after stripping."""
    arr = arrow_text(s)
    if arr is not None:  # streamed CSV chunks: one C++ pass instead of Python strings
        return trimmed_and_blank(arr)[1]
    na = s.isna().to_numpy(bool, copy=True)
    if s.dtype.kind in "biufmM":
        return na
    txt = s[~na].astype(str).str.strip()
    na[~na] = (txt == "").to_numpy(bool)
    return na


_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _arrow_floats(s: pd.Series) -> np.ndarray | None:
    """Fast C parse of a text/number column through pyarrow (non-numbers → NaN); None when not text/numbers.

    Every cell goes through the same parser whatever its neighbours hold, so a row's values never
    depend on which other rows share its batch.
    """
    try:
        arr = pa.array(s, from_pandas=True)
        t = arr.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):
            return None
        try:
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
                return None
        trimmed = pc.utf8_trim_whitespace(arr)
        numeric = pc.if_else(pc.match_substring_regex(trimmed, _DECIMAL), trimmed, pa.scalar(None, t))
        return pc.cast(numeric, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def nonblank(s: pd.Series, mask: np.ndarray) -> np.ndarray:
    """`mask` restricted to cells that are not blank (blank test only where needed: it is the slow part).

    Mostly the masked cells are missing values, so NA is tested on the plain array and only the
    rest (text that did not parse, usually none) is stripped, as `_blank` does.
    """
    out = mask.copy()
    if not out.any():
        return out
    if arrow_text(s) is not None:
        out &= ~blank(s)
        return out
    rows = np.flatnonzero(out)
    cells = s.to_numpy()[rows]
    na = pd.isna(cells)
    out[rows[na]] = False
    if s.dtype.kind not in "biufmM":
        out[rows[~na]] = [str(v).strip() != "" for v in cells[~na]]
    return out


def _arrow_to_float(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """`_to_float` of Arrow text when Arrow parses every present cell (else None): then no present
    cell is blank, so the bad cells are simply the present ones that are not finite ('nan', 'inf')."""
    try:
        v = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    bad = ~np.isfinite(v) & pc.is_valid(arr).to_numpy(zero_copy_only=False)
    return np.where(bad, np.nan, v), bad


def plain_floats(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values and a mask of non-empty cells that are not finite numbers."""
    arr = arrow_text(s)
    if arr is not None and (parsed := _arrow_to_float(arr)) is not None:
        return parsed
    if s.dtype.kind in "biuf":
        v = s.to_numpy(dtype=float, na_value=np.nan)
    elif s.dtype.kind in "mM":  # dates in a number column are not numbers
        v = np.where(s.isna(), np.nan, np.inf)
    else:
        v = _arrow_floats(s)
        if v is None:  # some cell is not a plain number: the tolerant (slower) path marks it NaN
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = nonblank(s, ~np.isfinite(v))  # unparseable, 'nan' or 'inf' text
    return np.where(bad, np.nan, v), bad




def parse_numbers(s: pd.Series, spec: FieldLike) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """Number kind: float64 values (NaN = missing or refused), refusals by rule, tally."""
    v, bad = plain_floats(s)
    rules: dict[str, np.ndarray] = {"type:number": bad}
    tally: Tally = Counter()
    if bad.any():
        rows = np.flatnonzero(bad)
        tv, extra, tally = tolerant_numbers(cells_at(s, rows), spec.unit)
        ok = ~np.isnan(tv)
        v[rows[ok]] = tv[ok]
        bad = bad.copy()
        bad[rows[ok]] = False
        for rule, m in extra.items():
            full = np.zeros(len(v), bool)
            full[rows[m]] = True
            bad &= ~full
            rules[rule] = full
        rules["type:number"] = bad
    return v, rules, tally


def parse_integers(s: pd.Series, spec: FieldLike) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """Integer kind: whole numbers ('12.0' and '1,200' accepted) as float64."""
    v, rules, tally = parse_numbers(s, spec)
    rules["type:integer"] = rules.pop("type:number")
    frac = np.isfinite(v) & (v != np.floor(v))
    rules["integer"] = frac
    return np.where(frac, np.nan, v), rules, tally


# ------------------------------------------------------------------------------------------
# Bools
# ------------------------------------------------------------------------------------------
_BOOL_KEYS = pd.Index(list(BOOL_TOKENS), dtype=object)
_BOOL_ARROW = pa.array(list(BOOL_TOKENS), pa.string())
_BOOL_VALUES = np.array([float(v) for v in BOOL_TOKENS.values()] + [np.nan])  # last = not a token
_EXTRA_ARROW = pa.array(list(BOOL_EXTRA), pa.string())
_EXTRA_VALUES = np.array([float(v) for v, _ in BOOL_EXTRA.values()] + [np.nan])
_EXTRA_NAMES = [name for _, name in BOOL_EXTRA.values()]


def _token_index(arr: pa.Array | pa.ChunkedArray, tokens: pa.Array) -> np.ndarray:
    """Position of each cell in `tokens`, len(tokens) where it is none of them (or missing)."""
    return pc.fill_null(pc.index_in(arr, value_set=tokens), len(tokens)).to_numpy(zero_copy_only=False)


def parse_bools(s: pd.Series, spec: FieldLike
                ) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """Bool kind: 0.0/1.0 from 1/0/true/false/yes/no/是/否/Y/N, then 有/无, √/× and full-width forms."""
    if (arr := arrow_text(s)) is not None:
        trimmed, empty = trimmed_and_blank(arr)
        v = _BOOL_VALUES[_token_index(pc.utf8_lower(trimmed), _BOOL_ARROW)]
        bad = np.isnan(v) & ~empty
    elif s.dtype.kind in "biuf":
        v = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(v) & (v != 0) & (v != 1)
        return np.where(bad, np.nan, v), {"type:bool": bad}, Counter()
    else:
        txt = s.astype(str).str.strip().str.lower()
        v = _BOOL_VALUES[_BOOL_KEYS.get_indexer(txt.to_numpy(dtype=object, na_value=""))]  # -1 -> NaN
        bad = nonblank(s, np.isnan(v))
    tally: Tally = Counter()
    if bad.any():  # the refused cells, folded: full-width tokens, then 有/无 and ticks
        rows = np.flatnonzero(bad)
        folded, full_width = _folded(cells_at(s, rows))
        low = pc.utf8_lower(folded)
        plain = _token_index(low, _BOOL_ARROW)
        extra = _token_index(low, _EXTRA_ARROW)
        is_plain, is_extra = plain < len(BOOL_TOKENS), extra < len(BOOL_EXTRA)
        v[rows] = np.where(is_plain, _BOOL_VALUES[plain], _EXTRA_VALUES[extra])
        bad[rows] = ~(is_plain | is_extra)
        _count(tally, "full_width", is_plain | (is_extra & full_width))
        for k, name in enumerate(_EXTRA_NAMES):
            _count(tally, name, extra == k)
    return np.where(bad, np.nan, v), {"type:bool": bad}, tally


# ------------------------------------------------------------------------------------------
# Enums
# ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _enum_arrays(values: tuple[str, ...]) -> tuple[pa.Array, np.ndarray]:
    """A field's values in lower case (Arrow, to look cells up) and as labels by position (+ None)."""
    return pa.array([v.lower() for v in values], pa.string()), np.array([*values, None], dtype=object)


def parse_enums(s: pd.Series, spec: FieldLike
                ) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """Enum kind: canonical values from any case of the value, then from its Chinese names."""
    lower, labels = _enum_arrays(tuple(spec.enum))
    if (arr := arrow_text(s)) is not None:
        trimmed, empty = trimmed_and_blank(arr)
        idx = _token_index(pc.utf8_lower(trimmed), lower).copy()
        bad = (idx == len(spec.enum)) & ~empty
    else:
        txt = s.astype(str).str.strip().str.lower()
        idx = pd.Index([v.lower() for v in spec.enum]).get_indexer(txt.to_numpy(dtype=object, na_value=""))
        idx = np.where(idx < 0, len(spec.enum), idx)
        bad = nonblank(s, idx == len(spec.enum))
    tally: Tally = Counter()
    if bad.any():  # the refused cells by spelling key: Chinese names, then full-width forms of the values
        rows = np.flatnonzero(bad)
        plain, spelled = enum_spellings(tuple(spec.enum))
        keys = _spelling_keys(cells_at(s, rows))
        by_name = _token_index(keys, pa.array(list(spelled), pa.string()))
        by_value = _token_index(keys, pa.array(list(plain), pa.string()))
        name_pos = np.array([spec.enum.index(v) for v in spelled.values()] + [len(spec.enum)], dtype=np.int64)
        value_pos = np.array([spec.enum.index(v) for v in plain.values()] + [len(spec.enum)], dtype=np.int64)
        named, valued = by_name < len(spelled), by_value < len(plain)
        idx[rows] = np.where(named, name_pos[by_name], value_pos[by_value])
        bad[rows] = ~(named | valued)
        _count(tally, "enum:chinese_name", named)
        _count(tally, "full_width", valued & ~named)
    return labels[idx], {"enum": bad}, tally


_SPACES_AND_QUOTES = "[\\s" + "".join("\\" + q if q in "\"'" else q for q in _QUOTES) + "]"


def _spelling_keys(cells: pa.Array) -> pa.Array:
    """`spelling_key` of every cell, in Arrow."""
    folded = pc.utf8_lower(pc.utf8_normalize(cells, "NFKC"))
    return pc.replace_substring_regex(folded, _SPACES_AND_QUOTES, "")


# ------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------
_DATE_FORMS = (r"^(?P<y>[0-9]{4})(?P<s1>[-/.])(?P<m>[0-9]{1,2})(?P<s2>[-/.])(?P<d>[0-9]{1,2})$"
               r"|^(?P<y2>[0-9]{4})年(?P<m2>[0-9]{1,2})月(?P<d2>[0-9]{1,2})日?$"
               r"|^(?P<y3>[0-9]{4})(?P<m3>[0-9]{2})(?P<d3>[0-9]{2})$"
               r"|^(?P<serial>[0-9]{4,5})(?:\.0+)?$"
               r"|^(?P<dayfirst>[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4})$")
_SEP_NAMES = {"/": "date:YYYY/M/D", ".": "date:YYYY.MM.DD", "-": "date:YYYY-M-D"}


def tolerant_dates(arr: pa.Array) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """The spreadsheet forms of dates, for cells the ISO parse refused: datetime64[ns] (NaT where refused),
    `ambiguous:date` for day/month-first dates and 4-digit numbers (a year, or an Excel serial?)."""
    tally: Tally = Counter()
    folded, full_width = _folded(arr)
    parts = pc.extract_regex(folded, _DATE_FORMS)
    n = len(arr)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ambiguous = np.zeros(n, bool)
    if not parts.is_valid().to_numpy(zero_copy_only=False).any():
        return out, {"ambiguous:date": ambiguous}, tally
    f = {k: parts.field(k) for k in ("y", "s1", "m", "s2", "d", "y2", "m2", "d2", "y3", "m3", "d3", "serial",
                                     "dayfirst")}

    def flag(expr: Any) -> np.ndarray:
        return pc.fill_null(expr, False).to_numpy(zero_copy_only=False)

    sep_form = flag(pc.and_(pc.not_equal(f["y"], ""), pc.equal(f["s1"], f["s2"])))
    cn_form, compact = flag(pc.not_equal(f["y2"], "")), flag(pc.not_equal(f["y3"], ""))
    serial_len = pc.utf8_length(f["serial"])
    is_serial = flag(pc.equal(serial_len, 5))
    ambiguous = flag(pc.not_equal(f["dayfirst"], "")) | flag(pc.equal(serial_len, 4))

    def pick(a: str, b: str, c: str) -> pa.Array:
        return pc.if_else(pa.array(sep_form), f[a], pc.if_else(pa.array(cn_form), f[b], f[c]))

    ymd = sep_form | cn_form | compact
    iso = pc.binary_join_element_wise(pick("y", "y2", "y3"), pc.utf8_lpad(pick("m", "m2", "m3"), 2, "0"),
                                      pc.utf8_lpad(pick("d", "d2", "d3"), 2, "0"), "-")
    days = iso_days(pc.if_else(pa.array(ymd), iso, pa.scalar(None, pa.string())))
    serial = pc.cast(pc.if_else(pa.array(is_serial), f["serial"], "0"), pa.int64()).to_numpy(zero_copy_only=False)
    from_serial = (_EXCEL_EPOCH + serial.astype("timedelta64[D]")).astype("datetime64[ns]")
    out = np.where(ymd, days, np.where(is_serial, from_serial, np.datetime64("NaT")))
    in_range = (out >= np.datetime64(DATE_MIN, "ns")) & (out <= np.datetime64(DATE_MAX, "ns"))
    out = np.where(in_range, out, np.datetime64("NaT")).astype("datetime64[ns]")
    ok = ~np.isnat(out)
    _count(tally, "full_width", ok & full_width)
    for sep, name in _SEP_NAMES.items():
        _count(tally, name, ok & sep_form & flag(pc.equal(f["s1"], sep)))
    _count(tally, "date:YYYY年M月D日", ok & cn_form)
    _count(tally, "date:YYYYMMDD", ok & compact)
    _count(tally, "date:excel_serial", ok & is_serial)
    return out, {"ambiguous:date": ambiguous}, tally


def iso_days(iso: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """YYYY-MM-DD text → datetime64[ns]; NaT for null and for days a month does not have.

    Arrow's cast to date32 checks the calendar but fails the whole array on one bad day; then
    strptime parses, and a day it rolled over (2023-02-30 → 2023-03-02) is caught by writing it back.
    """
    try:
        days = pc.cast(iso, pa.date32())
    except pa.ArrowInvalid:
        parsed = pc.cast(pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        same = pc.fill_null(pc.equal(pc.cast(parsed, pa.string()), iso), False)
        days = pc.if_else(same, parsed, pa.scalar(None, pa.date32()))
    return days.to_numpy(zero_copy_only=False).astype("datetime64[ns]")


def _plain_dates(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO dates (midnight timestamps accepted) → datetime64[ns] and refused cells."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)  # local wall-clock date
    if (arr := arrow_text(s)) is not None:
        trimmed, empty = trimmed_and_blank(arr)
        head = pc.utf8_slice_codeunits(trimmed, 0, 10)
        ok = pc.and_(pc.match_substring_regex(trimmed, f"^(?:{DATE_RE.pattern})$"),
                     pc.and_(pc.greater_equal(head, str(DATE_MIN)), pc.less_equal(head, str(DATE_MAX))))
        v = iso_days(pc.if_else(ok, head, None))
        return v, np.isnat(v) & ~empty
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "M":  # numpy datetimes; arrow dates go via text
        v = s.to_numpy()
        day = v.astype("datetime64[D]")  # compare in days: no ns overflow for far dates
        ok = (v == day) & (day >= np.datetime64(DATE_MIN)) & (day <= np.datetime64(DATE_MAX))
        v = np.where(ok, day, np.datetime64("NaT")).astype("datetime64[ns]")
    else:
        txt = s.astype(str).str.strip()
        ok = true_mask(txt.str.fullmatch(DATE_RE.pattern))
        txt = txt.where(ok).str[:10]
        ok &= true_mask((txt >= str(DATE_MIN)) & (txt <= str(DATE_MAX)))
        v = pd.to_datetime(txt.where(ok), format="%Y-%m-%d", errors="coerce").to_numpy(dtype="datetime64[ns]")
    return v, nonblank(s, np.isnat(v))


def true_mask(s: pd.Series) -> np.ndarray:
    """Boolean array from a nullable boolean result (NA -> False), without fillna downcasting."""
    return s.to_numpy(dtype=object, na_value=False).astype(bool)


def parse_dates(s: pd.Series, spec: FieldLike
                ) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """Date kind: ISO dates, then the spreadsheet forms (Excel serials only here, in date columns)."""
    v, bad = _plain_dates(s)
    rules = {"date": bad}
    tally: Tally = Counter()
    if bad.any() and s.dtype.kind not in "mM" and not isinstance(s.dtype, pd.DatetimeTZDtype):
        rows = np.flatnonzero(bad)
        cells = cells_at(s, rows) if s.dtype.kind not in "biuf" else pa.array(
            [None if x != x else f"{x:.15g}" for x in s.to_numpy(dtype=float, na_value=np.nan)[rows]], pa.string())
        tv, extra, tally = tolerant_dates(cells)
        ok = ~np.isnat(tv)
        v = v.copy()
        v[rows[ok]] = tv[ok]
        bad = bad.copy()
        bad[rows[ok]] = False
        amb = np.zeros(len(v), bool)
        amb[rows[extra["ambiguous:date"]]] = True
        bad &= ~amb
        rules = {"date": bad, "ambiguous:date": amb}
    return v, rules, tally


# ------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------
def fold_codes(txt: pd.Series) -> tuple[pd.Series, Tally]:
    """Codes (USCC, region and industry codes) typed with full-width characters, folded to ASCII."""
    arr = arrow_text(txt)
    if arr is None:
        arr = pa.array(txt, pa.string(), from_pandas=True)
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True)
    if pc.all(ascii_).as_py():  # the usual case: nothing to fold
        return txt, Counter()
    wide = pc.invert(ascii_).to_numpy(zero_copy_only=False)
    folded = pc.utf8_normalize(arr, "NFKC")
    changed = pc.fill_null(pc.not_equal(folded, arr), False).to_numpy(zero_copy_only=False) & wide
    out = pd.Series(np.where(changed, _np_text(folded), txt.to_numpy(dtype=object)), index=txt.index,
                    dtype=object).where(txt.notna())
    return out, Counter({"full_width": int(changed.sum())}) if changed.any() else Counter()


# ------------------------------------------------------------------------------------------
# One value at a time (the pydantic model's before-validators)
# ------------------------------------------------------------------------------------------
class KindError(ValueError):
    """A value the kind refuses, with the rule code that names why."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


class _OneField:
    """A FieldLike for one value of the pydantic path."""

    def __init__(self, name: str, kind: str, unit: str, enum: tuple[str, ...] = ()):
        self.name, self.kind, self.unit, self.enum = name, kind, unit, enum


def _one(parse: Any, value: str, name: str, kind: str, unit: str, enum: tuple[str, ...] = ()) -> tuple[Any, str | None]:
    """Run a column parser on one text cell: (value or None, the rule that refused it or None)."""
    col = pd.Series(pd.arrays.ArrowStringArray(pa.array([value], pa.string())))
    vals, rules, _ = parse(col, _OneField(name, kind, unit, enum))
    for rule, mask in rules.items():
        if mask[0]:
            return None, rule
    return vals[0], None


def number_value(v: Any, name: str, kind: str, unit: str) -> Any:
    """A number/integer value: plain ones pass through for pydantic; spreadsheet forms are converted."""
    if isinstance(v, (bool, np.bool_)):  # JSON true/false is not a number (pydantic would read it as 1/0)
        raise KindError(f"type:{kind}", f"a yes/no value is not a number: {v!r}")
    if not isinstance(v, str):
        return v
    plain = v.strip()
    try:  # ASCII only: float() also reads full-width digits, which pydantic's parser refuses
        if plain.isascii() and math.isfinite(float(plain)):
            return plain if kind == "number" else _int_text(plain)
    except ValueError:
        pass
    value, rule = _one(tolerant_parse_numbers, v, name, kind, unit)
    if rule in ("unit", "ambiguous:separator"):
        raise KindError(rule, f"{v!r}")
    if value is None or value != value:
        return v  # pydantic names the type error
    return int(value) if kind == "integer" and float(value).is_integer() else float(value)


def _int_text(v: str) -> Any:
    """'12.0' -> 12 and '12.5' -> 12.5 (so the error is 'integer', as in the frame validator)."""
    f = float(v)
    return int(f) if f.is_integer() else f


def tolerant_parse_numbers(s: pd.Series, spec: FieldLike) -> tuple[np.ndarray, dict[str, np.ndarray], Tally]:
    """`tolerant_numbers` over a column of text (the one-value path's entry)."""
    return tolerant_numbers(cells_at(s, np.arange(len(s))), spec.unit)


def bool_value(v: Any) -> bool:
    """A yes/no value, from every spelling the bool kind accepts."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        key = v.strip().lower()
        if key in BOOL_TOKENS:
            return BOOL_TOKENS[key]
        key = fold(key).strip().lower()
        if key in BOOL_TOKENS:
            return BOOL_TOKENS[key]
        if key in BOOL_EXTRA:
            return BOOL_EXTRA[key][0]
    raise KindError("type:bool", f"not a yes/no value: {v!r}")


def enum_value(v: Any, values: tuple[str, ...]) -> Any:
    """An enum value's canonical spelling; other text is returned stripped for the Literal to refuse."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    plain, spelled = enum_spellings(values)
    if (found := plain.get(s.lower())) is not None:
        return found
    key = spelling_key(s)
    return spelled.get(key) or plain.get(key) or s


def date_value(v: Any) -> date:
    """A date from a date/datetime object, ISO text or a spreadsheet form (never a unix timestamp)."""
    d: date | None = None
    if isinstance(v, datetime):  # includes pd.Timestamp; only midnight is a date
        d = v.date() if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0) else None
    elif isinstance(v, date):
        d = v
    elif isinstance(v, str) and DATE_RE.fullmatch(v.strip()):
        try:
            d = date.fromisoformat(v.strip()[:10])
        except ValueError:
            d = None
    elif isinstance(v, str):
        value, rule = _one(lambda s, spec: tolerant_dates(cells_at(s, np.arange(len(s)))), v, "", "date", "")
        if rule == "ambiguous:date":
            raise KindError(rule, f"{v!r}")
        d = None if value is None or np.isnat(value) else pd.Timestamp(value).date()
    if d is None or not DATE_MIN <= d <= DATE_MAX:
        raise KindError("date", f"not a date between {DATE_MIN} and {DATE_MAX}: {v!r}")
    return d


def text_value(v: Any, code: bool) -> Any:
    """Codes read as numbers (region 110105) become their digit strings; codes typed full-width are folded."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
        return str(int(v))
    if code and isinstance(v, str) and not v.isascii():
        return fold(v).strip()
    return v


COLUMN_PARSERS = {"number": parse_numbers, "integer": parse_integers, "bool": parse_bools,
                  "enum": parse_enums, "date": parse_dates}
