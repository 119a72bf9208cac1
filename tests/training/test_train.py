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
