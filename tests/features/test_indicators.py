"""Tests for the indicator registry and IndicatorTransformer."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from features import registry
from features.schema import FIELD_NAMES
from features.clean import frame_to_columns
from features.indicators import transform_columns
from features.transformer import IndicatorTransformer
from features.registry import (DIMENSIONS, INDICATOR_KEYS, INDICATORS, by_key, dimension_of,
                               hnte_threshold, monotone_constraints)

RAW_FIELDS = list(FIELD_NAMES)  # the schema is the one list of raw fields


def _col(df: pd.DataFrame, key: str) -> np.ndarray:
    return IndicatorTransformer().transform(df)[key].to_numpy()


# ----------------------------- registry integrity -----------------------------

def test_registry_counts_and_dimensions():
    assert len(INDICATORS) >= 50
    counts = Counter(i.dimension for i in INDICATORS)
    assert set(counts) == set(DIMENSIONS)
    assert all(counts[d] >= 6 for d in DIMENSIONS)
    assert list(DIMENSIONS) == ["tech_ip", "rd_input", "talent", "capital", "operations", "credit"]


def test_keys_codes_unique_and_well_formed():
    keys = [i.key for i in INDICATORS]
    codes = [i.code for i in INDICATORS]
    assert len(set(keys)) == len(keys) and len(set(codes)) == len(codes)
    for i in INDICATORS:
        assert re.fullmatch(registry.CODE_PREFIX[i.dimension] + r"\d{2}", i.code), i.code
        assert i.direction in (-1, 0, 1)
        assert i.formula and i.unit and i.label_zh and i.label_en


def test_registry_order_grouped_by_dimension():
    dims = [i.dimension for i in INDICATORS]
    order = list(DIMENSIONS)
    assert dims == sorted(dims, key=order.index)
    assert INDICATOR_KEYS == tuple(i.key for i in INDICATORS)


def test_inputs_are_real_fields():
    for i in INDICATORS:
        assert i.inputs, i.key
        assert set(i.inputs) <= set(RAW_FIELDS), (i.key, set(i.inputs) - set(RAW_FIELDS))


def test_declared_inputs_are_exactly_what_fn_reads():
    class Recorder(dict):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.seen: set[str] = set()

        def __getitem__(self, key):
            self.seen.add(key)
            return super().__getitem__(key)

    from features.indicators import prepare_columns
    base = prepare_columns({}, n=2)
    for i in INDICATORS:
        rec = Recorder(base)
        with np.errstate(all="ignore"):
            i.fn(rec)
        assert rec.seen == set(i.inputs), (i.key, rec.seen ^ set(i.inputs))


def test_reason_sentences_non_empty_and_distinct():
    for lang in ("zh", "en"):
        texts = []
        for i in INDICATORS:
            down, up = getattr(i, f"reason_down_{lang}"), getattr(i, f"reason_up_{lang}")
            assert down.strip() and up.strip() and down != up, i.key
            texts += [down, up]
        assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]


def test_helpers_monotone_dimension_by_key():
    assert monotone_constraints() == [i.direction for i in INDICATORS]
    assert dimension_of()["rd_intensity"] == "rd_input"
    assert set(dimension_of().values()) == set(DIMENSIONS)
    assert by_key("cr_tax_grade").code == "CR01"
    with pytest.raises(KeyError):
        by_key("nope")
    # domain-sure directions
    assert by_key("rd_intensity").direction == 0
    assert by_key("rd_capitalized_share").direction == 1
    assert by_key("op_debt_to_assets").direction == 1
    assert by_key("op_top5_customer_share").direction == 1
    assert by_key("cp_redemption_clause").direction == 1
    assert by_key("tl_key_staff_turnover").direction == 1
    assert by_key("ip_invention_granted_log").direction == -1
    assert all(i.direction == 1 for i in INDICATORS if i.dimension == "credit")


def test_duplicate_registration_rejected():
    deco = registry.indicator(key="ip_invention_granted_log", code="IP99", dimension="tech_ip",
                              formula="x", unit="u", direction=0, label=("a", "b"),
                              down=("c", "d"), up=("e", "f"), inputs=("trademarks",))
    with pytest.raises(ValueError):
        deco(lambda c: c["trademarks"])


# ----------------------------- hand-computed values -----------------------------

@pytest.fixture
def frame() -> pd.DataFrame:
    """Three hand-built firms, one per HNTE revenue band, with a non-default index."""
    d = pd.to_datetime
    return pd.DataFrame(
        {
            "revenue_y0": [4000.0, 10000.0, 30000.0],
            "revenue_y1": [3200.0, 0.0, 25000.0],
            "revenue_y2": [2000.0, 8000.0, np.nan],
            "rd_expense_y0": [240.0, 300.0, 1200.0],
            "rd_expense_y1": [64.0, 300.0, 1000.0],
            "rd_expense_y2": [100.0, 0.0, np.nan],
            "rd_capitalized_y0": [60.0, 0.0, 300.0],
            "cash": [600.0, 0.0, 1e6],
            "operating_cash_flow_y0": [-1200.0, 50.0, -12.0],
            "total_assets": [1000.0, 0.0, 50000.0],
            "total_liabilities": [600.0, 10.0, 20000.0],
            "net_assets_y0": [1000.0, -100.0, -100.0],
            "lawsuit_amount_3y": [500.0, 10.0, 0.0],
            "standards_national": [2.0, 1.0, 0.0],
            "standards_industry": [1.0, 0.0, 0.0],
            "standards_group": [3.0, np.nan, 0.0],
            "rd_staff": [30.0, 5.0, 0.0],
            "staff_total": [100.0, 0.0, 400.0],
            "insured_staff": [110.0, 5.0, 300.0],
            "insured_staff_prev": [100.0, 0.0, 300.0],
            "invention_patents_granted": [5.0, 0.0, np.nan],
            "utility_models": [10.0, 0.0, 3.0],
            "design_patents": [5.0, 0.0, 1.0],
            "tech_conversions_3y": [6.0, 6.0, 6.0],
            "tax_grade": ["A", "D", None],
            "qualification_tier": ["little_giant", "none", "bogus"],
            "founder_background": ["serial_exit", None, "executive"],
            "registered_capital": [1000.0, 0.0, 500.0],
            "paid_in_capital": [800.0, 0.0, 500.0],
            "state_fund_backed": [1.0, 0.0, np.nan],
            "as_of": d(["2025-01-01", "2025-01-01", "2025-01-01"]),
            "founded_on": d(["2020-01-01", "2023-07-02", None]),
            "latest_round_date": d(["2024-01-01", None, "2024-12-01"]),
        },
        index=[7, 3, 11],
    )


def test_output_shape_dtype_index(frame):
    out = IndicatorTransformer().fit(frame).transform(frame)
    assert list(out.columns) == list(INDICATOR_KEYS)
    assert list(out.index) == [7, 3, 11]
    assert (out.dtypes == np.float64).all()
    assert not np.isinf(out.to_numpy()).any()


def test_rd_intensity_and_hnte_gap_per_band(frame):
    np.testing.assert_allclose(_col(frame, "rd_intensity"), [0.06, 0.03, 0.04])
    # bands: ≤5000 → 5%, ≤20000 → 4%, >20000 → 3%
    # relative shortfall to the band's threshold, 0 once met: 6% ≥ 5%; 3% / 4% − 1; 4% ≥ 3%
    np.testing.assert_allclose(_col(frame, "rd_hnte_gap"), [0.0, -0.25, 0.0], atol=1e-12)
    np.testing.assert_allclose(hnte_threshold(np.array([4999.0, 5000.0, 5000.01, 20000.0, 20000.01])),
                               [0.05, 0.05, 0.04, 0.04, 0.03])


def test_revenue_growth_rules(frame):
    # ½(Y2/Y1 + Y3/Y2) − 1 with Y1 = revenue_y2 (oldest): ½(3200/2000 + 4000/3200) − 1 = 0.425
    g2 = _col(frame, "op_revenue_growth_2y")
    assert g2[0] == pytest.approx(0.425)
    assert np.isnan(g2[1]) and np.isnan(g2[2])  # y1 = 0 → NaN ; y2 missing → NaN
    g = _col(frame, "op_revenue_growth")
    assert g[0] == pytest.approx(0.25) and np.isnan(g[1]) and g[2] == pytest.approx(0.2)


def test_standards_score(frame):
    s = _col(frame, "ip_standards_score")
    assert s[0] == 11.0 and s[1] == 3.0 and s[2] == 0.0  # 3×2+2×1+3; group missing adds 0
    none = transform_columns({"standards_national": np.nan, "standards_industry": np.nan, "standards_group": np.nan})
    assert np.isnan(none[0, INDICATOR_KEYS.index("ip_standards_score")])


def test_cash_runway(frame):
    r = _col(frame, "op_cash_runway_months")
    np.testing.assert_allclose(r, [6.0, 120.0, 120.0])  # burn 100/month; not burning; capped
    one = transform_columns({"cash": np.nan, "operating_cash_flow_y0": -10.0})
    assert np.isnan(one[0, INDICATOR_KEYS.index("op_cash_runway_months")])


def test_ratios_and_division_by_zero(frame):
    np.testing.assert_allclose(_col(frame, "tl_rd_staff_ratio")[[0, 2]], [0.3, 0.0])
    assert np.isnan(_col(frame, "tl_rd_staff_ratio")[1])  # staff 0
    d2a = _col(frame, "op_debt_to_assets")
    assert d2a[0] == pytest.approx(0.6) and np.isnan(d2a[1])  # assets 0
    cov = _col(frame, "rd_cash_coverage_years")  # R&D counted at no less than 10% of revenue
    np.testing.assert_allclose(cov, [600 / 400, 0.0, 1e6 / 3000])
    cap = _col(frame, "rd_capitalized_share")  # capitalised R&D / revenue
    np.testing.assert_allclose(cap, [0.015, 0.0, 0.01])
    share = _col(frame, "ip_invention_share")
    assert share[0] == pytest.approx(0.25) and np.isnan(share[1]) and np.isnan(share[2])
    pi = _col(frame, "cp_paid_in_ratio")
    assert pi[0] == pytest.approx(0.8) and np.isnan(pi[1]) and pi[2] == 1.0
    ig = _col(frame, "tl_insured_growth")
    assert ig[0] == pytest.approx(0.1) and np.isnan(ig[1]) and ig[2] == 0.0


def test_exposure_to_net_assets(frame):
    # 500/1000; negative equity with a lawsuit → cap 10; negative equity, no lawsuit → 0
    np.testing.assert_allclose(_col(frame, "cr_lawsuit_to_net_assets"), [0.5, 10.0, 0.0])


def test_ordinals(frame):
    tg = _col(frame, "cr_tax_grade")
    assert tg[0] == 0.0 and tg[1] == 4.0 and np.isnan(tg[2])
    qt = _col(frame, "ip_qualification_tier")
    assert qt[0] == 4.0 and qt[1] == 0.0 and np.isnan(qt[2])  # unknown label → NaN
    fb = _col(frame, "tl_founder_background")
    assert fb[0] == 3.0 and np.isnan(fb[1]) and fb[2] == 1.0


def test_dates_age_months_since_round(frame):
    age = _col(frame, "op_firm_age_years")
    assert age[0] == pytest.approx(1827 / 365.25)
    assert age[1] == pytest.approx(549 / 365.25) and np.isnan(age[2])
    m = _col(frame, "cp_months_since_round")
    assert m[0] == pytest.approx(366 / 30.4375) and np.isnan(m[1])
    assert m[2] == pytest.approx(31 / 30.4375)
    # conversions per year: /3 for old firm, /age when younger than 3, /3 when age unknown
    np.testing.assert_allclose(_col(frame, "ip_conversions_per_year"), [2.0, 6 / (549 / 365.25), 2.0])


def test_rd_years_and_growth(frame):
    yrs = _col(frame, "rd_years_intensity_3pct")
    # row0: 6% yes, 2% no, 5% yes; row1: 3% yes, rev 0 & rd 300 yes, rd 0 no; row2: 4%, 4%, missing
    np.testing.assert_allclose(yrs, [2.0, 2.0, 2.0])
    g = _col(frame, "rd_growth_3y")
    # each year counted up to 5% of its revenue: min(240, 200) / min(100, 100)
    assert g[0] == pytest.approx(np.sqrt(2.0) - 1) and np.isnan(g[1]) and np.isnan(g[2])
    np.testing.assert_allclose(_col(frame, "rd_expense_log"), np.log1p([200.0, 300.0, 1200.0]))
    prior = _col(frame, "rd_intensity_3y_avg")  # the two years before the latest
    assert prior[0] == pytest.approx(164 / 5200) and prior[1] == pytest.approx(300 / 8000) and np.isnan(prior[2])


def test_r_and_d_spend_indicators_are_flat_inside_the_sound_range():
    """Inside RD01's declared sound range, R&D spend moves no other indicator; below it, every other one
    improves or stays as spend rises; above it, every other one worsens or stays as spend rises."""
    lo, hi = by_key("rd_intensity").sound
    assert (lo, hi) == (registry.RD_SOUND_LOW, registry.RD_SOUND_HIGH) and hi / lo >= 1 / 0.9
    rev = np.array([1000.0, 4000.0, 12000.0, 30000.0])
    base = {"revenue_y0": rev, "revenue_y1": rev * 0.9, "revenue_y2": rev * 0.8, "cash": rev * 0.05 + 10,
            "rd_expense_y1": rev * 0.06, "rd_expense_y2": rev * 0.05, "rd_capitalized_y0": rev * 0.01}
    fed = [k for k, i in enumerate(INDICATORS) if "rd_expense_y0" in i.inputs and i.key != "rd_intensity"]
    assert {INDICATORS[k].key for k in fed} >= {"rd_hnte_gap", "rd_expense_log", "rd_cash_coverage_years",
                                                 "rd_burn_uncovered"}
    grid = np.exp(np.linspace(np.log(0.001), np.log(2.0), 400))
    values = np.stack([transform_columns({**base, "rd_expense_y0": rev * t})[:, fed] for t in grid])
    assert not np.isnan(values).any()  # (intensity, firm, indicator)
    risk = values * np.array([INDICATORS[k].direction for k in fed])  # higher = riskier
    steps = np.diff(risk, axis=0)
    below, inside, above = grid[1:] <= lo, (grid[:-1] >= lo) & (grid[1:] <= hi), grid[:-1] >= hi
    assert (steps[below] <= 1e-12).all() and (steps[above] >= -1e-12).all()
    assert (np.abs(steps[inside]) <= 1e-12).all()


def test_missing_stays_nan():
    empty = pd.DataFrame(index=[5, 6])
    out = IndicatorTransformer().transform(empty)
    assert out.shape == (2, len(INDICATOR_KEYS))
    assert out.isna().all().all()  # missing is not zero
    zero = pd.DataFrame({"invention_patents_granted": [0.0], "state_fund_backed": [0.0]})
    out = IndicatorTransformer().transform(zero)
    assert out.loc[0, "ip_invention_granted_log"] == 0.0
    assert out.loc[0, "cp_state_fund_backed"] == 0.0


def test_zero_everything_is_finite():
    zeros = pd.DataFrame({f: [0.0] for f in registry.INPUT_FIELDS
                          if f not in registry.ENUM_FIELDS | registry.DATE_FIELDS})
    out = IndicatorTransformer().transform(zeros).to_numpy()
    assert not np.isinf(out).any()
    assert np.isnan(out[0, INDICATOR_KEYS.index("rd_intensity")])


# ----------------------------- transformer API -----------------------------

def _random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for f in registry.INPUT_FIELDS:
        if f in registry.DATE_FIELDS:
            days = rng.integers(0, 6000, n)
            col = pd.Series(pd.Timestamp("2008-01-01") + pd.to_timedelta(days, unit="D"))
            col[rng.random(n) < 0.2] = pd.NaT
        elif f in registry.ENUM_FIELDS:
            levels = {"founder_background": registry.FOUNDER_BACKGROUND,
                      "qualification_tier": registry.QUALIFICATION_TIER,
                      "latest_round": registry.LATEST_ROUND, "tax_grade": registry.TAX_GRADE,
                      "worst_loan_class": registry.LOAN_CLASS}[f]
            col = pd.Series(rng.choice(list(levels) + [None], n), dtype=object)
        else:
            col = pd.Series(rng.choice([0.0, 1.0, 3.0, 250.0, np.nan], n) * rng.random(n))
        data[f] = col
    data["net_assets_y0"] = data["net_assets_y0"] - 50.0  # some negative equity
    data["operating_cash_flow_y0"] = data["operating_cash_flow_y0"] - 50.0
    return pd.DataFrame(data, index=np.arange(n) * 2)


def test_transform_equals_transform_columns():
    df = _random_frame(500)
    tr = IndicatorTransformer()
    a = tr.transform(df).to_numpy()
    b = transform_columns(frame_to_columns(df))
    np.testing.assert_array_equal(a, b)
    assert not np.isinf(a).any()
    # single-row dict of scalars (API path) equals the frame row
    row = df.iloc[3]
    scalars = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    np.testing.assert_array_equal(transform_columns(scalars)[0], a[3])


def test_get_feature_names_out_and_sklearn_conventions():
    df = _random_frame(20)
    tr = IndicatorTransformer()
    names = tr.get_feature_names_out()
    assert list(names) == list(INDICATOR_KEYS)
    tr.fit(df)
    assert tr.n_features_in_ == df.shape[1]
    assert list(tr.feature_names_in_) == list(df.columns)
    assert list(clone(tr).get_feature_names_out()) == list(INDICATOR_KEYS)
    pipe = Pipeline([("ind", IndicatorTransformer())])
    out = pipe.fit_transform(df)
    assert list(pipe.get_feature_names_out()) == list(INDICATOR_KEYS)
    assert out.shape == (20, len(INDICATOR_KEYS))
