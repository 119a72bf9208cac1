"""Additive models combined in log-odds: w₁·f₁ + w₂·f₂ + c is again one lookup table per feature.

The boosted champion and the WoE scorecard are both sums of one step function per feature, so a
blend with positive weights is too: its breaks are the union of both models' breaks, and its
value on each interval is the weighted sum of the two values there. Points and reasons of the
blend stay exact, and a feature monotone in both models stays monotone in the blend.
"""
from __future__ import annotations

import numpy as np

from features.columns import rank_auc
from models.explain import AdditiveTables


def combine(parts: list[tuple[AdditiveTables, float]], intercept: float = 0.0) -> AdditiveTables:
    """Σ wᵢ·tablesᵢ + intercept as one AdditiveTables (same split rule: x ≤ break goes left)."""
    n_feat = len(parts[0][0].breaks)
    breaks, values = [], []
    for f in range(n_feat):
        merged = np.unique(np.concatenate([t.breaks[f] for t, _ in parts]))
        probe = np.append(merged, np.inf)  # one point per merged interval, the last one open-ended
        val = np.zeros(probe.size)
        for t, w in parts:
            val += w * t.values[f][np.searchsorted(t.breaks[f], probe, side="left")]
        breaks.append(merged)
        values.append(val)
    missing = sum(w * t.missing for t, w in parts)
    bias = intercept + sum(w * t.bias for t, w in parts)
    return AdditiveTables(float(bias), breaks, values, np.asarray(missing, dtype=float))


MIX_GRID = np.round(np.arange(0.1, 0.91, 0.1), 2)  # 0 and 1 are the two models on their own


def mix_weight(zc: np.ndarray, zw: np.ndarray, y: np.ndarray) -> float:
    """Share α of the champion in α·zc + (1 − α)·zw (both calibrated log-odds) with the best AUC."""
    aucs = [rank_auc(y, a * zc + (1 - a) * zw) for a in MIX_GRID]
    return float(MIX_GRID[int(np.argmax(aucs))])


def cross_fitted_mix(zc: np.ndarray, zw: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Blended log-odds of each fold with α chosen on the other folds (no row chooses its own weight)."""
    out = np.empty(len(y))
    for k in np.unique(fold_of):
        rows = fold_of == k
        a = mix_weight(zc[~rows], zw[~rows], y[~rows])
        out[rows] = a * zc[rows] + (1 - a) * zw[rows]
    return out
