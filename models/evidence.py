"""How much the data supports a score: the bank's treatment of missing values and the minimum data
coverage per dimension below which the answer is "refer: insufficient data".

Both are set when the model is trained (training.train.TrainConfig, stored in the bundle's
`extras["explain"]`) and may be overridden for scoring (`Scorer(bundle, evidence=Evidence(...))`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.stage import STAGES

STAGE_KEYS: tuple[str, ...] = (*STAGES, "all")  # "all": generic-mode rows, compared with every training row
DEFAULT_MIN_COVERAGE = 0.25


@dataclass(frozen=True)
class Evidence:
    """`missing_quantile`: a missing indicator gets at most the points of this quantile of its stage's
    firms (0.25 = the lower quartile, 0 = the worst), or the model's own missing effect when that is
    worse; `min_coverage`: the least share of a dimension's indicators with a value."""

    missing_quantile: float | None = None
    min_coverage: float | None = None


def missing_fill(explain: dict[str, Any], quantile: float) -> np.ndarray:
    """(len(STAGE_KEYS), F) contribution (log-odds) of a missing value per stage key: the contribution at
    the `quantile` of the stage's points (interpolated on the stored grid), or the learned missing
    effect when that is worse (more log-odds of default = fewer points)."""
    grid = np.asarray(explain["missing_grid"])
    q = explain["contribution_quantiles"]
    if not 0.0 <= quantile <= grid[-1]:
        raise ValueError(f"missing_quantile must lie in [0, {grid[-1]:g}], got {quantile}")
    rows = []
    for s in STAGE_KEYS:
        table = np.asarray(q.get(s, q["all"]))  # (grid, F)
        rows.append([np.interp(quantile, grid, table[:, f]) for f in range(table.shape[1])])
    return np.maximum(np.asarray(rows), np.asarray(explain["learned_missing"])[None, :])


def coverage(present: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """(n, G) share of each group's features that have a value."""
    out = np.empty((present.shape[0], len(groups)))
    for g, cols in enumerate(groups):
        out[:, g] = present[:, cols].mean(axis=1) if cols.size else 1.0
    return out
