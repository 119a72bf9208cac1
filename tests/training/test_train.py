import pytest

from training.metrics import grade_rates_rise
from training.train import TrainConfig, TrainingDataError, train_model


def test_auc_within_reach_of_the_oracle(trained):
    m = trained.metrics
    assert m["oracle"]["auc"] > 0.75
    assert m["auc_ratio_to_oracle"] >= 0.92  # 30k rows; the 100k/500k targets are in bench/


def test_calibrated_and_exactly_additive(trained):
    m = trained.metrics
    assert m["holdout"]["ece"] < 0.02
    assert m["additivity_max_error"] < 1e-9


def test_default_rate_rises_grade_by_grade(trained):
    # 30k firms leave some grades with under one expected default; judge those with at least 5
    assert grade_rates_rise(trained.grades, min_count=100, min_expected_defaults=5)


def test_missing_target_is_a_clear_error(portfolio):
    with pytest.raises(TrainingDataError, match="target column 'bad'"):
        train_model(portfolio.head(2000), TrainConfig(target="bad"))


def test_non_binary_target_names_rows(portfolio):
    raw = portfolio.head(2000).copy()
    raw.loc[5, "default_12m"] = 2
    with pytest.raises(TrainingDataError, match="must be 0 or 1"):
        train_model(raw)


def test_a_stage_intercept_is_drawn_towards_the_pooled_one_by_the_prior():
    """Stage calibration: a stage's own intercept moves from the pooled one only as far as its data carry it.
    Two stages on one raw score: 'startup' defaults at exactly the pooled model's rate, 'mature' (few rows)
    at a higher one. Mature's intercept lands between the pooled one and its own maximum-likelihood value,
    nearer the pooled one with fewer rows; with many rows the data win."""
    import numpy as np

    from training.train import STAGE_KEYS, calibrate_by_stage

    def fit(n_mature: int) -> tuple[float, float]:
        raw = np.zeros(20_000 + n_mature)
        y = np.zeros(len(raw))
        y[:1_000] = 1.0  # startup: 5% default
        y[20_000:20_000 + n_mature // 10] = 1.0  # mature: 10% default
        weights = np.zeros((len(raw), len(STAGE_KEYS)))
        weights[:20_000, STAGE_KEYS.index("startup")] = 1.0
        weights[20_000:, STAGE_KEYS.index("mature")] = 1.0
        out = calibrate_by_stage(raw, y, weights)
        return out["b"], out["b_stage"]["mature"]

    own = np.log(0.1 / 0.9)  # mature's intercept from its rows alone (the raw score is 0 everywhere)
    pooled_small, small = fit(500)
    pooled_big, big = fit(50_000)
    assert pooled_small < small < own and own - small > 0.1  # 500 rows: drawn well towards the pooled intercept
    assert abs(big - own) < 0.02  # 50,000 rows: the data decide
