"""Tests for features/schema.py: field metadata, USCC check, normalisation, cross rules, examples."""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.schema import (ALIASES, CROSS_RULES, FIELD_NAMES, FactRule, FIELD_SPECS, USCC_CHARSET, USCC_WEIGHTS,
                             FirmProfile, example_profiles, make_uscc, uscc_is_valid, uscc_valid_mask,
                             violations_from_error)

SPEC_ORDER = (
    "firm_id name region_code industry_code sei_category founded_on as_of lifecycle_stage "
    "revenue_y0 revenue_y1 revenue_y2 cost_of_sales_y0 net_profit_y0 total_assets total_liabilities "
    "net_assets_y0 net_assets_y1 cash operating_cash_flow_y0 hightech_revenue_y0 top5_customer_share "
    "rd_expense_y0 rd_expense_y1 rd_expense_y2 rd_capitalized_y0 rd_center_level univ_collaborations gov_grants_3y "
    "staff_total insured_staff insured_staff_prev rd_staff sci_tech_staff bachelor_plus masters_phd "
    "talent_program_members founder_industry_years founder_background key_staff_turnover_12m "
    "invention_patents_granted invention_patents_pending utility_models design_patents pct_applications "
    "software_copyrights trademarks ip_new_3y standards_national standards_industry standards_group "
    "tech_conversions_3y qualification_tier sci_award_level "
    "registered_capital paid_in_capital equity_raised_total equity_raised_2y latest_round latest_round_date "
    "institutional_investors state_fund_backed listed_or_cvc_backed redemption_clause "
    "tax_grade current_overdue max_dpd_24m worst_loan_class lawsuits_defendant_3y lawsuit_amount_3y "
    "enforcement_listed admin_penalties_3y abnormal_operation_listed guarantees_outstanding lender_count "
    "credit_inquiries_6m own_funds bank_loans_outstanding ip_appraised_value latest_round_amount "
    "conversion_contract_value requested_amount tenor_months security_type"
).split()

VALID = "91350100M000100Y43"


def _errors(data: dict[str, Any]) -> set[tuple[str, str]]:
    """(field, rule) pairs pydantic reports for `data` (empty when valid)."""
    try:
        FirmProfile(**data)
    except ValidationError as exc:
        return {(v["field"], v["rule"]) for v in violations_from_error(exc)}
    return set()


def _with(**overrides: Any) -> dict[str, Any]:
    """The startup example with some fields replaced."""
    return {**example_profiles()["startup"], **overrides}


# ---------------------------------------------------------------- field metadata
def test_field_order_matches_spec() -> None:
    assert FIELD_NAMES == tuple(SPEC_ORDER)
    assert tuple(FIELD_SPECS) == FIELD_NAMES


def test_only_firm_id_is_required() -> None:
    assert [n for n, s in FIELD_SPECS.items() if s.required] == ["firm_id"]
    assert FirmProfile(firm_id=VALID).revenue_y0 is None


def test_metadata_complete_and_labels_unique() -> None:
    kinds = {"number", "integer", "bool", "enum", "date", "text"}
    for name, spec in FIELD_SPECS.items():
        assert spec.kind in kinds, name
        assert spec.label_zh and spec.label_en and spec.group, name
        zh, en = spec.description.split(" / ")
        assert zh.startswith(spec.label_zh) and en.startswith(spec.label_en), name
        extra = FirmProfile.model_fields[name].json_schema_extra
        assert {"label_zh", "label_en", "unit", "group", "kind"} <= set(extra), name
    assert len(ALIASES) == len(FIELD_NAMES)
    assert ALIASES["统一社会信用代码"] == "firm_id"
    assert ALIASES["营业收入(当年)"] == "revenue_y0"
    assert ALIASES["研发费用(当年)"] == "rd_expense_y0"
    assert ALIASES["发明专利授权数"] == "invention_patents_granted"


