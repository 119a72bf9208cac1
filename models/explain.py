"""Exact additive attribution for a LightGBM model whose every tree splits on one indicator.

Such a model is a sum of one-dimensional step functions, one per indicator, so it compiles
to a lookup table per indicator: sorted split thresholds and the summed contribution of that
indicator's trees in each interval (plus one value for a missing input). Evaluating the
tables gives the raw log-odds and, at the same time, each indicator's exact contribution —
identical to TreeSHAP for an additive model, at the cost of one `searchsorted` per column.

Training then shapes each step function into a continuous piecewise-linear curve
(`CurveTables`: knots and the contribution at each knot, flat beyond the ends; training.shape):
still one exact additive contribution per indicator, at the cost of one `np.interp` per column.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only compiling a booster needs LightGBM; evaluating the tables does not
    import lightgbm as lgb


SMALL_BATCH = 64  # up to this many rows, contributions use padded matrices instead of a loop per feature


class NotAdditiveError(ValueError):
    """The booster has a tree that splits on more than one feature."""


def _splits(node: dict, out: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """(feature, threshold) of every split below `node` in a dumped LightGBM tree."""
    if "split_feature" in node:
        out.append((int(node["split_feature"]), float(node["threshold"])))
        _splits(node["left_child"], out)
        _splits(node["right_child"], out)
    return out


@dataclass
class AdditiveTables:
    """Per-feature step functions equal to a single-feature-tree LightGBM model."""

    bias: float
    breaks: list[np.ndarray]  # sorted thresholds of feature f (split rule: x <= t goes left)
    values: list[np.ndarray]  # contribution in each of the len(breaks)+1 intervals
    missing: np.ndarray  # contribution of a missing (NaN) value, per feature

    @classmethod
    def from_booster(cls, booster: lgb.Booster) -> "AdditiveTables":
        """Compile the booster; the contributions come from LightGBM's own `pred_contrib`."""
        n_feat = booster.num_feature()
        per_feature: list[list[float]] = [[] for _ in range(n_feat)]
        for tree in booster.dump_model()["tree_info"]:
            splits = _splits(tree["tree_structure"], [])
            used = {f for f, _ in splits}
            if len(used) > 1:
                raise NotAdditiveError(f"tree {tree['tree_index']} splits on features {sorted(used)}")
            if used:
                per_feature[used.pop()].extend(t for _, t in splits)
        breaks = [np.unique(np.asarray(t, dtype=float)) for t in per_feature]
        probe, spans = _probe_matrix(breaks)
        contrib = booster.predict(probe, pred_contrib=True)
        values, missing = [], np.empty(n_feat)
        for f, (start, stop) in enumerate(spans):
            values.append(contrib[start : stop - 1, f].copy())
            missing[f] = contrib[stop - 1, f]
        return cls(float(contrib[0, -1]), breaks, values, missing)

    def contributions(self, X: np.ndarray, fill: "Fill | None" = None) -> np.ndarray:
        """Raw log-odds contribution of every feature for every row, shape (n, k); `fill` as in
        `CurveTables.contributions`."""
        if len(X) <= SMALL_BATCH:
            out = self._contributions_padded(np.asarray(X, dtype=float))
        else:
            X = np.asfortranarray(X, dtype=float)  # column-major: each feature's column is contiguous
            out = np.empty_like(X, order="F")
            for f, (br, val) in enumerate(self._with_missing):
                out[:, f] = val[np.searchsorted(br, X[:, f], side="left")]
        if fill is not None:
            rows, cols = np.nonzero(np.isnan(X))
            weights, table = fill
            out[rows, cols] = np.einsum("ij,ji->i", weights[rows], table[:, cols])
        return out

    @cached_property
    def _with_missing(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per feature, breaks ending with +inf and values ending with the missing value: numpy sorts NaN
        after +inf, so `searchsorted` sends NaN to that last value and no separate NaN pass is needed."""
        return [(np.append(br, np.inf), np.append(val, m)) for br, val, m in zip(self.breaks, self.values, self.missing)]

    @cached_property
    def _padded(self) -> tuple[np.ndarray, np.ndarray]:
        """Breaks padded with +inf to one (k, B) matrix and values to (k, B + 1), for small batches."""
        width = max((br.size for br in self.breaks), default=0)
        breaks = np.full((len(self.breaks), width), np.inf)
        values = np.zeros((len(self.breaks), width + 1))
        for f, (br, val) in enumerate(zip(self.breaks, self.values)):
            breaks[f, : br.size] = br
            values[f, : val.size] = val
        return breaks, values

    def _contributions_padded(self, X: np.ndarray) -> np.ndarray:
        """Same result as the per-feature searchsorted, in three array operations (a few rows: per-call cost rules)."""
        breaks, values = self._padded
        idx = (breaks[None, :, :] < X[:, :, None]).sum(axis=2)  # = searchsorted(side="left"); NaN → 0
        out = values[np.arange(X.shape[1])[None, :], idx]
        return np.where(np.isnan(X), self.missing[None, :], out)

    def raw_score(self, X: np.ndarray, fill: "Fill | None" = None) -> np.ndarray:
        return self.bias + self.contributions(X, fill).sum(axis=1)

    def at(self, f: int, x: np.ndarray) -> np.ndarray:
        """Contribution of feature f at values x (NaN → the missing contribution)."""
        br, val = self._with_missing[f]
        return val[np.searchsorted(br, np.asarray(x, dtype=float), side="left")]

    def to_dict(self) -> dict:
        """Plain lists (for storing a table-only model such as the WoE scorecard in a bundle)."""
        return {"bias": self.bias, "breaks": [b.tolist() for b in self.breaks],
                "values": [v.tolist() for v in self.values], "missing": self.missing.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "AdditiveTables":
        if d.get("kind") == CurveTables.KIND:
            return CurveTables.from_dict(d)  # type: ignore[return-value]
        return cls(float(d["bias"]), [np.asarray(b, dtype=float) for b in d["breaks"]],
                   [np.asarray(v, dtype=float) for v in d["values"]], np.asarray(d["missing"], dtype=float))

    def curve(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Breakpoints and interval contributions of feature f (for monotonicity checks and reports)."""
        return self.breaks[f], self.values[f]


Fill = tuple[np.ndarray, np.ndarray]  # (row weights (n, S), missing contribution per S and feature (S, F))


@dataclass
class CurveTables:
    """Per-feature continuous piecewise-linear curves: contribution = np.interp(x, knots, levels) (flat
    beyond the first and last knot), `missing` for a missing value unless the caller's fill says otherwise."""

    KIND = "curve"

    bias: float
    knots: list[np.ndarray]  # strictly increasing, at least one per feature
    levels: list[np.ndarray]  # contribution (raw log-odds) at each knot
    missing: np.ndarray  # contribution of a missing value the model learned, per feature

    def contributions(self, X: np.ndarray, fill: Fill | None = None) -> np.ndarray:
        """Raw log-odds contribution of every feature for every row, shape (n, k).

        `fill` = (weights, table): a missing value of row i and feature f contributes
        weights[i] @ table[:, f] instead of the learned `missing` (the bank's treatment of missing data).
        """
        X = np.asarray(X, dtype=float)
        if len(X) <= SMALL_BATCH:
            out = self._contributions_padded(X)
        else:
            X = np.asfortranarray(X)
            out = np.empty_like(X, order="F")
            for f, (k, v) in enumerate(zip(self.knots, self.levels)):
                out[:, f] = np.interp(X[:, f], k, v)  # NaN in, NaN out: filled below
        nan = np.isnan(out)
        if nan.any():
            rows, cols = np.nonzero(nan)
            if fill is None:
                out[rows, cols] = self.missing[cols]
            else:
                weights, table = fill
                out[rows, cols] = np.einsum("ij,ji->i", weights[rows], table[:, cols])
        return out

    @cached_property
    def _padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Knots padded with +inf to one (k, B) matrix, levels and slopes likewise, and the last index per feature."""
        width = max(k.size for k in self.knots)
        knots = np.full((len(self.knots), width), np.inf)
        levels = np.zeros((len(self.knots), width))
        slopes = np.zeros((len(self.knots), width))
        last = np.empty(len(self.knots), dtype=np.intp)
        for f, (k, v) in enumerate(zip(self.knots, self.levels)):
            knots[f, : k.size], levels[f, : k.size], last[f] = k, v, k.size - 1
            levels[f, k.size:] = v[-1]
            slopes[f, : k.size - 1] = (v[1:] - v[:-1]) / (k[1:] - k[:-1])  # np.interp's own formula
        return knots, levels, slopes, last

    def _contributions_padded(self, X: np.ndarray) -> np.ndarray:
        """Same values as the per-feature `np.interp`, in a few array operations (a few rows: per-call cost rules)."""
        knots, levels, slopes, last = self._padded
        feats = np.arange(X.shape[1])[None, :]
        j = (knots[None, :, :] <= X[:, :, None]).sum(axis=2) - 1  # last knot ≤ x; −1 below the first
        below, beyond = j < 0, j >= last[None, :]
        j = np.clip(j, 0, last[None, :])
        out = slopes[feats, j] * (X - knots[feats, j]) + levels[feats, j]
        out = np.where(below, levels[:, 0][None, :], out)
        out = np.where(beyond, levels[feats, last[None, :]], out)
        return np.where(np.isnan(X), np.nan, out)

    def raw_score(self, X: np.ndarray, fill: Fill | None = None) -> np.ndarray:
        return self.bias + self.contributions(X, fill).sum(axis=1)

    def curve(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Knots and the contribution at each knot of feature f (for monotonicity checks and reports)."""
        return self.knots[f], self.levels[f]

    def at(self, f: int, x: np.ndarray) -> np.ndarray:
        """Contribution of feature f at values x (NaN → the learned missing contribution)."""
        out = np.interp(np.asarray(x, dtype=float), self.knots[f], self.levels[f])
        return np.where(np.isnan(out), self.missing[f], out)

    def to_dict(self) -> dict:
        return {"kind": self.KIND, "bias": self.bias, "knots": [k.tolist() for k in self.knots],
                "levels": [v.tolist() for v in self.levels], "missing": self.missing.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "CurveTables":
        return cls(float(d["bias"]), [np.asarray(k, dtype=float) for k in d["knots"]],
                   [np.asarray(v, dtype=float) for v in d["levels"]], np.asarray(d["missing"], dtype=float))


def _probe_matrix(breaks: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One row per interval of each feature (and one NaN row), other features missing."""
    rows, spans, start = [], [], 0
    for f, br in enumerate(breaks):
        reps = np.concatenate([br, [np.nextafter(br[-1], np.inf)] if br.size else [0.0], [np.nan]])
        block = np.full((reps.size, len(breaks)), np.nan)
        block[:, f] = reps
        rows.append(block)
        spans.append((start, start + reps.size))
        start += reps.size
    return np.vstack(rows), spans
