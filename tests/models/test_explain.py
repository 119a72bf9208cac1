import lightgbm as lgb
import numpy as np
import pytest

from models.explain import AdditiveTables, NotAdditiveError


def _data(n=8000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[rng.random(n) < 0.15, 0] = np.nan
    X[:, 2] = rng.integers(0, 4, n)
    y = (X[:, 1] + np.nan_to_num(X[:, 0], nan=1.0) - 0.5 * X[:, 2] + rng.normal(size=n) > 0).astype(int)
    return X, y


def _fit(constraints):
    X, y = _data()
    params = {"objective": "binary", "verbose": -1, "num_leaves": 6, "monotone_constraints": [0, 1, -1]}
    if constraints:
        params["interaction_constraints"] = [[0], [1], [2]]
    return lgb.train(params, lgb.Dataset(X, y), 80)


def test_tables_equal_lightgbm_raw_score_and_treeshap():
    booster = _fit(constraints=True)
    tables = AdditiveTables.from_booster(booster)
    X, _ = _data(3000, seed=1)
    np.testing.assert_allclose(tables.raw_score(X), booster.predict(X, raw_score=True), atol=1e-10)
    np.testing.assert_allclose(tables.contributions(X), booster.predict(X, pred_contrib=True)[:, :3], atol=1e-10)


def test_monotone_constraints_hold_on_the_compiled_curves():
    tables = AdditiveTables.from_booster(_fit(constraints=True))
    assert np.all(np.diff(tables.curve(1)[1]) >= -1e-12)  # +1: never decreasing
    assert np.all(np.diff(tables.curve(2)[1]) <= 1e-12)  # −1: never increasing


def test_interacting_trees_are_refused():
    with pytest.raises(NotAdditiveError):
        AdditiveTables.from_booster(_fit(constraints=False))
