"""Shape a compiled additive model into curves a credit committee can sign.

A boosted single-feature-tree model is a step function per indicator: it can jump by many points
between two close values, and an unconstrained indicator can wiggle. `shape_tables` turns every
step function into a continuous piecewise-linear curve:

1. shape: monotone in the declared direction (weighted isotonic regression, a no-op where LightGBM's
   monotone constraints already hold), or single-peaked — risk lowest on one interval, the "sound
   range" — by the best weighted unimodal fit (every valley position tried), or, when the registry
   declares the sound range (`Indicator.sound`), the best fit that is lowest and flat on it (its
   ramps kept outside it), so indicators sharing an input can be built around the same range;
2. smoothness: each jump of the step function becomes a linear ramp over ± `rel_width` of its
   threshold (at least `abs_width` of the indicator's central 90% range), so a small change of an
   input moves the score by a bounded amount (bench/bench_explain.py measures the largest move);
3. the sum of the ramps is written as knots and levels (`models.explain.CurveTables`), evaluated
   exactly by `np.interp`: points stay exact and additive.

The missing-value contribution the model learned is kept; scoring applies the bank's treatment.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Mapping

import numpy as np
from sklearn.isotonic import isotonic_regression

from features.indicators import transform_columns
from features.registry import INDICATORS
from features.schema import FIELD_SPECS
from models.explain import AdditiveTables, CurveTables

REL_WIDTH = 0.12      # a jump at threshold t ramps over t × (1 ± 0.12)
ABS_WIDTH = 0.03      # … and over at least ± 3% of the indicator's 5–95% range
# Largest log-odds one indicator may move for a 1% change of one raw input (1.5 points at PDO 20;
# an input feeds several indicators, whose moves add up):
# slopes steeper than that where training firms lie are flattened (`limit_slopes`).
SLOPE_BUDGET = 1.5 / (20.0 / np.log(2.0))
SENSITIVITY_ROWS = 8_000  # training rows sampled to measure how far 1% of an input moves each indicator


@dataclass(frozen=True)
class ShapeReport:
    """Per feature: the shape used and, for single-peaked ones, the sound range (lowest risk)."""

    shapes: list[str]
    optimum: list[tuple[float, float] | None]

    def to_dict(self) -> dict:
        return {"shapes": self.shapes, "optimum": [None if o is None else list(o) for o in self.optimum]}


def _isotonic(y: np.ndarray, w: np.ndarray, increasing: bool) -> np.ndarray:
    return isotonic_regression(y, sample_weight=w, increasing=increasing) if y.size > 1 else y.copy()


def _valley(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, int]:
    """Best weighted fit of y (log-odds per interval) that falls then rises, and its lowest interval."""
    best, best_err, best_p = y.copy(), np.inf, 0
    for p in range(y.size):
        left = _isotonic(y[: p + 1], w[: p + 1], increasing=False)
        right = _isotonic(y[p:], w[p:], increasing=True)
        # the two fits share interval p: keep the lower (both sides then still fall / rise into it)
        fit = np.concatenate([left[:-1], [min(left[-1], right[0])], right[1:]])
        err = float(np.sum(w * (fit - y) ** 2))
        if err < best_err - 1e-12:
            best, best_err, best_p = fit, err, p
    return best, int(np.argmin(best)) if best.size else best_p


def _valley_on(y: np.ndarray, w: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Best weighted fit of y that falls then rises and is lowest, and equal, on intervals lo..hi."""
    pooled = np.average(y[lo:hi + 1], weights=w[lo:hi + 1])
    wp = w[lo:hi + 1].sum()
    left = _isotonic(np.r_[y[:lo], pooled], np.r_[w[:lo], wp], increasing=False)
    right = _isotonic(np.r_[pooled, y[hi + 1:]], np.r_[wp, w[hi + 1:]], increasing=True)
    return np.concatenate([left[:-1], np.full(hi - lo + 1, min(left[-1], right[0])), right[1:]])


def _outside(breaks: np.ndarray, half: np.ndarray, sound: tuple[float, float]) -> np.ndarray:
    """Ramp centres moved (if need be) so that no ramp reaches into the sound range."""
    lo, hi = sound
    return np.where(breaks < lo, np.minimum(breaks, lo - half), np.maximum(breaks, hi + half))


