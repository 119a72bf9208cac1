"""Population stability: PSI of each feature and of the score against the training reference.

The reference is stored in the bundle as bins, not rows: for every feature the decile edges of
the training rows plus a missing bin, and the share of training rows in each bin. A bin is
(edges[i-1], edges[i]], the same right-closed rule as the model's lookup tables.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

WATCH = 0.1
ACT = 0.25
EPS = 1e-4  # floor for an empty bin's share, so ln(a/e) stays finite
N_BINS = 10


def bin_edges(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Inner edges from the quantiles of the non-missing values (duplicates merged)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1]))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin: len(edges)+1 value bins, then one missing bin."""
    values = np.asarray(values, dtype=float)
    nan = np.isnan(values)
    idx = np.searchsorted(edges, values[~nan], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, nan.sum())


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Σ (a − e) · ln(a / e) over bins of two share (or count) vectors; empty bins floored at EPS."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e = np.maximum(e / e.sum(), EPS)
    a = np.maximum(a / a.sum(), EPS) if a.sum() > 0 else np.full_like(e, EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def status(value: float) -> str:
    """stable < 0.1 ≤ watch < 0.25 ≤ act."""
    return "act" if value >= ACT else ("watch" if value >= WATCH else "stable")


@dataclass
class DriftReference:
    """Training reference bins for every feature and for the score."""

    features: list[str]
    edges: list[np.ndarray]
    shares: list[np.ndarray]
    score_edges: np.ndarray
    score_shares: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, score: np.ndarray, features: list[str]) -> "DriftReference":
        edges = [bin_edges(X[:, j]) for j in range(X.shape[1])]
        shares = [bin_counts(X[:, j], e) / len(X) for j, e in enumerate(edges)]
        s_edges = bin_edges(np.asarray(score, dtype=float))
        return cls(list(features), edges, shares, s_edges, bin_counts(score, s_edges) / len(score))

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "edges": [e.tolist() for e in self.edges],
                "shares": [np.round(s, 6).tolist() for s in self.shares],
                "score_edges": self.score_edges.tolist(), "score_shares": np.round(self.score_shares, 6).tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DriftReference":
        arr = lambda x: np.asarray(x, dtype=float)  # noqa: E731
        return cls(list(d["features"]), [arr(e) for e in d["edges"]], [arr(s) for s in d["shares"]],
                   arr(d["score_edges"]), arr(d["score_shares"]))

    def compare(self, X: np.ndarray, score: np.ndarray) -> dict[str, Any]:
        """PSI per feature and for the score, each with its status, plus the rows compared."""
        rows = []
        for j, key in enumerate(self.features):
            value = psi(self.shares[j], bin_counts(X[:, j], self.edges[j]))
            rows.append({"feature": key, "psi": round(value, 6), "status": status(value)})
        score_psi = psi(self.score_shares, bin_counts(score, self.score_edges))
        worst = max([r["psi"] for r in rows] + [score_psi])
        return {
            "n": int(len(score)),
            "thresholds": {"watch": WATCH, "act": ACT},
            "score": {"psi": round(score_psi, 6), "status": status(score_psi)},
            "features": rows,
            "status": status(worst),
        }


class DriftWindow:
    """Thread-safe rolling window of the last `size` scored rows (features and score)."""

    def __init__(self, reference: DriftReference, size: int = 10_000):
        self.reference = reference
        self.size = size
        self._X: deque[np.ndarray] = deque()
        self._s: deque[np.ndarray] = deque()
        self._n = 0
        self._lock = threading.Lock()

    def add(self, X: np.ndarray, score: np.ndarray) -> None:
        """Append a batch of scored rows; the oldest rows fall out beyond `size`."""
        # copies: a view would keep a whole large batch alive for as long as its rows are in the window
        X = np.array(np.asarray(X)[-self.size :], dtype=float)
        score = np.array(np.asarray(score)[-self.size :], dtype=float)
        with self._lock:
            self._X.append(X)
            self._s.append(score)
            self._n += len(score)
            while self._n - len(self._s[0]) >= self.size:
                self._n -= len(self._s.popleft())
                self._X.popleft()

    def __len__(self) -> int:
        return min(self._n, self.size)

    def report(self, min_rows: int = 100) -> dict[str, Any]:
        """PSI of the window against the training reference; `status` is `insufficient_data` below min_rows."""
        with self._lock:
            X = np.vstack(list(self._X))[-self.size :] if self._X else np.empty((0, len(self.reference.features)))
            s = np.concatenate(list(self._s))[-self.size :] if self._s else np.empty(0)
        if len(s) < min_rows:
            return {"n": int(len(s)), "window": self.size, "min_rows": min_rows, "status": "insufficient_data",
                    "thresholds": {"watch": WATCH, "act": ACT}, "score": None, "features": []}
        return {**self.reference.compare(X, s), "window": self.size}