def test_field_specs_derived_bounds_and_enums() -> None:
    assert (FIELD_SPECS["top5_customer_share"].ge, FIELD_SPECS["top5_customer_share"].le) == (0, 1)
    assert FIELD_SPECS["top5_customer_share"].unit == "share 0-1"
    assert (FIELD_SPECS["max_dpd_24m"].ge, FIELD_SPECS["max_dpd_24m"].le) == (0, 730)
    assert (FIELD_SPECS["tenor_months"].ge, FIELD_SPECS["tenor_months"].le) == (1, 360)
    assert (FIELD_SPECS["sei_category"].ge, FIELD_SPECS["sei_category"].le) == (1, 9)
    # plausible bounds from the unit: money within ±1e8 万元, counts at most a million
    assert (FIELD_SPECS["net_profit_y0"].ge, FIELD_SPECS["net_profit_y0"].le) == (-1e8, 1e8)
    assert (FIELD_SPECS["revenue_y0"].ge, FIELD_SPECS["revenue_y0"].le) == (0, 1e8)
    assert (FIELD_SPECS["staff_total"].ge, FIELD_SPECS["staff_total"].le) == (0, 1_000_000)
    assert FIELD_SPECS["revenue_y0"].unit == "万元" and FIELD_SPECS["revenue_y0"].kind == "number"
    assert FIELD_SPECS["staff_total"].kind == "integer" and FIELD_SPECS["staff_total"].ge == 0
    assert FIELD_SPECS["tax_grade"].enum == ("A", "B", "M", "C", "D")
    assert FIELD_SPECS["latest_round"].enum == ("none", "angel", "a", "b", "c_plus", "pre_ipo")
    assert FIELD_SPECS["qualification_tier"].enum == (
        "none", "tech_sme", "hnte", "srdi_provincial", "little_giant", "champion")
    assert FIELD_SPECS["founded_on"].kind == "date" and FIELD_SPECS["redemption_clause"].kind == "bool"
    assert FIELD_SPECS["region_code"].pattern == "^[0-9]{6}$"
    assert FIELD_SPECS["name"].max_length == 200


def test_json_schema_uses_english_names_and_carries_labels() -> None:
    props = FirmProfile.model_json_schema()["properties"]
    assert list(props) == list(FIELD_NAMES)
    assert props["revenue_y0"]["label_zh"] == "营业收入(当年)" and props["revenue_y0"]["unit"] == "万元"


