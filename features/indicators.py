"""Clean columns → indicator matrix: the numpy path scoring uses (the scikit-learn transformer is in features.transformer)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from features.clean import to_days
from features.registry import DATE_FIELDS, ENUM_FIELDS, FORM_KINDS, INDICATORS, INPUT_FIELDS, Form

_K = len(INDICATORS)
# Form-built indicators grouped by kind: (their columns, their input fields per argument position).
_STACKED = {kind: ([j for j, i in enumerate(INDICATORS) if isinstance(i.fn, Form) and i.fn.kind == kind],
                   list(zip(*(i.fn.fields for i in INDICATORS if isinstance(i.fn, Form) and i.fn.kind == kind))))
            for kind in FORM_KINDS}
_OTHERS = [(j, i.fn) for j, i in enumerate(INDICATORS) if not isinstance(i.fn, Form)]


def _missing(name: str, n: int) -> np.ndarray:
    """All-missing column of the right kind."""
    return np.full(n, None, dtype=object) if name in ENUM_FIELDS else np.full(n, np.nan)


def _coerce(name: str, value: Any) -> np.ndarray:
    """One caller-supplied column → the array kind indicator fns expect."""
    a = np.asarray(value)
    if a.dtype == np.float64 and a.ndim == 1:  # numbers, and dates already in days: as they are
        return a
    if a.ndim == 0:
        a = a.reshape(1)
    if name in DATE_FIELDS:
        return to_days(a)
    if name in ENUM_FIELDS:
        return a if a.dtype == object else a.astype(object)
    return a if a.dtype == np.float64 else a.astype(np.float64)


def prepare_columns(cols: Mapping[str, Any], n: int | None = None) -> dict[str, np.ndarray]:
    """Every indicator input as a length-n array (absent → missing); n inferred when not given."""
    if n is None:
        n = next((np.size(v) for v in cols.values() if v is not None), 0)
    out: dict[str, np.ndarray] = {}
    for name in INPUT_FIELDS:
        v = cols.get(name)
        out[name] = _missing(name, n) if v is None else _coerce(name, v)
    return out


def transform_columns(cols: Mapping[str, Any], n: int | None = None) -> np.ndarray:
    """Fast path: raw columns → float64 matrix (n, k) in INDICATOR_KEYS order, NaN for missing."""
    c = prepare_columns(cols, n)
    rows = len(next(iter(c.values()))) if c else 0
    out = np.empty((rows, _K), dtype=np.float64, order="F")  # column-major: filled and looked up per column
    with np.errstate(all="ignore"):
        for kind, (where, fields) in _STACKED.items():  # one call per kind, on (indicators, rows) stacks
            if where:
                out[:, where] = FORM_KINDS[kind](*(np.array([c[f] for f in arg]) for arg in fields)).T
        for j, fn in _OTHERS:
            out[:, j] = fn(c)
    # Guarantee: values are finite or NaN, never ±inf.
    out[np.isinf(out)] = np.nan
    return out
