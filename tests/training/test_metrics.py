import numpy as np
import pandas as pd
import pytest

from training.metrics import classification_metrics, expected_calibration_error, grade_rates_rise, grade_table, ks_statistic

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


def test_auc_gini_ks_by_hand():
    m = classification_metrics(Y, P)
    assert m["auc"] == pytest.approx(0.75)  # 3 of 4 (default, non-default) pairs ordered right
    assert m["gini"] == pytest.approx(0.5)
    assert ks_statistic(Y, P) == pytest.approx(0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


def test_ece_by_hand():
    # bins by PD: {0.1, 0.35} mean PD .225 vs rate .5; {0.4, 0.8} mean .6 vs .5
    assert expected_calibration_error(Y, P, bins=2) == pytest.approx((2 * 0.275 + 2 * 0.1) / 4)


def test_grade_table_and_rising_rates():
    grades = np.array(["AAA"] * 200 + ["BB"] * 200 + ["C"] * 50)
    y = np.r_[np.zeros(199), 1, np.zeros(190), np.ones(10), np.ones(50)]
    table = grade_table(y, np.full(450, 0.05), grades)
    row = table.set_index("grade").loc["BB"]
    assert row["count"] == 200 and row["default_rate"] == pytest.approx(0.05)
    assert grade_rates_rise(table)  # C has < 100 firms and is ignored
    flipped = table.assign(default_rate=table["default_rate"][::-1].to_numpy())
    assert not grade_rates_rise(pd.DataFrame(flipped))