# ---------------------------------------------------------------- USCC
def _reference_check(body: str) -> str:
    """GB 32100-2015 check character, written out independently of the implementation."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(body, USCC_WEIGHTS))
    value = 31 - total % 31
    return USCC_CHARSET[0 if value == 31 else value]


def test_known_uscc_is_valid() -> None:
    assert _reference_check(VALID[:17]) == VALID[17] == "3"
    assert uscc_is_valid(VALID)
    assert make_uscc(VALID[:17]) == VALID


@pytest.mark.parametrize("code", [
    "91350100M000100Y44",   # wrong check character
    "91350100M000100Y4",    # 17 chars
    "91350100M000100Y433",  # 19 chars
    "91350100I000100Y43",   # I is not in the charset
    "91350100m000100y43",   # lower case
    "", None, 91350100, "９1350100M000100Y43",
])
def test_invalid_uscc(code: Any) -> None:
    assert not uscc_is_valid(code)


def test_uscc_mask_matches_scalar() -> None:
    rng = np.random.default_rng(1)
    bodies = ["".join(rng.choice(list(USCC_CHARSET), 17)) for _ in range(200)]
    codes: list[Any] = [make_uscc(b) for b in bodies[:100]] + [b + "0" for b in bodies[100:]]
    codes += [None, np.nan, 5, "", VALID, "91350100M000100Y44"]
    expected = np.array([uscc_is_valid(c) for c in codes])
    assert expected[:100].all()
    assert np.array_equal(uscc_valid_mask(codes), expected)
    assert np.array_equal(uscc_valid_mask(pd.Series(codes, dtype=object)), expected)
    assert np.array_equal(uscc_valid_mask(pd.Series([c if isinstance(c, str) else None for c in codes],
                                                    dtype="str")),
                          np.array([isinstance(c, str) and uscc_is_valid(c) for c in codes]))


def test_make_uscc_rejects_bad_body() -> None:
    with pytest.raises(ValueError):
        make_uscc("9135010OM000100Y4")  # letter O
    with pytest.raises(ValueError):
        make_uscc("123")


# ---------------------------------------------------------------- normalisation
@pytest.mark.parametrize("raw,expected", [
    (1, True), (0, False), ("1", True), ("0", False), ("true", True), ("FALSE", False), ("Yes", True),
    ("no", False), ("是", True), ("否", False), ("Y", True), (" n ", False), (True, True), (1.0, True),
    ("", None), (None, None),
])
def test_bool_normalisation(raw: Any, expected: bool | None) -> None:
    assert FirmProfile(firm_id=VALID, current_overdue=raw).current_overdue is expected


@pytest.mark.parametrize("raw", ["maybe", "2", 2, "on", "t"])
def test_bool_rejects_other_spellings(raw: Any) -> None:
    assert _errors({"firm_id": VALID, "current_overdue": raw}) == {("current_overdue", "type:bool")}


def test_enum_normalisation() -> None:
    p = FirmProfile(firm_id=VALID, qualification_tier=" HNTE", lifecycle_stage="Growth", tax_grade="b ",
                    latest_round="C_Plus", worst_loan_class="Normal")
    assert (p.qualification_tier, p.lifecycle_stage, p.tax_grade, p.latest_round, p.worst_loan_class) == (
        "hnte", "growth", "B", "c_plus", "normal")


def test_integer_and_empty_tolerance() -> None:
    p = FirmProfile(firm_id=f" {VALID} ", staff_total="12.0", rd_staff=3.0, revenue_y0="", region_code=320594)
    assert (p.firm_id, p.staff_total, p.rd_staff, p.revenue_y0, p.region_code) == (VALID, 12, 3, None, "320594")
    assert _errors({"firm_id": VALID, "staff_total": "12.5"}) == {("staff_total", "integer")}
    assert _errors({"firm_id": VALID, "staff_total": "twelve"}) == {("staff_total", "type:integer")}


def test_dates_iso_only() -> None:
    assert FirmProfile(firm_id=VALID, founded_on="2020-02-29").founded_on == date(2020, 2, 29)
    assert FirmProfile(firm_id=VALID, founded_on="2020-02-29T00:00:00").founded_on == date(2020, 2, 29)
    for raw in ["2021/02/29", "2021-02-29", "20210229", 1582934400, "1600-01-01"]:
        assert _errors({"firm_id": VALID, "founded_on": raw}) == {("founded_on", "date")}, raw


def test_chinese_labels_accepted_as_aliases() -> None:
    p = FirmProfile(**{"统一社会信用代码": VALID, "营业收入(当年)": 1200, "研发费用(当年)": 80,
                       "发明专利授权数": 3, "纳税信用等级": "a", "当前是否逾期": "否"})
    assert (p.firm_id, p.revenue_y0, p.rd_expense_y0, p.invention_patents_granted, p.tax_grade,
            p.current_overdue) == (VALID, 1200.0, 80.0, 3, "A", False)


def test_unknown_key_forbidden() -> None:
    assert _errors({"firm_id": VALID, "revenue": 5}) == {("revenue", "unknown_field")}


# ---------------------------------------------------------------- per-field rules
@pytest.mark.parametrize("field,raw,rule", [
    ("firm_id", "91350100M000100Y44", "uscc_check"),
    ("firm_id", "", "required"),
    ("revenue_y0", -5, "ge:0"),
    ("revenue_y0", "abc", "type:number"),
    ("top5_customer_share", 1.2, "le:1"),
    ("tenor_months", 0, "ge:1"),
    ("max_dpd_24m", 731, "le:730"),
    ("tax_grade", "E", "enum"),
    ("region_code", "32059", "pattern"),
    ("industry_code", "Z6513", "pattern"),
    ("name", "x" * 201, "max_length"),
    ("latest_round_date", "2024-13-01", "date"),
])
def test_field_rules_named(field: str, raw: Any, rule: str) -> None:
    assert _errors(_with(**{field: raw})) == {(field, rule)}


def test_error_message_is_bilingual_and_names_field_rule_value() -> None:
    with pytest.raises(ValidationError) as exc:
        FirmProfile(**_with(revenue_y0=-5))
    (v,) = violations_from_error(exc.value)
    assert v["message"] == ("营业收入(当年)(revenue_y0)应不小于 0，输入值 '-5' [规则 ge:0] / "
                            "Revenue, latest year (revenue_y0) must be ≥ 0, got '-5' [rule ge:0]")


# ---------------------------------------------------------------- cross rules
CROSS_CASES: dict[str, dict[str, Any]] = {
    "rd_staff_le_staff": {"rd_staff": 29},
    "sci_tech_staff_le_staff": {"sci_tech_staff": 29},
    "bachelor_plus_le_staff": {"bachelor_plus": 29},
    "masters_phd_le_bachelor_plus": {"masters_phd": 26},
    "talent_program_le_staff": {"talent_program_members": 29},
    "founded_on_le_as_of": {"founded_on": "2025-07-01", "latest_round_date": None},
    "latest_round_date_le_as_of": {"latest_round_date": "2025-07-01"},
    "latest_round_date_ge_founded_on": {"latest_round_date": "2023-03-14"},
    "paid_in_le_registered": {"paid_in_capital": 1200.5},
    "equity_2y_le_total": {"equity_raised_2y": 3600},
    "rd_capitalized_le_rd_expense": {"rd_capitalized_y0": 611},
    "hightech_revenue_le_revenue": {"hightech_revenue_y0": 321},
    "dpd90_needs_substandard": {"max_dpd_24m": 120},             # loan class stays "normal"
    "overdue_needs_dpd": {"current_overdue": True},              # max_dpd_24m stays 0
    "bank_loans_le_liabilities": {"bank_loans_outstanding": 421},  # total liabilities 420
    "round_amount_le_equity_total": {"latest_round_amount": 3501},  # total equity raised 3500
}


def test_cross_cases_cover_every_rule() -> None:
    assert set(CROSS_CASES) == {r.code for r in CROSS_RULES}
    assert len({r.code for r in CROSS_RULES}) == len(CROSS_RULES)
    assert all(r.field in r.fields and set(r.fields) <= set(FIELD_NAMES) for r in CROSS_RULES)


@pytest.mark.parametrize("rule", CROSS_RULES, ids=lambda r: r.code)
def test_cross_rule_pydantic(rule: Any) -> None:
    assert _errors(_with(**CROSS_CASES[rule.code])) == {(rule.field, rule.code)}
    with pytest.raises(ValidationError, match=f"{rule.field} \\[{rule.code}\\]"):
        FirmProfile(**_with(**CROSS_CASES[rule.code]))


@pytest.mark.parametrize("rule", CROSS_RULES, ids=lambda r: r.code)
def test_cross_rule_on_one_profile_agrees_with_the_vectorised_check(rule: Any) -> None:
    if rule.on_dates:
        d = [date(2020, 1, 1), date(2020, 1, 2), None]
        pairs = [(a, b) for a in d for b in d]
        cols = {f: np.array([np.datetime64(p[k]) if p[k] else np.datetime64("NaT") for p in pairs],
                            dtype="datetime64[ns]") for k, f in enumerate(rule.fields)}
    else:
        v = [0, 1, 1.0, 1.5, 2**53, 2**53 + 1, None]  # ints beyond 2**53 compare as float64, like the frame
        pairs = [(a, b) for a in v for b in v]
        cols = {f: np.array([np.nan if p[k] is None else float(p[k]) for p in pairs]) for k, f in enumerate(rule.fields)}
    if isinstance(rule, FactRule):  # rules on flags and classes: each field's own kinds of value
        domain = {"enum": [*FIELD_SPECS[rule.fields[1]].enum, None], "bool": [True, False, None],
                  "integer": [0, 1, 89, 90, 730, None]}
        pairs = [(a, b) for a in domain[FIELD_SPECS[rule.fields[0]].kind] for b in domain[FIELD_SPECS[rule.fields[1]].kind]]
        cols = {f: _column([p[k] for p in pairs], FIELD_SPECS[f].kind) for k, f in enumerate(rule.fields)}
    expected = rule.violated(cols)
    assert [rule.violated_by(a, b) for a, b in pairs] == expected.tolist()
    assert expected.any() and not expected.all()


def _column(values: list[Any], kind: str) -> np.ndarray:
    """A clean-frame column: enums as objects (None missing), flags and numbers as float (NaN missing)."""
    if kind == "enum":
        return np.array(values, dtype=object)
    return np.array([np.nan if v is None else float(v) for v in values])


def test_credit_record_rules_by_hand() -> None:
    dpd = np.array([90.0, 90.0, 89.0, 730.0, 730.0, np.nan])
    cls = np.array(["normal", "substandard", "normal", "special_mention", None, "normal"], dtype=object)
    rule = next(r for r in CROSS_RULES if r.code == "dpd90_needs_substandard")
    assert rule.violated({"max_dpd_24m": dpd, "worst_loan_class": cls}).tolist() == [True, False, False, True, False,
                                                                                      False]
    rule = next(r for r in CROSS_RULES if r.code == "overdue_needs_dpd")
    assert rule.violated({"current_overdue": np.array([1.0, 1.0, 0.0, np.nan]),
                          "max_dpd_24m": np.array([0.0, 3.0, 0.0, 0.0])}).tolist() == [True, False, False, False]


@pytest.mark.parametrize("rule", CROSS_RULES, ids=lambda r: r.code)
def test_cross_rule_missing_never_violates(rule: Any) -> None:
    is_date = FIELD_SPECS[rule.fields[0]].kind == "date"
    cols = {f: (np.array(["NaT", "NaT"], dtype="datetime64[ns]") if is_date else np.array([np.nan, np.nan]))
            for f in rule.fields}
    assert not rule.violated(cols).any()
    cols_none = {f: np.array([None, None], dtype=object) for f in rule.fields}
    assert not rule.violated(cols_none).any()
    assert not _errors(_with(**{f: None for f in rule.fields if f != "firm_id"}))


def test_equal_values_do_not_violate() -> None:
    assert not _errors(_with(rd_staff=28, hightech_revenue_y0=320, latest_round_date="2025-06-30",
                             paid_in_capital=1200))


# ---------------------------------------------------------------- examples
def test_example_profiles_validate() -> None:
    examples = example_profiles()
    assert set(examples) == {"startup", "growth", "mature"}
    for stage, data in examples.items():
        p = FirmProfile(**data)
        assert p.lifecycle_stage == stage and uscc_is_valid(p.firm_id)
        assert set(data) == set(FIELD_NAMES)
        assert p.region_code == p.firm_id[2:8]  # USCC characters 3–8 are the region code
    assert len({d["firm_id"] for d in examples.values()}) == 3


NORMALISE_PROBES = [0, 1, -3, 2.5, float("nan"), float("inf"), True, False, "", "  ", " A ", "b", "yes", " 否 ", None,
                    "2024-01-01", date(2024, 1, 1), 12, "12.0", 110105.0, [1], "2021-W01-1", "1699-12-31",
                    "2021-02-30", " 2024-01-01", "2024-01-01 00:00:00", "２０２４-01-01"]


def _outcome(fn: Any, v: Any) -> Any:
    try:
        return ("ok", fn(v), type(fn(v)))
    except Exception as exc:  # the error pydantic would report
        return ("error", type(exc), str(exc))


@pytest.mark.parametrize("name", FIELD_NAMES)
def test_per_field_normaliser_shortcuts_match_the_generic_path(name: str) -> None:
    from features.schema import _normalise_value, _normaliser
    kind = FIELD_SPECS[name].kind
    for v in NORMALISE_PROBES:
        got, want = _outcome(_normaliser(name, kind), v), _outcome(lambda x: _normalise_value(name, kind, x), v)
        assert repr(got) == repr(want), (name, v)


def test_implausible_amounts_are_rejected_by_the_frame_validator_too() -> None:
    from features.validate import validate_frame

    row = example_profiles()["growth"]
    checked = validate_frame(pd.DataFrame([row | {"revenue_y0": 1e308}, row | {"staff_total": 10**7}, row]))
    assert list(checked.frame.index) == [2]
    assert sorted(zip(checked.rejects["field"], checked.rejects["rule"])) == [("revenue_y0", "le:1e+08"),
                                                                           ("staff_total", "le:1e+06")]


def test_openapi_schema_states_the_credit_code_date_and_cross_field_rules() -> None:
    schema = FirmProfile.model_json_schema()
    assert schema["properties"]["firm_id"]["pattern"] == "^[0-9A-HJ-NPQRTUWXY]{18}$"
    assert "1700-01-01–2199-12-31" in schema["properties"]["founded_on"]["description"]
    assert "founded_on_le_as_of" in schema["description"] and "GB 32100-2015" in schema["description"]


def test_fact_rules_say_the_same_for_one_profile_and_for_a_frame() -> None:
    """The API's per-profile check and the file validator's vectorised one agree on every case."""
    import itertools

    import numpy as np

    from features.schema import CROSS_RULES

    cases = {"max_dpd_24m": [0, 1, 89, 90, 730], "worst_loan_class": ["normal", "special_mention", "substandard", "loss"],
             "current_overdue": [True, False]}
    for rule in (r for r in CROSS_RULES if hasattr(r, "clash_one")):
        a, b = rule.fields
        pairs = list(itertools.product(cases[a], cases[b]))
        frame = rule.violated({a: np.array([p[0] for p in pairs], dtype=object),
                               b: np.array([p[1] for p in pairs], dtype=object)})
        assert [rule.violated_by(x, y) for x, y in pairs] == frame.tolist(), rule.code
        assert any(frame), rule.code
