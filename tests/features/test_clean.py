"""features/clean.py: the clean column set, built alike from files and from the API's profiles."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features.clean import DERIVED, CleanColumns, day_number, from_days, iso_date, to_days
from features.schema import FIELD_NAMES, FIELD_SPECS, FirmProfile, example_profiles
from features.validate import profiles_to_columns, validate_frame

ID = "91440300MA5DK7QX24"


def test_dates_are_whole_days_since_1970():
    assert day_number("1970-01-02") == 1.0
    assert day_number(date(2000, 1, 1)) == 10957.0  # 30 years, 7 of them leap: 30 × 365 + 7
    days = to_days(np.array(["2000-01-01", "NaT"], dtype="datetime64[ns]"))
    assert days[0] == 10957.0 and np.isnan(days[1])
    assert iso_date(10957.0) == "2000-01-01"
    back = from_days(np.array([10957.0, np.nan]))
    assert back[0] == np.datetime64("2000-01-01") and np.isnat(back[1])


def test_one_profile_becomes_the_documented_columns():
    p = FirmProfile(firm_id=ID, founded_on="2016-04-01", as_of="2026-06-30", latest_round_date="2025-06-30",
                    revenue_y0=6800, staff_total=120, state_fund_backed=True, tax_grade="a", lifecycle_stage="growth")
    clean = profiles_to_columns([p])
    assert len(clean) == 1 and list(clean.firm_id) == [ID] and list(clean.positions) == [0]
    assert set(FIELD_NAMES) | set(DERIVED) == set(clean.keys())
    assert clean["revenue_y0"].dtype == np.float64 and clean["revenue_y0"][0] == 6800.0
    assert clean["staff_total"][0] == 120.0 and clean["state_fund_backed"][0] == 1.0  # integer and bool as floats
    assert np.isnan(clean["rd_expense_y0"][0])  # missing is NaN, not 0
    assert clean["tax_grade"][0] == "A" and clean["lifecycle_stage"][0] == "growth"  # canonical strings
    assert clean["name"][0] is None  # missing text is None
    # 2016-04-01 → 16892, 2026-06-30 → 20634 (days since 1970-01-01), 2025-06-30 → 20269
    assert (clean["founded_on"][0], clean["as_of"][0], clean["latest_round_date"][0]) == (16892.0, 20634.0, 20269.0)
    assert clean["age_years"][0] == pytest.approx((20634 - 16892) / 365.25)  # 10.245 years
    assert clean["months_since_latest_round"][0] == pytest.approx(365 / (365.25 / 12))  # 11.99 months


def test_derived_values_are_missing_when_a_date_is():
    clean = profiles_to_columns([FirmProfile(firm_id=ID, founded_on="2020-01-01")])
    assert np.isnan(clean["age_years"][0]) and np.isnan(clean["months_since_latest_round"][0])
    filled = profiles_to_columns([FirmProfile(firm_id=ID, founded_on="2020-01-01")], as_of_default=date(2021, 1, 1))
    assert filled["age_years"][0] == pytest.approx(366 / 365.25)  # 2020 is a leap year


def test_replace_recomputes_the_derived_values_and_take_keeps_positions():
    clean = CleanColumns.of({"firm_id": [ID, ID, ID], "founded_on": ["2010-01-01"] * 3,
                             "as_of": ["2020-01-01", "2021-01-01", "2022-01-01"]})
    assert list(np.round(clean["age_years"], 4)) == [round(3652 / 365.25, 4), round(4018 / 365.25, 4),
                                                    round(4383 / 365.25, 4)]
    moved = clean.replace({"founded_on": np.full(3, day_number("2019-01-01")), "age_years": np.zeros(3)})
    assert moved["age_years"][0] == pytest.approx(365 / 365.25)  # the derived name given is ignored
    assert clean["founded_on"][0] == day_number("2010-01-01")  # the original is untouched
    sub = clean.take(np.array([False, True, True]))
    assert len(sub) == 2 and list(sub.positions) == [1, 2] and list(sub.index) == [1, 2]
    assert list(sub["as_of"]) == [day_number("2021-01-01"), day_number("2022-01-01")]


def test_the_frame_is_the_clean_frame_convention_and_reads_back():
    clean = profiles_to_columns([FirmProfile(firm_id=ID, as_of="2025-06-30", tax_grade="B", revenue_y0=10)])
    frame = clean.to_frame()
    assert list(frame.columns) == list(FIELD_NAMES)
    assert frame["as_of"].dtype == "datetime64[ns]" and frame["as_of"].iloc[0] == pd.Timestamp("2025-06-30")
    assert frame["revenue_y0"].dtype == np.float64 and frame["tax_grade"].dtype == object
    back = CleanColumns.from_frame(frame)
    for f in (*FIELD_NAMES, *DERIVED):
        np.testing.assert_array_equal(back[f], clean[f])


def _equal_column_by_column(a: CleanColumns, b: CleanColumns) -> None:
    assert a.keys() == b.keys() and len(a) == len(b)
    np.testing.assert_array_equal(a.firm_id, b.firm_id)
    for name in a.keys():
        x, y = a[name], b[name]
        assert x.dtype == y.dtype, name
        if x.dtype == object:
            assert x.tolist() == y.tolist(), name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)  # NaN equals NaN here


def test_a_file_and_the_api_give_the_same_columns(portfolio):
    """validate_frame (files) and profiles_to_columns (the API) for the same firms: equal column by column."""
    raw = portfolio.drop(columns=["default_12m", "true_pd"], errors="ignore").head(300)
    by_file = validate_frame(raw, as_of_default=date(2025, 6, 30)).clean
    rows = raw.iloc[by_file.positions].astype(object).where(raw.iloc[by_file.positions].notna(), None)
    profiles = [FirmProfile.model_validate({k: v for k, v in r.items() if v is not None}) for r in rows.to_dict("records")]
    by_api = profiles_to_columns(profiles, as_of_default=date(2025, 6, 30))
    assert len(by_file) > 250
    _equal_column_by_column(by_file.take(np.arange(len(by_file))).replace({}), by_api.replace({}))
    for name in ("as_of", "founded_on", "revenue_y0", "tax_grade", "age_years"):  # spot-check the kinds present
        assert name in by_api


def test_the_examples_give_the_same_columns_by_file_and_by_api():
    examples = list(example_profiles().values())
    by_api = profiles_to_columns([FirmProfile.model_validate(p) for p in examples])
    by_file = validate_frame(pd.DataFrame(examples).astype(object)).clean
    _equal_column_by_column(by_file, by_api)
    kinds = {FIELD_SPECS[f].kind for f in FIELD_NAMES}
    assert kinds == {"number", "integer", "bool", "enum", "date", "text"}
