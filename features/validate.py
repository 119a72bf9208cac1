"""Vectorised validation of a whole DataFrame of raw firm profiles (no per-row pydantic).

Produces the clean columns every scorer consumes (`features.clean.CleanColumns`, see
docs/architecture.md, "Clean column convention") and one reject line per violation; the API's
validated profiles become the same columns through `profiles_to_columns`.
"""
from __future__ import annotations

import operator
from collections import Counter
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from features import kinds
from features.clean import DATE_FIELDS, FLOAT_FIELDS, OBJECT_FIELDS, CleanColumns, day_number, to_days
from features.kinds import Tally, arrow_text, blank, trimmed_and_blank, true_mask
from features.schema import (_CODE_FIELDS, ALIASES, CROSS_RULES, FIELD_NAMES, FIELD_SPECS, FieldSpec, FirmProfile,
                             format_bound, message_template, uscc_valid_mask)

REJECT_COLUMNS = ("row", "firm_id", "field", "rule", "value", "message")
_FIELD_POS = {n: i for i, n in enumerate(FIELD_NAMES)}


@dataclass
class ValidationResult:
    """Outcome of `validate_frame`: valid rows as clean columns, one line per violation."""
    clean: CleanColumns
    rejects: pd.DataFrame
    n_input: int
    extra_columns: tuple[str, ...] = ()
    normalised: Counter = field(default_factory=Counter)  # normalisation name -> cells it changed (kinds.Tally)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The valid rows as a clean frame (`CleanColumns.to_frame()`: training, reports), built on demand."""
        return self.clean.to_frame()

    @property
    def n_clean(self) -> int:
        """Rows that passed every check."""
        return len(self.clean)

    @property
    def n_rejected(self) -> int:
        """Rows with at least one violation."""
        return self.n_input - len(self.clean)


@dataclass
class _Issues:
    """Violations collected column by column: (row positions, field, rule)."""
    items: list[tuple[np.ndarray, str, str]] = field(default_factory=list)

    def add(self, mask: np.ndarray, fld: str, rule: str) -> None:
        """Record the rows where `mask` is True."""
        rows = np.flatnonzero(mask)
        if rows.size:
            self.items.append((rows, fld, rule))


# ------------------------------------------------------------------------------------------
# Headers
# ------------------------------------------------------------------------------------------
def clean_header(h: Any) -> str:
    """Header without BOM and surrounding whitespace."""
    return str(h).replace("\ufeff", "").strip()


def _field_of(header: str) -> str | None:
    """Schema name for a header: English name or Chinese label (full-width brackets folded by NFKC)."""
    if header in FIELD_SPECS:
        return header
    folded = unicodedata.normalize("NFKC", header).strip()
    return folded if folded in FIELD_SPECS else ALIASES.get(folded)


def _resolve_columns(columns: Sequence[Any]) -> tuple[dict[str, int], list[int], list[str]]:
    """Map schema names to input positions; list positions/names of extra columns."""
    found: dict[str, int] = {}
    extra_pos: list[int] = []
    extra_names: list[str] = []
    for j, h in enumerate(columns):
        name = _field_of(clean_header(h))
        if name is None:
            extra_pos.append(j)
            extra_names.append(clean_header(h))
        elif name in found:  # e.g. both `revenue_y0` and `营业收入(当年)`: ambiguous, refuse
            raise ValueError(f"columns {columns[found[name]]!r} and {h!r} both map to field {name!r}")
        else:
            found[name] = j
    return found, extra_pos, extra_names


# ------------------------------------------------------------------------------------------
# Coercion per kind (features/kinds.py), then the field's own checks: each returns
# (clean values, {rule: bad mask}, tally of normalisations); bad cells become missing
# ------------------------------------------------------------------------------------------
def _coerce_number(s: pd.Series, spec: FieldSpec) -> tuple[Any, dict[str, np.ndarray], Tally]:
    """Numbers (or integers), then bounds."""
    v, issues, tally = kinds.COLUMN_PARSERS[spec.kind](s, spec)
    return *_bounds(v, issues, spec), tally


def _bounds(v: np.ndarray, issues: dict[str, np.ndarray], spec: FieldSpec) -> tuple[Any, dict[str, np.ndarray]]:
    """Apply ge/le (NaN never violates)."""
    if spec.ge is not None:
        issues[f"ge:{format_bound(spec.ge)}"] = v < spec.ge
    if spec.le is not None:
        issues[f"le:{format_bound(spec.le)}"] = v > spec.le
    out_of_bounds = np.logical_or.reduce(list(issues.values()))
    return np.where(out_of_bounds, np.nan, v), issues


