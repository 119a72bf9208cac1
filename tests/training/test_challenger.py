from dataclasses import replace

import numpy as np

from features.clean import CleanColumns
from features.validate import validate_frame
from models.explain import AdditiveTables
from models.scoring import Scorer
from training.challenger import fit_bins, fit_challenger
from training.train import pd_of


def _data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[rng.random(n) < 0.1, 1] = np.nan
    logit = -2.5 + 0.9 * X[:, 0] - 0.6 * np.nan_to_num(X[:, 1]) + 0.3 * np.sin(3 * X[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_binning_reads_training_rows_only():
    X, y = _data()
    tr = np.arange(4000)
    card = fit_challenger(X, y, tr, [1, -1, 0])
    X2, y2 = X.copy(), y.copy()
    X2[4000:] = np.random.default_rng(9).normal(5, 3, size=X2[4000:].shape)  # perturb every holdout row
    y2[4000:] = 1 - y2[4000:]
    card2 = fit_challenger(X2, y2, tr, [1, -1, 0])
    for a, b in zip(card.bins, card2.bins):
        assert np.array_equal(a.edges, b.edges) and np.array_equal(a.woe, b.woe) and a.woe_missing == b.woe_missing
    assert np.array_equal(card.coef, card2.coef) and card.intercept == card2.intercept


def test_bins_are_monotone_in_the_declared_direction():
    X, y = _data()
    up = fit_bins(X[:, 0], y, +1)  # risk rises → WoE (ln good/bad) falls
    down = fit_bins(X[:, 1], y, -1)
    assert np.all(np.diff(up.woe) < 0) and np.all(np.diff(down.woe) > 0)
    assert len(up.woe) >= 3


def test_tables_reproduce_the_scorecard():
    X, y = _data()
    card = fit_challenger(X, y, np.arange(4000), [1, -1, 0])
    t = card.tables()
    p = 1 / (1 + np.exp(-t.raw_score(X)))
    np.testing.assert_allclose(p, card.predict_pd(X), rtol=1e-12)
    assert card.coef[0] < 0  # ln(good/bad) WoE: a kept feature has a negative coefficient


def test_a_winning_challenger_is_served_with_exact_points(trained, portfolio):
    bundle = trained.bundle
    ch = bundle.extras["challenger"]
    assert bundle.extras["champion"] == "lightgbm_additive" and ch["name"] == "woe_logistic"
    as_champion = replace(bundle, calibration=ch["calibration"], extras={**bundle.extras, "scoring_tables": ch["tables"], "explain": None})
    clean = validate_frame(portfolio.head(500)).frame
    batch = Scorer(as_champion).score(CleanColumns.from_frame(clean))
    expected = pd_of(AdditiveTables.from_dict(ch["tables"]), ch["calibration"], batch.values)
    np.testing.assert_allclose(batch.pd, expected, rtol=1e-12)
    cents = lambda a: np.rint(np.asarray(a) * 100).astype(np.int64)  # noqa: E731
    total = cents(batch.base_points) + cents(batch.dimension_points).sum(axis=1) + cents(batch.clip_points)
    assert np.array_equal(total, cents(batch.score))
