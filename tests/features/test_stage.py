"""Tests for lifecycle-stage derivation."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import stage
from features.clean import CleanColumns
from features.stage import STAGES, derive_stage

AS_OF = "2025-01-01"


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """rows of (declared stage, founded_on, revenue_y0)."""
    declared, founded, revenue = zip(*rows)
    return pd.DataFrame(
        {
            "lifecycle_stage": np.array(declared, dtype=object),  # plain array: no index alignment
            "founded_on": pd.to_datetime(list(founded)),
            "as_of": pd.to_datetime([AS_OF] * len(rows)),
            "revenue_y0": np.array(revenue, dtype=float),
        },
        index=np.arange(len(rows)) + 100,
    )


def test_constants():
    assert STAGES == ("startup", "growth", "mature")
    assert stage.STARTUP_MAX_AGE_YEARS == 3 and stage.STARTUP_MAX_REVENUE == 500
    assert stage.MATURE_MIN_REVENUE == 20000 and stage.MATURE_MIN_AGE_YEARS == 8


def test_each_rule():
    df = _frame([
        (None, "2023-01-01", 10000.0),   # age 2 → startup (by age)
        (None, "2010-01-01", 100.0),     # revenue < 500 → startup (by revenue)
        (None, "2012-01-01", 25000.0),   # revenue ≥ 20000 and age ≥ 8 → mature
        (None, "2020-01-01", 25000.0),   # big but only 5 years old → growth
        (None, "2015-01-01", 3000.0),    # mid-size, 10 years → growth
        (None, None, np.nan),            # unknown age and revenue → growth
        (None, None, 1000.0),            # unknown age, revenue ≥ 500 → growth
        (None, None, 50000.0),           # unknown age → cannot be mature → growth
        (None, "2024-01-01", np.nan),    # unknown revenue, age 1 → startup
        (None, "2010-01-01", np.nan),    # unknown revenue, old → growth
    ])
    assert list(derive_stage(CleanColumns.from_frame(df))) == ["startup", "startup", "mature", "growth", "growth",
                                      "growth", "growth", "growth", "startup", "growth"]


def test_boundaries():
    df = _frame([
        (None, "2022-01-01", 10000.0),   # age 3.0007 y → not startup by age
        (None, "2015-01-01", 500.0),     # revenue exactly 500 → not startup
        (None, "2017-01-01", 20000.0),   # age exactly 8.0 y and revenue 20000 → mature
        (None, "2017-01-02", 20000.0),   # just under 8 years → growth
        (None, "2022-01-03", 10000.0),   # just under 3 years → startup
    ])
    assert list(derive_stage(CleanColumns.from_frame(df))) == ["growth", "growth", "mature", "growth", "startup"]


def test_declared_stage_wins():
    df = _frame([
        ("mature", "2024-06-01", 10.0),     # rules say startup
        ("startup", "2000-01-01", 90000.0),  # rules say mature
        ("growth", "2024-06-01", 10.0),
        (None, "2024-06-01", 10.0),          # not declared → derived
        (np.nan, "2000-01-01", 90000.0),     # NaN is not a declaration
    ])
    assert list(derive_stage(CleanColumns.from_frame(df))) == ["mature", "startup", "growth", "startup", "mature"]


def test_output_type_and_absent_columns():
    out = derive_stage(CleanColumns.from_frame(pd.DataFrame(index=[3, 4])))
    assert out.dtype == object and list(out) == ["growth", "growth"]
    only_rev = derive_stage(CleanColumns.from_frame(pd.DataFrame({"revenue_y0": [100.0, 30000.0]})))
    assert list(only_rev) == ["startup", "growth"]


def test_mapping_input_matches_frame():
    df = _frame([(None, "2023-01-01", 10000.0), ("mature", "2023-01-01", 1.0),
                 (None, "2012-01-01", 25000.0)])
    cols = {"lifecycle_stage": df["lifecycle_stage"].to_numpy(),
            "founded_on": df["founded_on"].to_numpy(),
            "as_of": df["as_of"].to_numpy(),
            "revenue_y0": df["revenue_y0"].to_numpy()}
    assert list(derive_stage(CleanColumns.of(cols))) == list(derive_stage(CleanColumns.from_frame(df))) == ["startup", "mature", "mature"]
    single = {"founded_on": np.datetime64("2012-01-01"), "as_of": np.datetime64(AS_OF),
              "revenue_y0": 25000.0}
    assert list(derive_stage(CleanColumns.of(single))) == ["mature"]


def test_rules_from_a_policy_replace_the_defaults():
    from features.stage import DEFAULT_STAGE_RULES, StageRules

    assert DEFAULT_STAGE_RULES == StageRules(3.0, 500.0, 20000.0, 8.0)
    df = _frame([
        (None, "2023-01-01", 10000.0),   # age 2: startup by default, growth when startups end at 1 year
        (None, "2015-01-01", 800.0),     # revenue 800: growth by default, startup below 1000
        (None, "2019-01-01", 12000.0),   # age 6, revenue 12000: growth by default, mature at ≥ 10000 and ≥ 5 y
        ("growth", "2024-06-01", 10.0),  # declared stays declared
    ])
    rules = StageRules(startup_max_age_years=1, startup_max_revenue=1000, mature_min_revenue=10000,
                       mature_min_age_years=5)
    assert list(derive_stage(CleanColumns.from_frame(df))) == ["startup", "growth", "growth", "growth"]
    assert list(derive_stage(CleanColumns.from_frame(df), rules)) == ["growth", "startup", "mature", "growth"]


def test_assessment_flags_a_declared_stage_the_data_contradicts():
    from features.stage import assess_stage

    a = assess_stage(CleanColumns.from_frame(_frame([
        ("mature", "2020-01-01", 170.0),   # 5 years, 170 万元: the data says startup
        ("growth", "2012-01-01", 25000.0),  # the data says mature: growth is stricter
        ("mature", "2012-01-01", 25000.0),  # agrees
        ("startup", None, np.nan),         # the data cannot tell: the declaration is used
    ])))
    assert list(a.data) == ["startup", "mature", "mature", None]
    assert list(a.stage) == ["startup", "mature", "mature", "startup"]
    assert list(a.conflict) == [True, True, False, False]
    assert list(a.limit_stage) == ["startup", "growth", "mature", "startup"]


def test_soft_weights_are_the_rules_away_from_the_thresholds_and_blend_near_them():
    from features.stage import assess_stage

    a = assess_stage(CleanColumns.from_frame(_frame([
        (None, "2010-01-01", 3000.0),   # growth, far from every threshold
        (None, "2010-01-01", 500.0),    # exactly on the startup revenue threshold: half startup
        (None, "2022-01-01", 3000.0),   # age 3.0 exactly: half startup
    ])))
    np.testing.assert_allclose(a.weights[0], [0.0, 1.0, 0.0])
    assert abs(a.weights[1, 0] - 0.5) < 0.01 and abs(a.weights[2, 0] - 0.5) < 0.02
    np.testing.assert_allclose(a.weights.sum(axis=1), 1.0)


def test_an_unknown_age_reads_as_the_fallback_stage_so_weights_stay_continuous_at_a_threshold():
    """No founding date, revenue just below and just above 500 万元: below, the revenue rule says startup
    (blended near the threshold); above, the data cannot tell and the declared stage (else growth) is used.
    The weights on both sides of the threshold agree to within the ramp's slope."""
    from features.stage import assess_stage

    for declared, far in [("startup", [1.0, 0.0, 0.0]), (None, [0.0, 1.0, 0.0]), ("mature", [0.0, 0.0, 1.0])]:
        a = assess_stage(CleanColumns.from_frame(_frame([
            (declared, None, 499.999), (declared, None, 500.0), (declared, None, 9000.0)])))
        assert a.data[0] == "startup" and a.data[1] is None and a.data[2] is None
        np.testing.assert_allclose(a.weights[0], a.weights[1], atol=1e-4)
        np.testing.assert_allclose(a.weights[2], far)  # far from it: the declared stage's (else growth's) one-hot
        np.testing.assert_allclose(a.weights.sum(axis=1), 1.0)
    a = assess_stage(CleanColumns.from_frame(_frame([("startup", None, 499.999)])))
    np.testing.assert_allclose(a.weights[0], [1.0, 0.0, 0.0])  # declared startup: startup on both sides
