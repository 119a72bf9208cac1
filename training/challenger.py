"""Challenger: a classic weight-of-evidence logistic-regression scorecard on the same split.

Binning uses the training rows only: decile bins per feature (plus a missing bin), merged by
pool-adjacent-violators (isotonic regression on the bins' default rates, weighted by their
counts) until the default rate is monotone in the feature's declared direction. Features
without a declared direction keep their decile bins. A scorecard is additive by construction,
so it compiles to the same lookup tables as the champion and can be scored by the same core.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from models.drift import bin_counts, bin_edges
from models.explain import AdditiveTables

N_BINS = 10
SMOOTH = 0.5  # pseudo-count per bin, so an all-good or all-bad bin has a finite WoE
MIN_MISSING = 30  # a missing bin with fewer training rows gets WoE 0 (neutral)
NAME = "woe_logistic"


def _merge_monotone(edges: np.ndarray, bad: np.ndarray, total: np.ndarray, direction: int) -> np.ndarray:
    """Drop inner edges between bins that isotonic regression pools together."""
    if direction == 0 or edges.size == 0:
        return edges
    keep = total > 0
    rate = np.divide(bad, total, out=np.zeros_like(bad), where=keep)
    iso = IsotonicRegression(increasing=direction > 0)
    fitted = iso.fit(np.arange(len(rate))[keep], rate[keep], sample_weight=total[keep]).predict(np.arange(len(rate)))
    # edge i separates bin i from bin i+1: keep it only where the pooled rate changes
    return edges[~np.isclose(np.diff(fitted), 0.0, atol=1e-12)]


def _woe(bad: np.ndarray, total: np.ndarray, bad_all: float, good_all: float) -> np.ndarray:
    """ln(share of goods / share of bads) per bin (higher = safer), smoothed."""
    good = total - bad
    return np.log(((good + SMOOTH) / (good_all + SMOOTH)) / ((bad + SMOOTH) / (bad_all + SMOOTH)))


@dataclass
class FeatureBins:
    edges: np.ndarray  # inner edges; bin i is (edges[i-1], edges[i]]
    woe: np.ndarray  # len(edges) + 1
    woe_missing: float


def fit_bins(x: np.ndarray, y: np.ndarray, direction: int, n_bins: int = N_BINS) -> FeatureBins:
    """Monotone WoE bins of one feature from training rows."""
    bad_all, good_all = float(y.sum()), float(len(y) - y.sum())
    edges = bin_edges(x, n_bins)
    nan = np.isnan(x)
    total = bin_counts(x, edges)
    bad = bin_counts(np.where(y == 1, x, np.nan), edges)
    bad[-1] = np.sum(nan & (y == 1))  # the missing bin of the bads
    edges = _merge_monotone(edges, bad[:-1], total[:-1], direction)
    total = bin_counts(x, edges)
    bad = bin_counts(np.where(y == 1, x, np.nan), edges)
    bad[-1] = np.sum(nan & (y == 1))
    woe = _woe(bad, total, bad_all, good_all)
    woe_missing = float(woe[-1]) if total[-1] >= MIN_MISSING else 0.0
    return FeatureBins(edges, woe[:-1], woe_missing)


@dataclass
class WoeScorecard:
    """Per-feature WoE bins and a logistic regression on the WoE values."""

    bins: list[FeatureBins]
    coef: np.ndarray
    intercept: float

    def woe_matrix(self, X: np.ndarray) -> np.ndarray:
        out = np.empty_like(X, dtype=float)
        for j, b in enumerate(self.bins):
            col = X[:, j]
            w = b.woe[np.searchsorted(b.edges, col, side="left")]
            out[:, j] = np.where(np.isnan(col), b.woe_missing, w)
        return out

    def tables(self) -> AdditiveTables:
        """The scorecard as lookup tables whose raw score is logit(PD) (no further calibration)."""
        return AdditiveTables(
            bias=float(self.intercept),
            breaks=[b.edges.copy() for b in self.bins],
            values=[c * b.woe for c, b in zip(self.coef, self.bins)],
            missing=np.array([c * b.woe_missing for c, b in zip(self.coef, self.bins)]),
        )

    def predict_pd(self, X: np.ndarray) -> np.ndarray:
        logit = self.intercept + self.woe_matrix(X) @ self.coef
        return 1.0 / (1.0 + np.exp(-logit))

    def summary(self, names: list[str]) -> list[dict[str, Any]]:
        """Bins and coefficient per feature (for the report and the manifest)."""
        return [{"feature": n, "bins": int(len(b.woe)), "coef": round(float(c), 6)} for n, b, c in zip(names, self.bins, self.coef)]


def fit_challenger(X: np.ndarray, y: np.ndarray, train_rows: np.ndarray, directions: list[int], n_bins: int = N_BINS,
                   min_iv: float = 0.0) -> WoeScorecard:
    """Bin and fit on `train_rows` only; no other row of X or y is read. Features whose information
    value (E_good[WoE] − E_bad[WoE]) is below `min_iv` are left out, as a scorecard modeller would."""
    Xt, yt = X[train_rows], y[train_rows]
    bins = [fit_bins(Xt[:, j], yt, d, n_bins) for j, d in enumerate(directions)]
    card = WoeScorecard(bins, np.zeros(len(bins)), 0.0)
    W = card.woe_matrix(Xt)
    # Classic scorecard practice: a feature whose coefficient comes out with the wrong sign
    # (positive on ln(good/bad) WoE — collinearity flipping its bins' order) is dropped and the
    # regression refitted, so every kept feature moves the score the way its bins say.
    iv = W[yt == 0].mean(axis=0) - W[yt == 1].mean(axis=0)
    active = np.array([np.ptp(W[:, j]) > 0 for j in range(W.shape[1])]) & (iv >= min_iv)
    # A regression this small is fastest on one BLAS thread; threaded BLAS on a busy machine is 10× slower.
    with threadpool_limits(1, user_api="blas"):
        while active.any():
            lr = LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000).fit(W[:, active], yt)
            wrong = lr.coef_[0] > 0
            if not wrong.any():
                break
            active[np.flatnonzero(active)[wrong]] = False
    if active.any():
        card.coef[active] = lr.coef_[0]
        card.intercept = float(lr.intercept_[0])
    else:  # nothing left: the base rate
        card.intercept = float(np.log(yt.mean() / (1 - yt.mean())))
    return card
