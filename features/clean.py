"""The clean column set: the one format every scorer consumes.

`features/validate.py` builds it from files (`validate_frame`) and from the API's validated profiles
(`profiles_to_columns`); `features/tabular.py` builds it for a bank's own columns (generic mode).
Everything below `features/` — `models/scoring.py` `Scorer`, stages, knock-outs, rules, the credit
recommendation, what-if — reads `CleanColumns` and nothing else (no DataFrame, no conversion).

The convention (firm-profile mode; one numpy array of length n per name):
- every schema field (`features.schema.FIELD_NAMES`) is present;
- number / integer / bool fields: float64, NaN for missing (bool → 0.0 / 1.0);
- date fields: float64 **days since 1970-01-01** (a date is a whole number of days), NaN for missing;
- enum fields: object arrays of the canonical strings (stripped; lowercase except `tax_grade`, upper),
  None for missing — rules, stages and the recommendation compare them as strings;
- text fields (firm_id, codes): object arrays of str, None for missing;
- derived, computed once here (`DERIVED`): `age_years` = (as_of − founded_on) / 365.25 and
  `months_since_latest_round` = (as_of − latest_round_date) / (365.25 / 12), NaN when a date is missing;
- `rows`: the input row position of each row (None: 0..n-1), `firm_id`: the identifier a result
  carries (generic mode: the bank's id column, else the row position as text);
- `extras`: input columns outside the schema (targets such as `default_12m`), carried untouched
  for training; scoring never reads them.

A generic-mode model's columns (`features/tabular.py`) use the same container: its numeric columns
float64 with NaN, its categorical columns object arrays of stripped strings with None, no derived.
`to_frame()` gives the clean frame (dates as datetime64[ns]) for training and reports; `from_frame`
reads one back. Those two and `frame_to_columns` are the only frame ↔ columns conversions.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from features.registry import age_years, months_since_round
from features.schema import FIELD_NAMES, FIELD_SPECS

DERIVED: tuple[str, ...] = ("age_years", "months_since_latest_round")
DATE_FIELDS: tuple[str, ...] = tuple(f for f in FIELD_NAMES if FIELD_SPECS[f].kind == "date")
FLOAT_FIELDS: tuple[str, ...] = tuple(f for f in FIELD_NAMES if FIELD_SPECS[f].kind in ("number", "integer", "bool"))
OBJECT_FIELDS: tuple[str, ...] = tuple(f for f in FIELD_NAMES if FIELD_SPECS[f].kind in ("enum", "text"))
_NS_PER_DAY = 86_400e9
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


# ------------------------------------------------------------------------------------------
# Dates as day numbers
# ------------------------------------------------------------------------------------------
def to_days(values: Any) -> np.ndarray:
    """Dates (datetime64, date objects, ISO strings) → float days since 1970-01-01, NaT → NaN; floats
    are taken as days already."""
    a = np.asarray(values)
    if a.dtype.kind in "fiub":  # already float days
        return a.astype(np.float64)
    try:
        ns = a.astype("datetime64[ns]")
    except (TypeError, ValueError):  # mixed objects (e.g. NaN among dates): let pandas coerce
        ns = pd.to_datetime(pd.Series(a.ravel()), errors="coerce").to_numpy("datetime64[ns]")
    out = ns.view(np.int64).astype(np.float64) / _NS_PER_DAY
    out[np.isnat(ns)] = np.nan
    return out


def day_number(d: Any) -> float:
    """One date (date, datetime64, ISO string) as float days since 1970-01-01."""
    return float(np.datetime64(d, "D").astype(np.int64))


def from_days(days: Any) -> np.ndarray:
    """Float days → datetime64[ns] (NaN → NaT)."""
    d = np.asarray(days, dtype=np.float64)
    ns = np.where(np.isnan(d), 0.0, d) * _NS_PER_DAY
    out = ns.astype(np.int64).view("datetime64[ns]")
    out[np.isnan(d)] = np.datetime64("NaT")
    return out


def iso_date(days: float) -> str:
    """A day number as YYYY-MM-DD."""
    import math
    from datetime import date

    return date.fromordinal(_EPOCH_ORDINAL + math.floor(days)).isoformat()


# ------------------------------------------------------------------------------------------
# The column set
# ------------------------------------------------------------------------------------------
def derived_columns(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`DERIVED` from the date columns (days): age in years and months since the latest round."""
    return {"age_years": age_years(values), "months_since_latest_round": months_since_round(values)}