def _as_text(s: pd.Series) -> pd.Series:
    """Stripped strings (pandas string dtype), missing as NA; integral floats (codes read as numbers) lose '.0'."""
    if (arr := arrow_text(s)) is not None:  # streamed CSV chunks: strip and blank test in Arrow
        trimmed, blank = trimmed_and_blank(arr)
        return pd.Series(pd.arrays.ArrowStringArray(pc.if_else(blank, None, trimmed)))
    if s.dtype.kind == "f":
        v = s.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(v) & (v == np.floor(v)) & (np.abs(v) < 1e18)
        as_int = np.where(whole, v, 0).astype(np.int64).astype(str).astype(object)
        s = pd.Series(np.where(whole, as_int, s.astype(str).to_numpy(dtype=object)), dtype=object).where(s.notna())
    txt = s.astype(str).str.strip()
    keep = s.notna().to_numpy(bool) & true_mask(txt != "")
    return txt.where(keep)


def _coerce_text(s: pd.Series, spec: FieldSpec) -> tuple[Any, dict[str, np.ndarray], Tally]:
    """Text with pattern / length checks; firm_id required and USCC-checked; codes typed full-width folded."""
    txt = _as_text(s)
    tally: Tally = Counter()
    if spec.pattern or spec.name in _CODE_FIELDS:
        txt, tally = kinds.fold_codes(txt)
    present = txt.notna().to_numpy(bool)
    issues: dict[str, np.ndarray] = {}
    if spec.name == "firm_id":
        issues["required"] = ~present
        issues["uscc_check"] = present & ~uscc_valid_mask(txt)
    if spec.pattern:
        issues["pattern"] = present & ~true_mask(txt.str.fullmatch(spec.pattern))
    if spec.max_length:
        issues["max_length"] = present & true_mask(txt.str.len() > spec.max_length)
    bad = np.logical_or.reduce(list(issues.values())) if issues else np.zeros(len(s), bool)
    return txt.where(~bad).to_numpy(dtype=object, na_value=None), issues, tally


_COERCE = {"number": _coerce_number, "integer": _coerce_number, "bool": kinds.parse_bools,
           "enum": kinds.parse_enums, "date": kinds.parse_dates, "text": _coerce_text}


# ------------------------------------------------------------------------------------------
# Rejects
# ------------------------------------------------------------------------------------------
def _raw_strings(s: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The offending raw cells as strings ('' for missing; 12.0 shown as 12)."""
    sub = s.iloc[rows]
    out = sub.astype(str).to_numpy(dtype=object, copy=True)
    if sub.dtype.kind == "f":
        v = sub.to_numpy(dtype=float)
        whole = np.isfinite(v) & (v == np.floor(v)) & (np.abs(v) < 1e15)
        out[whole] = v[whole].astype(np.int64).astype(str)
    out[sub.isna().to_numpy(bool)] = ""
    return out


def _empty_rejects() -> pd.DataFrame:
    """Rejects frame with no rows but the right columns."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object) for c in REJECT_COLUMNS})


def _build_rejects(issues: _Issues, raw: dict[str, pd.Series], firm_ids: np.ndarray) -> pd.DataFrame:
    """One line per violation, sorted by row then schema field order."""
    if not issues.items:
        return _empty_rejects()
    rows = np.concatenate([r for r, _, _ in issues.items])
    sizes = [len(r) for r, _, _ in issues.items]
    values, messages = [], []
    for r, fld, rule in issues.items:  # a few groups of a few rows each: plain strings are cheapest
        vals = _raw_strings(raw[fld], r).tolist()
        head, mid, tail = message_template(fld, rule).split("{value}")
        values += vals
        messages += [f"{head}{v}{mid}{v}{tail}" for v in vals]
    fields = np.repeat(np.array([f for _, f, _ in issues.items], dtype=object), sizes)
    order = np.lexsort((np.repeat([_FIELD_POS[f] for _, f, _ in issues.items], sizes), rows))
    return pd.DataFrame({
        "row": rows[order].astype(np.int64),
        "firm_id": firm_ids[rows[order]],
        "field": fields[order],
        "rule": np.repeat(np.array([r for _, _, r in issues.items], dtype=object), sizes)[order],
        "value": np.array(values, dtype=object)[order],
        "message": np.array(messages, dtype=object)[order],
    }, columns=list(REJECT_COLUMNS))


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------
def _as_ts(d: date | str | None) -> pd.Timestamp | None:
    """Run date as a midnight Timestamp."""
    return None if d is None else pd.Timestamp(d).normalize()


def validate_frame(df: pd.DataFrame, as_of_default: date | None = None) -> ValidationResult:
    """Validate a whole frame of raw profiles (English or Chinese headers) in vectorised passes."""
    n = len(df)
    found, extra_pos, extra_names = _resolve_columns(list(df.columns))
    blank_col = pd.Series(np.full(n, None, dtype=object))
    rng = pd.RangeIndex(n)  # positional index: rows are reported and kept by position
    raw = {f: (df.iloc[:, found[f]].set_axis(rng) if f in found else blank_col) for f in FIELD_NAMES}
    issues, cols, tally = _Issues(), {}, Counter()
    for name in FIELD_NAMES:
        spec = FIELD_SPECS[name]
        cols[name], by_rule, touched = _COERCE[spec.kind](raw[name], spec)
        tally.update(touched)
        for rule, mask in by_rule.items():
            issues.add(mask, name, rule)
    if as_of_default is not None:  # fill only cells that were empty, not those that failed to parse
        fill = blank(raw["as_of"])
        cols["as_of"] = np.where(fill, np.datetime64(_as_ts(as_of_default), "ns"), cols["as_of"])
    for rule in CROSS_RULES:
        issues.add(rule.violated(cols), rule.field, rule.code)
    bad = np.zeros(n, dtype=bool)
    for rows, _, _ in issues.items:
        bad[rows] = True
    extras = None
    if extra_pos:  # carried through untouched (targets such as default_12m / true_pd)
        extras = df.iloc[:, extra_pos].set_axis(extra_names, axis=1).reset_index(drop=True)
    firm_ids = _as_text(raw["firm_id"]).to_numpy(dtype=object, na_value=None)
    return ValidationResult(clean=_clean_columns(cols, bad, extras), rejects=_build_rejects(issues, raw, firm_ids),
                            n_input=n, extra_columns=tuple(extra_names), normalised=tally)


def _clean_columns(cols: dict[str, Any], bad: np.ndarray, extras: pd.DataFrame | None) -> CleanColumns:
    """The coerced columns of the rows without a violation, in the clean convention (dates as days)."""
    values: dict[str, np.ndarray] = {}
    for f in FIELD_NAMES:
        kind = FIELD_SPECS[f].kind
        if kind == "date":
            values[f] = to_days(np.asarray(cols[f], dtype="datetime64[ns]"))
        else:
            values[f] = np.asarray(cols[f], dtype=object if kind in ("enum", "text") else np.float64)
    rows = None
    if bad.any():
        keep = np.flatnonzero(~bad)
        values = {f: v[keep] for f, v in values.items()}
        rows = keep.astype(np.int64)
        extras = None if extras is None else extras.iloc[keep]
    return CleanColumns.profiles(values, rows, extras)


def _field_rows(values: list[dict[str, Any]], fields: tuple[str, ...], dtype: str) -> dict[str, np.ndarray]:
    """`fields` of every profile in one array conversion, returned as one contiguous column per field."""
    get = operator.itemgetter(*fields)
    table = np.array([get(v) for v in values], dtype=dtype).reshape(len(values), len(fields))
    return dict(zip(fields, table.T.copy()))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _date_rows(values: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The date fields as float days since 1970-01-01 (NaN for missing), from the dates' ordinals."""
    get = operator.itemgetter(*DATE_FIELDS)
    nan = float("nan")
    days = np.array([[nan if d is None else d.toordinal() - _EPOCH_ORDINAL for d in get(v)] for v in values],
                    dtype=np.float64).reshape(len(values), len(DATE_FIELDS))
    return dict(zip(DATE_FIELDS, days.T.copy()))


def profiles_to_columns(profiles: Sequence[FirmProfile], as_of_default: date | None = None) -> CleanColumns:
    """Validated profiles as clean columns (the API's path; the same columns `validate_frame` gives a file).

    Numbers, counts and yes/no become float64 (None → NaN), dates float days (None → NaN).
    """
    values = [p.__dict__ for p in profiles]
    by_field = (_field_rows(values, FLOAT_FIELDS, "float64") | _field_rows(values, OBJECT_FIELDS, "object")
                | _date_rows(values))
    cols = {f: by_field[f] for f in FIELD_NAMES}
    missing_as_of = np.isnan(cols["as_of"])
    if as_of_default is not None and missing_as_of.any():
        cols["as_of"] = np.where(missing_as_of, day_number(as_of_default), cols["as_of"])
        _check_filled_as_of(cols)
    return CleanColumns.profiles(cols)


def profiles_to_frame(profiles: Sequence[FirmProfile], as_of_default: date | None = None) -> pd.DataFrame:
    """Clean frame of validated profiles (`profiles_to_columns(...).to_frame()`), for training and tools."""
    return profiles_to_columns(profiles, as_of_default).to_frame()


def _check_filled_as_of(cols: dict[str, np.ndarray]) -> None:
    """Date rules pydantic could not check while as_of was empty; raise naming field and rule."""
    broken = [f"row {i}: {r.field} [{r.code}] {r.message_zh} / {r.message_en}"
              for r in CROSS_RULES if "as_of" in r.fields for i in np.flatnonzero(r.violated(cols))]
    if broken:
        raise ValueError("; ".join(broken))
