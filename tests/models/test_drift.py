import math

import numpy as np
import pytest

from models.drift import ACT, WATCH, DriftReference, DriftWindow, bin_counts, psi, status


def test_psi_equals_the_hand_computed_sum():
    expected = [0.5, 0.3, 0.2]
    actual = [0.4, 0.4, 0.2]
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3) + 0.0
    assert psi(expected, actual) == pytest.approx(by_hand, abs=1e-12)  # 0.0510826…
    assert psi([50, 30, 20], [40, 40, 20]) == pytest.approx(by_hand, abs=1e-12)  # counts work too
    assert psi(expected, expected) == 0.0


def test_empty_bins_are_floored_not_infinite():
    value = psi([0.5, 0.5, 0.0], [0.5, 0.25, 0.25])
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert value == pytest.approx(by_hand, rel=1e-6)


def test_bins_are_right_closed_with_a_missing_bin():
    edges = np.array([1.0, 2.0])
    counts = bin_counts(np.array([0.5, 1.0, 1.5, 2.0, 2.5, np.nan, np.nan]), edges)
    assert counts.tolist() == [2, 2, 1, 2]  # (-inf,1], (1,2], (2,inf), missing


def test_status_thresholds():
    assert status(WATCH - 1e-9) == "stable" and status(WATCH) == "watch" and status(ACT) == "act"


def test_reference_flags_a_shifted_feature_only():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=20_000), rng.normal(size=20_000)])
    score = rng.normal(600, 40, 20_000)
    ref = DriftReference.fit(X, score, ["a", "b"])
    again = DriftReference.from_dict(ref.to_dict())
    new = np.column_stack([rng.normal(size=5000), rng.normal(1.0, 1, size=5000)])
    out = again.compare(new, rng.normal(600, 40, 5000))
    by = {r["feature"]: r for r in out["features"]}
    assert by["a"]["status"] == "stable" and by["b"]["status"] == "act"
    assert out["score"]["status"] == "stable" and out["status"] == "act"


def test_window_keeps_only_the_latest_rows():
    X = np.arange(30, dtype=float).reshape(-1, 1)
    ref = DriftReference.fit(X, X[:, 0], ["x"])
    win = DriftWindow(ref, size=10)
    for start in range(0, 30, 4):
        win.add(X[start : start + 4], X[start : start + 4, 0])
    assert len(win) == 10
    stored = np.concatenate(list(win._s))[-10:]
    assert stored.tolist() == list(range(20, 30))
    assert win.report(min_rows=5)["n"] == 10
    assert win.report(min_rows=50)["status"] == "insufficient_data"