class CleanColumns(dict):
    """The clean columns of n rows (see the module docstring): a dict name → array, plus the rows' ids and
    positions. `len()` is the number of rows. Read it, never write it: a change is a new set (`replace`).

    A dict (not a wrapper) so that reading a column is a plain dict lookup: scoring one firm reads
    ~100 columns."""

    __slots__ = ("n", "firm_id", "rows", "extras", "index")

    def __init__(self, values: Mapping[str, np.ndarray], n: int, firm_id: np.ndarray, rows: np.ndarray | None = None,
                 extras: pd.DataFrame | None = None):
        super().__init__(values)
        self.n = n  # rows
        self.firm_id = firm_id  # object (n,)
        self.rows = rows  # input positions (int64); None: 0..n-1
        self.extras = extras  # columns outside the schema, row-aligned (training targets)
        self.index = pd.RangeIndex(n) if rows is None else pd.Index(rows)  # the positions for results' to_frame()

    # ---- construction
    @classmethod
    def profiles(cls, values: dict[str, np.ndarray], rows: np.ndarray | None = None,
                 extras: pd.DataFrame | None = None) -> "CleanColumns":
        """Firm-profile columns already in the convention (every field): DERIVED computed here, once."""
        values = values | derived_columns(values)
        n = len(values["firm_id"])
        return cls(values, n, np.asarray(values["firm_id"], dtype=object), rows, extras)

    @classmethod
    def of(cls, values: Mapping[str, Any], n: int | None = None) -> "CleanColumns":
        """Firm-profile columns from any mapping of field → values (tests, tools): absent fields are
        missing, dates may be datetime64 / date objects / ISO strings / days, scalars broadcast."""
        if n is None:
            n = max((np.size(v) for v in values.values() if v is not None), default=0)
        out: dict[str, np.ndarray] = {}
        for f in FIELD_NAMES:
            v = values.get(f)
            kind = FIELD_SPECS[f].kind
            if v is None:
                out[f] = np.full(n, None, dtype=object) if kind in ("enum", "text") else np.full(n, np.nan)
                continue
            a = np.asarray(v)
            a = np.repeat(a.reshape(1), n) if a.ndim == 0 else a
            if kind == "date":
                out[f] = to_days(a)
            elif kind in ("enum", "text"):
                out[f] = np.array([None if x is None or x != x else x for x in a.tolist()], dtype=object)
            else:
                out[f] = a.astype(np.float64)
        return cls.profiles(out)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "CleanColumns":
        """A clean frame (the convention's `to_frame()`: schema columns, others kept as extras) back as columns."""
        values = frame_to_columns(frame, FIELD_NAMES)
        others = [c for c in frame.columns if c not in FIELD_SPECS]
        rows = frame.index.to_numpy(dtype=np.int64)
        return cls.profiles(values, rows, frame[others] if others else None)

    # ---- reading
    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"CleanColumns({self.n} rows: {', '.join(list(self)[:5])}, …)"

    @property
    def positions(self) -> np.ndarray:
        """Input row position of each row."""
        return np.arange(self.n, dtype=np.int64) if self.rows is None else self.rows

    # ---- new column sets
    def take(self, sel: np.ndarray) -> "CleanColumns":
        """The rows `sel` (bool mask or positions, repeats allowed), with their input positions."""
        sel = np.asarray(sel)
        if sel.dtype == bool:
            sel = np.flatnonzero(sel)
        extras = None if self.extras is None else self.extras.iloc[sel]
        return CleanColumns({k: v[sel] for k, v in self.items()}, len(sel), self.firm_id[sel],
                            self.positions[sel], extras)

    def replace(self, changed: Mapping[str, np.ndarray]) -> "CleanColumns":
        """The same rows with some field columns replaced (e.g. a what-if's changed values); DERIVED
        recomputed. A derived name in `changed` is ignored."""
        values = dict(self) | {k: v for k, v in changed.items() if k not in DERIVED}
        if "as_of" in values:
            values |= derived_columns(values)
        n = len(next(iter(values.values()))) if values else self.n
        firm_id = np.asarray(values["firm_id"], dtype=object) if "firm_id" in values else self.firm_id
        return CleanColumns(values, n, firm_id, self.rows if n == self.n else None, self.extras if n == self.n else None)

    def to_frame(self) -> pd.DataFrame:
        """The clean frame: schema columns in schema order (dates datetime64[ns]), then extras; index = rows."""
        index = self.index
        profile = all(f in self for f in FIELD_NAMES)  # else a generic-mode model's columns
        names = list(FIELD_NAMES) if profile else [k for k in self if k not in DERIVED]
        series = []
        for f in names:
            kind = FIELD_SPECS[f].kind if profile else None
            v = self[f]
            if kind == "date":
                v, dtype = from_days(v), "datetime64[ns]"
            elif kind in ("number", "integer", "bool") or v.dtype.kind == "f":
                dtype = "float64"
            else:
                dtype = object
            series.append(pd.Series(np.asarray(v, dtype=dtype), index=index, dtype=dtype, copy=False))
        frame = pd.concat(series, axis=1, keys=names) if series else pd.DataFrame(index=index)
        if self.extras is not None and len(self.extras.columns):
            frame = pd.concat([frame, self.extras.set_axis(index)], axis=1)
        return frame


# ------------------------------------------------------------------------------------------
# Frames (training, tools)
# ------------------------------------------------------------------------------------------
def _series_to_array(name: str, s: pd.Series) -> np.ndarray:
    """One frame column → numpy (dates as float days, enums and text as object, the rest float64)."""
    kind = FIELD_SPECS[name].kind if name in FIELD_SPECS else None
    if kind == "date" or pd.api.types.is_datetime64_any_dtype(s.dtype):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        return to_days(s.to_numpy())
    if kind in ("enum", "text"):
        return s.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return s.to_numpy(dtype=object)


def _missing(name: str, n: int) -> np.ndarray:
    """All-missing column of the right kind."""
    kind = FIELD_SPECS[name].kind if name in FIELD_SPECS else None
    return np.full(n, None, dtype=object) if kind in ("enum", "text") else np.full(n, np.nan)


def frame_to_columns(frame: pd.DataFrame, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Clean frame → {field: numpy array}; requested fields absent from the frame become all-missing."""
    names = list(frame.columns) if fields is None else list(fields)
    n = len(frame)
    return {name: _series_to_array(name, frame[name]) if name in frame.columns else _missing(name, n)
            for name in names}
