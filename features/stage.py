"""Lifecycle stage (startup / growth / mature): declared when given, else derived from age and revenue."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from features.indicators import frame_to_columns, to_days
from features.registry import DAYS_PER_YEAR
from features.schema import FIELD_SPECS

STAGES: tuple[str, ...] = FIELD_SPECS["lifecycle_stage"].enum  # startup, growth, mature (the schema's)

# Policy defaults (domain.md §5); a bank's policy file (models/policy.py) may override them.
STARTUP_MAX_AGE_YEARS = 3.0        # age < 3 years → startup
STARTUP_MAX_REVENUE = 500.0        # revenue_y0 < 500 万元 → startup
MATURE_MIN_REVENUE = 20000.0       # revenue_y0 ≥ 20000 万元 …
MATURE_MIN_AGE_YEARS = 8.0         # … and age ≥ 8 years → mature


@dataclass(frozen=True)
class StageRules:
    """Thresholds of the derived stage: startup if age < startup_max_age_years or revenue < startup_max_revenue."""

    startup_max_age_years: float = STARTUP_MAX_AGE_YEARS
    startup_max_revenue: float = STARTUP_MAX_REVENUE
    mature_min_revenue: float = MATURE_MIN_REVENUE
    mature_min_age_years: float = MATURE_MIN_AGE_YEARS


DEFAULT_STAGE_RULES = StageRules()

_FIELDS = ("lifecycle_stage", "founded_on", "as_of", "revenue_y0")


def _column(cols: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    """Column from a mapping, missing → NaN/None array of length n."""
    v = cols.get(name)
    if v is None:
        return np.full(n, None, dtype=object) if name == "lifecycle_stage" else np.full(n, np.nan)
    a = np.asarray(v)
    a = a.reshape(1) if a.ndim == 0 else a
    if name == "lifecycle_stage":
        return a.astype(object)
    if name in ("founded_on", "as_of"):
        return to_days(a)
    return a.astype(np.float64)


def derive_stage(frame_or_cols: pd.DataFrame | Mapping[str, Any], rules: StageRules = DEFAULT_STAGE_RULES) -> np.ndarray:
    """Stage per row (object array): declared lifecycle_stage wins, else the age/revenue rules."""
    if isinstance(frame_or_cols, pd.DataFrame):
        n = len(frame_or_cols)
        cols: Mapping[str, Any] = frame_to_columns(frame_or_cols, _FIELDS)
    else:
        cols = frame_or_cols
        n = next((np.size(v) for v in cols.values() if v is not None), 0)
    declared = _column(cols, "lifecycle_stage", n)
    revenue = _column(cols, "revenue_y0", n)
    age = (_column(cols, "as_of", n) - _column(cols, "founded_on", n)) / DAYS_PER_YEAR
    # NaN comparisons are False, so unknown age and revenue fall through to growth.
    startup = (age < rules.startup_max_age_years) | (revenue < rules.startup_max_revenue)
    mature = (revenue >= rules.mature_min_revenue) & (age >= rules.mature_min_age_years)
    derived = np.where(startup, "startup", np.where(mature, "mature", "growth")).astype(object)
    given = np.zeros(n, dtype=bool)
    for stage in STAGES:  # element-wise == copes with None/NaN mixed into object arrays
        given |= declared == stage
    return np.where(given, declared, derived).astype(object)