def _ramps(breaks: np.ndarray, values: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots and levels of v0 + Σ jump_j × clip((x − t_j + h_j) / 2h_j, 0, 1)."""
    jumps = np.diff(values)
    keep = jumps != 0.0
    t, h, jumps = breaks[keep], half[keep], jumps[keep]
    if not t.size:
        return np.array([breaks[0] if breaks.size else 0.0]), np.array([values[0]])
    knots = np.unique(np.concatenate([t - h, t + h]))
    ramp = np.clip((knots[:, None] - (t - h)[None, :]) / (2.0 * h)[None, :], 0.0, 1.0)
    return knots, values[0] + ramp @ jumps


def _monotone_levels(levels: np.ndarray, shape: str) -> np.ndarray:
    """Guard the shape on the knots (overlapping ramps of a valley's two sides may add up unevenly):
    values move away from the best level only, towards more risk (conservative)."""
    if shape == "increasing":
        return np.maximum.accumulate(levels)
    if shape == "decreasing":
        return np.maximum.accumulate(levels[::-1])[::-1]
    if shape == "peak":
        p = int(np.argmin(levels))
        left = np.maximum.accumulate(levels[: p + 1][::-1])[::-1]
        right = np.maximum.accumulate(levels[p:])
        return np.concatenate([left[:-1], right])
    return levels


def _spread(x: np.ndarray) -> float:
    """The 5–95% range of an indicator's values, or of its non-zero values when zeros dominate (a
    zero-inflated indicator's ramps must still be as wide as the range where its values vary)."""
    if not x.size:
        return 0.0
    spread = float(np.subtract(*np.quantile(x, [0.95, 0.05])))
    nonzero = x[x != 0.0]
    if nonzero.size >= 20:
        spread = max(spread, float(np.subtract(*np.quantile(nonzero, [0.95, 0.05]))))
    return spread


def age_shifted(cols: Mapping[str, np.ndarray], factor: float) -> np.ndarray:
    """founded_on (float days) such that the age as_of − founded_on is multiplied by factor."""
    as_of, founded = np.asarray(cols["as_of"], dtype=float), np.asarray(cols["founded_on"], dtype=float)
    return as_of - (as_of - founded) * factor


def input_sensitivity(cols: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """(n, F): the largest change of each indicator when one numeric raw input (or the age) of the row
    moves by ±1% — how far along its curve a 1% change can carry a firm."""
    used = {f for ind in INDICATORS for f in ind.inputs}
    fields = [f for f, spec in FIELD_SPECS.items() if spec.kind in ("number", "integer") and f in used]
    out = np.zeros_like(X)
    for field in [*fields, "age"]:
        for factor in (1.01, 0.99):
            changed = dict(cols)
            if field == "age":
                changed["founded_on"] = age_shifted(cols, factor)
            else:
                changed[field] = np.asarray(cols[field], dtype=float) * factor
            moved = np.abs(transform_columns(changed) - X)
            np.maximum(out, np.where(np.isnan(moved), 0.0, moved), out=out)
    return out


def limit_slopes(knots: np.ndarray, levels: np.ndarray, x: np.ndarray, s: np.ndarray,
                 budget: float = SLOPE_BUDGET) -> np.ndarray:
    """Flatten the segments where a training firm at x could move more than `budget` log-odds when a 1%
    change of an input moves its value by s; the curve keeps its shape and, over those firms, its mean."""
    if knots.size < 2:
        return levels
    seg = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2)
    reach = np.zeros(knots.size - 1)
    np.maximum.at(reach, seg, s)
    reach = np.maximum(reach, np.maximum(np.r_[reach[1:], 0.0], np.r_[0.0, reach[:-1]]))  # firms near a segment
    with np.errstate(divide="ignore"):
        allowed = np.where(reach > 0, budget / reach, np.inf) * np.diff(knots)
    steps = np.clip(np.diff(levels), -allowed, allowed)
    out = levels[0] + np.r_[0.0, np.cumsum(steps)]
    if x.size:  # keep the firms' mean contribution (the calibration's intercept is refitted anyway)
        out += np.mean(np.interp(x, knots, levels)) - np.mean(np.interp(x, knots, out))
    return out


def shape_of(direction: int, peak: bool) -> str:
    if direction > 0:
        return "increasing"
    if direction < 0:
        return "decreasing"
    return "peak" if peak else "free"


def shape_tables(tables: AdditiveTables, X: np.ndarray, shapes: list[str], rel_width: float = REL_WIDTH,
                 abs_width: float = ABS_WIDTH, sensitivity: tuple[np.ndarray, np.ndarray] | None = None,
                 sounds: list[tuple[float, float] | None] | None = None) -> tuple[CurveTables, ShapeReport]:
    """Curves from step tables, weighted by the training rows `X` (see the module docstring);
    `sensitivity` = (rows of X, `input_sensitivity` of those rows) bounds each curve's slope; `sounds`
    (per feature, None or a declared sound range of a "peak" feature) fixes where the curve is lowest."""
    knots, levels, optimum = [], [], []
    for f, shape in enumerate(shapes):
        sound = sounds[f] if sounds is not None and shape == "peak" else None
        br, val = tables.breaks[f], tables.values[f]
        x = X[:, f][~np.isnan(X[:, f])]
        w = np.bincount(np.searchsorted(br, x, side="left"), minlength=val.size).astype(float) + 1e-3
        if shape in ("increasing", "decreasing"):
            val = _isotonic(val, w, increasing=shape == "increasing")
        elif sound is not None:
            val = _valley_on(val, w, *np.searchsorted(br, sound, side="left"))
        elif shape == "peak":
            val, _ = _valley(val, w)
        spread = _spread(x)
        half = np.maximum(rel_width * np.abs(br), max(abs_width * spread, 1e-6))
        k, v = _ramps(br if sound is None else _outside(br, half, sound), val, half)
        if sound is not None:  # the range's ends are knots: the optimum reported covers it
            k, v = np.union1d(k, sound), np.interp(np.union1d(k, sound), k, v)
        v = _monotone_levels(v, shape)
        if sensitivity is not None:
            xs, ss = sensitivity[0][:, f], sensitivity[1][:, f]
            known = ~np.isnan(xs)
            v = limit_slopes(k, v, xs[known], ss[known])
        knots.append(k)
        levels.append(v)
        if shape == "peak":
            low = np.flatnonzero(v <= v.min() + 1e-12)
            optimum.append((float(k[low[0]]), float(k[low[-1]])))
        else:
            optimum.append(None)
    return CurveTables(tables.bias, knots, levels, tables.missing.copy()), ShapeReport(list(shapes), optimum)
