"""Clean frame → indicator matrix, as a stateless scikit-learn transformer plus a numpy fast path."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.registry import DATE_FIELDS, ENUM_FIELDS, INDICATOR_KEYS, INDICATORS, INPUT_FIELDS

_NS_PER_DAY = 86_400e9
_K = len(INDICATORS)


def to_days(values: Any) -> np.ndarray:
    """Dates (datetime64, date objects, ISO strings) → float days since 1970-01-01, NaT → NaN."""
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


def _series_to_array(name: str, s: pd.Series) -> np.ndarray:
    """One frame column → numpy (dates as float days, enums as object, the rest float64)."""
    if name in DATE_FIELDS or pd.api.types.is_datetime64_any_dtype(s.dtype):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        return to_days(s.to_numpy())
    if name in ENUM_FIELDS:
        return s.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return s.to_numpy(dtype=object)


def frame_to_columns(frame: pd.DataFrame, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Clean frame → {field: numpy array}; requested fields absent from the frame become all-missing."""
    names = list(frame.columns) if fields is None else list(fields)
    n = len(frame)
    cols: dict[str, np.ndarray] = {}
    for name in names:
        if name in frame.columns:
            cols[name] = _series_to_array(name, frame[name])
        else:
            cols[name] = _missing(name, n)
    return cols


def _missing(name: str, n: int) -> np.ndarray:
    """All-missing column of the right kind."""
    return np.full(n, None, dtype=object) if name in ENUM_FIELDS else np.full(n, np.nan)


def _coerce(name: str, value: Any) -> np.ndarray:
    """One caller-supplied column → the array kind indicator fns expect."""
    a = np.asarray(value)
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
        for j, ind in enumerate(INDICATORS):
            out[:, j] = ind.fn(c)
    # Guarantee: values are finite or NaN, never ±inf.
    out[np.isinf(out)] = np.nan
    return out


class IndicatorTransformer(TransformerMixin, BaseEstimator):
    """Stateless transformer: clean frame → DataFrame of indicators (columns = INDICATOR_KEYS)."""

    def fit(self, X: Any, y: Any = None) -> "IndicatorTransformer":
        """Record input shape/names (sklearn conventions); nothing is learned."""
        columns = getattr(X, "columns", None)
        if columns is not None:
            self.n_features_in_ = len(columns)
            if all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif isinstance(X, Mapping):
            self.n_features_in_ = len(X)
            self.feature_names_in_ = np.asarray(list(X), dtype=object)
        return self

    def transform(self, X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
        """Clean frame → float64 DataFrame, same index, columns = INDICATOR_KEYS."""
        if isinstance(X, pd.DataFrame):
            values = transform_columns(frame_to_columns(X, INPUT_FIELDS), n=len(X))
            index = X.index
        else:
            values = transform_columns(X)
            index = pd.RangeIndex(len(values))
        return pd.DataFrame(values, index=index, columns=list(INDICATOR_KEYS))

    def transform_columns(self, cols: Mapping[str, Any]) -> np.ndarray:
        """Fast path for single-request scoring: columns → ndarray (n, k)."""
        return transform_columns(cols)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Indicator keys in output order (input_features is ignored: outputs are fixed)."""
        return np.asarray(INDICATOR_KEYS, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        """Stateless: always usable without fit."""
        return True

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        """Declare statelessness and that inputs may contain NaN / non-numeric columns."""
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags
