"""Tests for features/validate.py: vectorised frame validation and the clean-frame convention."""
from __future__ import annotations

import io
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.schema import (CROSS_RULES, FIELD_NAMES, FIELD_SPECS, FirmProfile, example_profiles,
                             violations_from_error)
from features.validate import REJECT_COLUMNS, ValidationResult, profiles_to_frame, validate_frame
from tests.features.test_schema import CROSS_CASES

GOOD = example_profiles()["startup"]

# (field, raw cell, expected rule) — one violation each when put into an otherwise good row.
BAD_CELLS: list[tuple[str, Any, str]] = [
    ("firm_id", "91350100M000100Y44", "uscc_check"),
    ("firm_id", "91350100M000100Y4", "uscc_check"),
    ("firm_id", "91350100I000100Y43", "uscc_check"),
    ("firm_id", "", "required"),
    ("name", "x" * 201, "max_length"),
    ("region_code", "32059", "pattern"),
    ("region_code", "32059A", "pattern"),
    ("industry_code", "6513", "pattern"),
    ("industry_code", "Z6513", "pattern"),
    ("sei_category", "10", "le:9"),
    ("sei_category", "0", "ge:1"),
    ("founded_on", "2023/13/15", "date"),
    ("founded_on", "2023-02-30", "date"),
    ("as_of", "yesterday", "date"),
    ("lifecycle_stage", "seed", "enum"),
    ("revenue_y0", "-5", "ge:0"),
    ("revenue_y0", "abc", "type:number"),
    ("revenue_y0", "nan", "type:number"),
    ("cash", "1,00", "type:number"),
    ("top5_customer_share", "1.2", "le:1"),
    ("key_staff_turnover_12m", "-0.1", "ge:0"),
    ("rd_expense_y1", "-1", "ge:0"),
    ("staff_total", "28.5", "integer"),
    ("staff_total", "twelve", "type:integer"),
    ("rd_center_level", "4", "le:3"),
    ("founder_industry_years", "71", "le:70"),
    ("founder_background", "phd", "enum"),
    ("invention_patents_granted", "-1", "ge:0"),
    ("qualification_tier", "gazelle", "enum"),
    ("sci_award_level", "-1", "ge:0"),
    ("latest_round", "series_a", "enum"),
    ("latest_round_date", "2024-13-01", "date"),
    ("state_fund_backed", "maybe", "type:bool"),
    ("current_overdue", "2", "type:bool"),
    ("tax_grade", "E", "enum"),
    ("max_dpd_24m", "731", "le:730"),
    ("worst_loan_class", "bad", "enum"),
    ("lender_count", "-2", "ge:0"),
    ("tenor_months", "0", "ge:1"),
    ("tenor_months", "361", "le:360"),
    ("security_type", "mortgage", "enum"),
]


def _frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """Raw object frame, as a CSV read with mixed cells would give."""
    return pd.DataFrame(list(rows), dtype=object)


def _pairs(result: ValidationResult, row: int) -> set[tuple[str, str]]:
    """(field, rule) reported for one input row."""
    r = result.rejects[result.rejects["row"] == row]
    return set(zip(r["field"], r["rule"]))


# ---------------------------------------------------------------- per-field rules
@pytest.mark.parametrize("field,raw,rule", BAD_CELLS)
def test_bad_cell_rejected_good_row_kept(field: str, raw: Any, rule: str) -> None:
    res = validate_frame(_frame(GOOD, {**GOOD, field: raw}))
    assert res.rejects[["row", "field", "rule"]].values.tolist() == [[1, field, rule]]
    assert list(res.frame.index) == [0]
    assert res.n_input == 2 and res.n_clean == 1 and res.n_rejected == 1
    line = res.rejects.iloc[0]
    assert line["value"] == ("" if raw == "" else str(raw))
    assert f"({field})" in line["message"] and f"[rule {rule}]" in line["message"]
    assert f"[规则 {rule}]" in line["message"] and " / " in line["message"]


@pytest.mark.parametrize("field,raw,rule", BAD_CELLS)
def test_pydantic_and_frame_agree(field: str, raw: Any, rule: str) -> None:
    with pytest.raises(ValidationError) as exc:
        FirmProfile(**{**GOOD, field: raw})
    pyd = {(v["field"], v["rule"]) for v in violations_from_error(exc.value)}
    assert pyd == _pairs(validate_frame(_frame({**GOOD, field: raw})), 0) == {(field, rule)}


def test_exact_messages() -> None:
    res = validate_frame(_frame({**GOOD, "revenue_y0": "-5", "tax_grade": "E"},
                                {**GOOD, "firm_id": "91350100M000100Y44"}))
    assert res.rejects["message"].tolist() == [
        "营业收入(当年)(revenue_y0)应不小于 0，输入值 '-5' [规则 ge:0] / "
        "Revenue, latest year (revenue_y0) must be ≥ 0, got '-5' [rule ge:0]",
        "纳税信用等级(tax_grade)不在允许值中(A, B, M, C, D)，输入值 'E' [规则 enum] / "
        "Tax credit grade (tax_grade) is not one of the allowed values (A, B, M, C, D), got 'E' [rule enum]",
        "统一社会信用代码(firm_id)不是有效的统一社会信用代码(长度、字符集或校验码错误)，输入值 '91350100M000100Y44' "
        "[规则 uscc_check] / Unified social credit code (firm_id) is not a valid unified social credit code "
        "(length, charset or check character), got '91350100M000100Y44' [rule uscc_check]",
    ]
    assert res.rejects["firm_id"].tolist() == [GOOD["firm_id"], GOOD["firm_id"], "91350100M000100Y44"]


def test_rejects_sorted_by_row_then_field_order() -> None:
    rows = [{**GOOD, f: raw} for f, raw, _ in BAD_CELLS[::-1]]
    rows[3] = {**rows[3], "tax_grade": "Z", "revenue_y0": "-1"}
    res = validate_frame(_frame(*rows))
    assert list(res.rejects.columns) == list(REJECT_COLUMNS)
    key = list(zip(res.rejects["row"], res.rejects["field"].map(FIELD_NAMES.index)))
    assert key == sorted(key)
    assert res.n_clean == 0 and res.rejects["row"].nunique() == len(rows)
    assert res.rejects["row"].dtype == np.int64


def test_every_violation_reported_once_per_row() -> None:
    res = validate_frame(_frame({**GOOD, "revenue_y0": "-1", "tax_grade": "x", "rd_staff": "99"}))
    assert _pairs(res, 0) == {("revenue_y0", "ge:0"), ("tax_grade", "enum"), ("rd_staff", "rd_staff_le_staff")}


# ---------------------------------------------------------------- cross rules
@pytest.mark.parametrize("rule", CROSS_RULES, ids=lambda r: r.code)
def test_cross_rule_frame(rule: Any) -> None:
    res = validate_frame(_frame(GOOD, {**GOOD, **CROSS_CASES[rule.code]}))
    assert res.rejects[["row", "field", "rule"]].values.tolist() == [[1, rule.field, rule.code]]
    assert rule.message_zh in res.rejects["message"].iloc[0] and rule.message_en in res.rejects["message"].iloc[0]
    assert list(res.frame.index) == [0]


def test_cross_rule_missing_side_never_violates() -> None:
    res = validate_frame(_frame({**GOOD, "rd_staff": 50, "staff_total": None},
                                {**GOOD, "founded_on": "2030-01-01", "as_of": "", "latest_round_date": None}))
    assert res.rejects.empty and res.n_clean == 2


def test_as_of_default_fills_missing_only() -> None:
    df = _frame({**GOOD, "as_of": None}, {**GOOD, "as_of": ""}, GOOD,
                {**GOOD, "as_of": None, "founded_on": "2025-02-01", "latest_round_date": None})
    res = validate_frame(df, as_of_default=date(2025, 1, 31))
    assert res.frame["as_of"].tolist()[:3] == [pd.Timestamp("2025-01-31")] * 2 + [pd.Timestamp("2025-06-30")]
    assert _pairs(res, 3) == {("founded_on", "founded_on_le_as_of")}
    assert pd.isna(validate_frame(_frame({**GOOD, "as_of": None})).frame["as_of"].iloc[0])


# ---------------------------------------------------------------- headers, extras, missing
def test_chinese_headers_bom_and_fullwidth_brackets() -> None:
    zh = {FIELD_SPECS[k].label_zh: v for k, v in GOOD.items()}
    zh["\ufeff统一社会信用代码 "] = zh.pop("统一社会信用代码")
    zh["营业收入（当年）"] = zh.pop("营业收入(当年)")  # full-width brackets, as Excel exports often have
    res = validate_frame(_frame(zh))
    assert res.rejects.empty and res.extra_columns == ()
    assert list(res.frame.columns) == list(FIELD_NAMES)
    assert res.frame["firm_id"].iloc[0] == GOOD["firm_id"] and res.frame["revenue_y0"].iloc[0] == 320.0


def test_gbk_csv_roundtrip() -> None:
    zh = pd.DataFrame([{FIELD_SPECS[k].label_zh: v for k, v in d.items()} for d in example_profiles().values()])
    raw = zh.to_csv(index=False).encode("gbk")
    res = validate_frame(pd.read_csv(io.BytesIO(raw), encoding="gbk"))
    assert res.rejects.empty and res.n_clean == 3
    assert res.frame["region_code"].tolist() == ["320594", "440300", "330108"]  # read as ints, back to codes


def test_extra_columns_carried_through() -> None:
    df = _frame({**GOOD, "default_12m": 1, "true_pd": 0.07, "备注": "x"}, {**GOOD, "default_12m": 0,
                                                                          "true_pd": 0.01, "备注": None})
    df.columns = [("\ufeff" + c if c == "default_12m" else c) for c in df.columns]
    res = validate_frame(df)
    assert res.extra_columns == ("default_12m", "true_pd", "备注")
    assert list(res.frame.columns) == [*FIELD_NAMES, "default_12m", "true_pd", "备注"]
    assert res.frame["default_12m"].tolist() == [1, 0] and res.frame["true_pd"].tolist() == [0.07, 0.01]


def test_duplicate_field_columns_refused() -> None:
    df = _frame({"firm_id": GOOD["firm_id"], "营业收入(当年)": 1, "revenue_y0": 2})
    with pytest.raises(ValueError, match="revenue_y0"):
        validate_frame(df)


def test_missing_columns_added_and_missing_is_nan_not_zero() -> None:
    res = validate_frame(pd.DataFrame({"firm_id": [GOOD["firm_id"]], "revenue_y0": [np.nan],
                                       "staff_total": [""], "current_overdue": [None]}))
    c = res.frame
    assert list(c.columns) == list(FIELD_NAMES) and res.rejects.empty
    assert np.isnan(c["revenue_y0"].iloc[0]) and np.isnan(c["staff_total"].iloc[0])
    assert np.isnan(c["current_overdue"].iloc[0]) and np.isnan(c["rd_expense_y0"].iloc[0])
    assert c["tax_grade"].iloc[0] is None and c["name"].iloc[0] is None and pd.isna(c["founded_on"].iloc[0])


def test_missing_firm_id_column_is_required_error() -> None:
    res = validate_frame(pd.DataFrame({"revenue_y0": [1.0, 2.0]}))
    assert res.rejects[["row", "field", "rule"]].values.tolist() == [[0, "firm_id", "required"],
                                                                     [1, "firm_id", "required"]]


def test_empty_frame() -> None:
    res = validate_frame(pd.DataFrame(columns=["firm_id"]))
    assert res.n_input == 0 and res.frame.empty and list(res.rejects.columns) == list(REJECT_COLUMNS)


# ---------------------------------------------------------------- normalisation and clean convention
def test_bool_enum_integer_normalisation() -> None:
    cells = [("是", " HNTE", "b", "28.0"), ("否", "Tech_SME", " a ", 28), ("Y", "none", "M", 28.0),
             ("no", "", None, "28"), (1, None, "d", " 28 "), ("TRUE", "champion", "c", "28")]
    rows = [{**GOOD, "current_overdue": v, "qualification_tier": t, "tax_grade": g, "staff_total": n,
             "max_dpd_24m": 5}  # an overdue loan has days past due (cross rule overdue_needs_dpd)
            for v, t, g, n in cells]
    res = validate_frame(_frame(*rows))
    assert res.rejects.empty
    assert res.frame["current_overdue"].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert res.frame["qualification_tier"].tolist() == ["hnte", "tech_sme", "none", None, None, "champion"]
    assert res.frame["tax_grade"].tolist() == ["B", "A", "M", None, "D", "C"]
    assert res.frame["staff_total"].tolist() == [28.0] * 6


def test_clean_frame_convention() -> None:
    res = validate_frame(_frame(*example_profiles().values()).set_axis([10, 20, 30]))
    c = res.frame
    assert list(c.index) == [0, 1, 2]  # input row positions
    for name, spec in FIELD_SPECS.items():
        if spec.kind in ("number", "integer", "bool"):
            assert c[name].dtype == np.float64, name
        elif spec.kind == "date":
            assert c[name].dtype == "datetime64[ns]", name
        else:
            assert c[name].dtype == object, name
    assert c["state_fund_backed"].tolist() == [1.0, 1.0, 1.0] and c["redemption_clause"].tolist() == [1.0, 1.0, 0.0]
    assert c["founded_on"].iloc[0] == pd.Timestamp("2023-03-15") and np.isnan(c["revenue_y2"].iloc[0])


def test_typed_columns_accepted() -> None:
    df = pd.DataFrame([GOOD, example_profiles()["growth"]])
    for f in ("founded_on", "as_of", "latest_round_date"):
        df[f] = pd.to_datetime(df[f])
    df["current_overdue"] = df["current_overdue"].astype(bool)
    res = validate_frame(df)
    assert res.rejects.empty and res.frame["founded_on"].dtype == "datetime64[ns]"
    df.loc[1, "founded_on"] = pd.Timestamp("2016-08-09 13:30")  # a time of day is not a date
    assert _pairs(validate_frame(df), 1) == {("founded_on", "date")}


def test_profiles_to_frame_matches_validate_frame() -> None:
    profiles = [FirmProfile(**d) for d in example_profiles().values()]
    expected = validate_frame(_frame(*example_profiles().values())).frame
    pd.testing.assert_frame_equal(profiles_to_frame(profiles), expected)
    one = profiles_to_frame([FirmProfile(firm_id=GOOD["firm_id"])], as_of_default=date(2025, 3, 31))
    assert one["as_of"].iloc[0] == pd.Timestamp("2025-03-31") and np.isnan(one["revenue_y0"].iloc[0])
    assert one["tax_grade"].iloc[0] is None and len(profiles_to_frame([]).columns) == len(FIELD_NAMES)


def test_profiles_to_frame_checks_date_rules_after_filling_as_of() -> None:
    p = FirmProfile(firm_id=GOOD["firm_id"], founded_on="2030-01-01")  # valid alone: as_of is empty
    with pytest.raises(ValueError, match=r"founded_on \[founded_on_le_as_of\]"):
        profiles_to_frame([p], as_of_default=date(2025, 1, 1))


def test_pydantic_alias_errors_map_to_field_names() -> None:
    with pytest.raises(ValidationError) as exc:
        FirmProfile(**{"统一社会信用代码": GOOD["firm_id"], "营业收入(当年)": -1})
    assert [(v["field"], v["rule"]) for v in violations_from_error(exc.value)] == [("revenue_y0", "ge:0")]


def test_examples_validate_in_frame() -> None:
    res = validate_frame(pd.DataFrame(list(example_profiles().values())))
    assert res.rejects.empty and res.n_clean == 3


def test_100k_rows_with_extra_columns() -> None:
    """Size and shape only; the speed is bench/bench_validation.py's job (no wall-clock bound here)."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame(list(example_profiles().values()))
    idx = rng.integers(0, 3, 100_000)
    big = pd.DataFrame({c: base[c].to_numpy()[idx] for c in base.columns})
    for c in big.columns:
        if FIELD_SPECS[c].kind in ("number", "integer"):
            big[c] = pd.to_numeric(big[c]).astype(float)
    for k in range(12):
        big[f"extra_{k}"] = rng.random(len(big))
    big.loc[rng.random(len(big)) < 0.01, "revenue_y0"] = -1.0
    res = validate_frame(big)
    assert res.n_input == 100_000 and len(res.rejects) == 100_000 - res.n_clean > 0
