"""Recommendations: hand-computed limits and caps, decisions, each product rule, joint loans, knock-outs."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.clean import CleanColumns
from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_columns, validate_frame
from models.decision import RECOMMENDATION_COLUMNS, recommend
from models.policy import default_policy, parse_policy
from models.scoring import RESULT_COLUMNS
from tests.answers_json import record, recommendation

POLICY = default_policy()
BAND = dict(revenue_y0=18500.0, revenue_y1=16800.0, revenue_y2=14800.0, total_assets=19000.0,
            hightech_revenue_y0=15000.0, own_funds=1000.0, bank_loans_outstanding=1000.0)  # a mature tech SME


def _profile(stage: str = "growth", **changes) -> dict:
    p = copy.deepcopy(example_profiles()[stage])
    p.update(changes)
    return p


def _assess(scorer, profiles: list[dict], grades: list[str] | None = None, policy=POLICY):
    """Score the profiles; pin their grades when given (the arithmetic depends on the grade only)."""
    clean = profiles_to_columns([FirmProfile.model_validate(p) for p in profiles])
    batch = scorer.score(clean)
    if grades is not None:
        batch = dataclasses.replace(batch, grade=np.array(grades, dtype=object))
    return batch, recommend(batch, clean, policy)


def _step(recs, i: int, key: str) -> dict:
    return next(s for s in recommendation(recs, i)["limit_steps"] if s["key"] == key)


FACTS = dict(own_funds=0.0, bank_loans_outstanding=0.0)  # no own funds, no bank debt: the need is the basis


def test_working_capital_limit_by_hand(scorer):
    # need = 6000 × (1 − 0.1) × (1 + 0.2) / 3 = 2160; − own funds 200 − bank loans 200 = 1760; × 0.9 (A) = 1584 → 1580
    p = _profile(revenue_y0=6000.0, revenue_y1=5000.0, net_profit_y0=600.0, own_funds=200.0,
                 bank_loans_outstanding=200.0, total_liabilities=1000.0, total_assets=5000.0,
                 hightech_revenue_y0=5000.0)
    _, recs = _assess(scorer, [p], ["A"])
    assert recs.basis[0] == "working_capital"
    assert _step(recs, 0, "working_capital_need")["value"] == pytest.approx(2160.0)
    assert _step(recs, 0, "own_funds")["value"] == pytest.approx(-200.0)
    assert _step(recs, 0, "existing_loans")["value"] == pytest.approx(-200.0)
    assert _step(recs, 0, "basis")["value"] == pytest.approx(1760.0)
    assert _step(recs, 0, "after_grade_factor")["value"] == pytest.approx(1584.0)
    assert "not binding" in _step(recs, 0, "cap")["rule"]
    assert recs.limit[0] == 1580.0 and recs.decision[0] == "approve"
    assert recommendation(recs, 0)["assumptions"] == []  # facts only: nothing assumed


def test_conservative_basis_is_used_and_said_when_facts_are_absent(scorer):
    money = dict(revenue_y0=6000.0, revenue_y1=5000.0, net_profit_y0=600.0, total_assets=5000.0,
                 hightech_revenue_y0=5000.0, own_funds=None, bank_loans_outstanding=None)
    profiles = [_profile(**money, total_liabilities=1000.0, lender_count=3),  # 2160 − 648 − 432 = 1080 × 0.9 = 972
                _profile(**money, total_liabilities=1000.0, lender_count=0),  # 2160 − 648 − 0 = 1512 × 0.9 = 1360.8
                _profile(**money, total_liabilities=100.0, lender_count=3),   # loans ≤ liabilities: 2160 − 648 − 100
                _profile(**money, total_liabilities=1000.0, lender_count=3, cash=26000.0)]  # cash is no longer a guess
    _, recs = _assess(scorer, profiles, ["A"] * 4)
    assert list(recs.limit) == [970.0, 1360.0, 1270.0, 970.0]
    assert _step(recs, 0, "own_funds")["value"] == pytest.approx(-648.0)
    assert _step(recs, 0, "existing_loans")["value"] == pytest.approx(-432.0)
    assert "own_funds_share_of_need 0.3" in _step(recs, 0, "own_funds")["rule"]
    assert [a["code"] for a in recommendation(recs, 0)["assumptions"]][:2] == ["own_funds", "loans_share"]
    assert [a["code"] for a in recommendation(recs, 1)["assumptions"]][:2] == ["own_funds", "loans_none"]
    first = recommendation(recs, 0)["assumptions"][0]
    assert first["text_zh"] == "未提供自有资金：按营运资金需求的 30% 视为企业自筹"
    assert first["text_en"] == "own funds not given: the firm is taken to fund 30% of its need itself"
    assert recs.columns()["limit_assumptions"].to_pylist()[0].startswith("own_funds;loans_share")


def test_growth_is_clipped_and_defaults_when_unknown(scorer):
    fast = _profile(revenue_y0=6000.0, revenue_y1=2000.0, net_profit_y0=600.0, **FACTS)
    unknown = _profile(revenue_y0=6000.0, revenue_y1=None, revenue_y2=None, net_profit_y0=600.0, **FACTS)
    _, recs = _assess(scorer, [fast, unknown], ["AA", "AA"])
    assert recs.b.growth[0] == pytest.approx(0.30) and recs.b.growth[1] == pytest.approx(0.10)
    # 6000 × 0.9 × 1.3 / 3 = 2340 ; 6000 × 0.9 × 1.1 / 3 = 1980 (× 1.0 for AA)
    assert list(recs.limit) == [2340.0, 1980.0]


def test_revenue_share_fallback_when_net_profit_is_unknown(scorer):
    p = _profile(revenue_y0=6000.0, net_profit_y0=None)
    _, recs = _assess(scorer, [p], ["BBB"])
    assert recs.basis[0] == "revenue_share"
    assert recs.limit[0] == 960.0  # 6000 × 0.2 × 0.8


def test_no_turnover_in_the_policy_means_revenue_share_for_everyone(scorer):
    doc = POLICY.model_dump(mode="json")
    doc["working_capital"]["turnover_default"] = None
    _, recs = _assess(scorer, [_profile(revenue_y0=6000.0)], ["BBB"], parse_policy(doc))
    assert recs.basis[0] == "revenue_share" and recs.limit[0] == 960.0


def _turnover_one() -> object:
    doc = POLICY.model_dump(mode="json")
    doc["working_capital"]["turnover_default"] = 1.0
    return parse_policy(doc)


def test_joint_caps_and_the_star_cap(scorer):
    # turnover 1: need = 19000 × 0.9 × (19000 / 18000) = 18050 (inside the SME band: revenue and assets ≤ 20000)
    big = dict(revenue_y0=19000.0, revenue_y1=18000.0, net_profit_y0=1900.0, total_assets=19500.0,
               total_liabilities=5000.0, hightech_revenue_y0=15000.0, staff_total=480, **FACTS)
    profiles = [_profile("mature", **big, qualification_tier="hnte"),          # AAA → joint cap 15000
                _profile("mature", **big, qualification_tier="little_giant"),  # AAA little giant → star 18050
                _profile("mature", **big, qualification_tier="little_giant"),  # A: 16245 → joint cap 15000
                _profile("mature", **big, qualification_tier="little_giant")]  # B (refer): 9025 → 9020, one bank
    _, recs = _assess(scorer, profiles, ["AAA", "AAA", "A", "B"], _turnover_one())
    assert list(recs.decision) == ["approve", "approve", "approve", "refer"]
    assert list(recs.limit) == [15000.0, 18050.0, 15000.0, 9020.0]
    assert list(recs.star) == [False, True, False, False]
    assert list(recs.banks) == [5, 7, 5, 0]  # ⌈limit / 3000⌉
    assert "joint_loan.caps.mature" in _step(recs, 0, "cap")["rule"] and "applied" in _step(recs, 0, "cap")["rule"]
    assert "star.cap" in _step(recs, 1, "cap")["rule"] and "not binding" in _step(recs, 1, "cap")["rule"]
    assert _step(recs, 3, "cap")["rule"] == "caps.mature — not binding"
    assert recommendation(recs, 1)["joint_loan"]["kind"] == "star" and recommendation(recs, 0)["joint_loan"]["kind"] == "cap_lift"
    assert _eligible(recs, "JOINT_LOAN") == [True, True, True, False]  # joint loans only for approve


def test_startup_limit_is_a_share_of_recent_equity_with_a_joint_first_loan(scorer):
    small = _profile("startup", equity_raised_2y=1000.0, equity_raised_total=3500.0)   # 1000 × 0.3 × 0.9 = 270
    large = _profile("startup", equity_raised_2y=3000.0)                              # 900 × 1.0 = 900
    huge = _profile("startup", equity_raised_2y=8000.0, equity_raised_total=9000.0)   # 2400 > 1000, has a lender
    first = _profile("startup", equity_raised_2y=8000.0, equity_raised_total=9000.0, lender_count=0)  # joint first loan
    _, recs = _assess(scorer, [small, large, huge, first], ["A", "AA", "AA", "AA"])
    assert list(recs.basis) == ["equity"] * 4
    assert list(recs.limit) == [270.0, 900.0, 1000.0, 2000.0]
    assert list(recs.banks) == [0, 0, 0, 2] and recs.shares(3) == [1000.0, 1000.0]
    joint = recommendation(recs, 3)["joint_loan"]
    assert joint["kind"] == "first_loan" and joint["joint_cap"] == 2000.0 and joint["single_bank_cap"] == 1000.0
    assert "联合首贷" in joint["reason_zh"] and "joint first loan" in joint["reason_en"]


def test_startups_without_a_recent_round_use_another_basis(scorer):
    # the example startup: revenue 320, 1 granted patent (no appraisal), grants 60, no contract value
    no_round = _profile("startup", equity_raised_2y=None)                     # max(64, 20, 30) = revenue 64 → 60
    pre_revenue = _profile("startup", equity_raised_2y=None, revenue_y0=0.0, cost_of_sales_y0=0.0,
                           hightech_revenue_y0=0.0, conversion_contract_value=800.0)  # 800 × 0.5 = 400
    patents = _profile("startup", equity_raised_2y=None, revenue_y0=0.0, cost_of_sales_y0=0.0,
                       hightech_revenue_y0=0.0, ip_appraised_value=1500.0)   # 1500 × 0.4 = 600 × 0.9 (A) = 540
    nothing = _profile("startup", equity_raised_2y=None, revenue_y0=0.0, cost_of_sales_y0=0.0,
                       hightech_revenue_y0=0.0, invention_patents_granted=0, gov_grants_3y=0.0)
    _, recs = _assess(scorer, [no_round, pre_revenue, patents, nothing], ["AA", "AA", "A", "AA"])
    assert list(recs.basis) == ["revenue_share", "tech_transfer", "ip_pledge", "none"]
    assert list(recs.limit) == [60.0, 400.0, 540.0, 0.0]
    # an approve-grade firm with nothing to lend against goes to an officer
    assert recs.decision[3] == "refer" and "no basis for a limit" in recs.decision_rule[3]


def test_decision_bands_follow_the_grade(scorer):
    grades = ["AAA", "BB", "B", "CCC", "CC", "C"]
    _, recs = _assess(scorer, [_profile()] * len(grades), grades)
    assert list(recs.decision) == ["approve", "approve", "refer", "refer", "decline", "decline"]
    assert "at least decision.approve_min_grade BB" in recs.decision_rule[1]
    assert "below decision.refer_min_grade CCC" in recs.decision_rule[4]
    assert recs.limit[4] == 0 and not recs.products[4].any()


def test_knockouts_decline_whatever_the_score(scorer):
    good = _profile("mature", **BAND)
    bad = _profile("mature", **BAND, current_overdue=True, max_dpd_24m=15)
    d = _profile("mature", **BAND, tax_grade="D")
    batch, recs = _assess(scorer, [good, bad, d])
    assert batch.grade[1] in ("AAA", "AA", "A", "BBB", "BB")  # still an approve-grade score …
    assert list(recs.decision) == ["approve", "decline", "decline"]   # … but declined
    assert recs.decision_rule[1] == "否决项：KO_OVERDUE / knock-out: KO_OVERDUE" and recs.decision_rule[2].endswith("KO_TAX_D")
    assert recs.limit[1] == 0 and not recs.products[1].any()
    assert record(batch, 1)["knockouts"] == [{"code": "KO_OVERDUE", "rule": "current_overdue = true",
                                             "text_zh": "存在当前逾期贷款", "text_en": "Has a loan currently overdue"}]
    rec = record(batch, 1)["recommendation"]
    assert rec["decision"] == "decline" and rec["products"] == [] and rec["joint_loan"] is None


def test_knockouts_act_on_days_past_due_whatever_the_loan_class(scorer):
    # the issue's bypass: 730 days past due with a blank loan class scored BB and approved
    blank = _profile("growth", max_dpd_24m=730, worst_loan_class=None)
    consistent = _profile("growth", max_dpd_24m=120, worst_loan_class="substandard")
    just_below = _profile("growth", max_dpd_24m=89, worst_loan_class="special_mention")
    batch, recs = _assess(scorer, [blank, consistent, just_below], ["BB", "BB", "BB"])
    assert list(recs.decision) == ["decline", "decline", "approve"]
    assert batch.knockout_codes()[0] == "KO_DPD90" and batch.knockout_codes()[1] == "KO_DPD90;KO_LOAN_CLASS"


def test_an_incoherent_credit_record_is_an_input_error():
    from pydantic import ValidationError
    from features.schema import violations_from_error
    for changes, rule in ((dict(max_dpd_24m=730, worst_loan_class="normal"), "dpd90_needs_substandard"),
                          (dict(max_dpd_24m=90, worst_loan_class="special_mention"), "dpd90_needs_substandard"),
                          (dict(current_overdue=True, max_dpd_24m=0), "overdue_needs_dpd")):
        with pytest.raises(ValidationError) as exc:
            FirmProfile.model_validate(_profile(**changes))
        found = violations_from_error(exc.value)
        assert [v["rule"] for v in found] == [rule]
        assert "交叉校验" in found[0]["message"] and "cross-field rule" in found[0]["message"]
    FirmProfile.model_validate(_profile(max_dpd_24m=90, worst_loan_class="doubtful"))  # coherent: accepted
    raw = pd.DataFrame([_profile(max_dpd_24m=400, worst_loan_class="normal")])
    result = validate_frame(raw)
    assert result.frame.empty and list(result.rejects["rule"]) == ["dpd90_needs_substandard"]
    assert list(result.rejects["field"]) == ["worst_loan_class"]


def test_outside_the_segment_first_with_the_rule_and_values_score_kept(scorer):
    big = _profile("growth", staff_total=600, revenue_y0=30000.0, total_assets=18000.0)
    inside = _profile("growth", staff_total=500, revenue_y0=20000.0, total_assets=20000.0)  # the band is inclusive
    knocked_too = _profile("growth", staff_total=900, tax_grade="D")
    batch, recs = _assess(scorer, [big, inside, knocked_too], ["AA", "AA", "AA"])
    assert list(recs.decision) == ["outside_segment", "approve", "outside_segment"]
    assert recs.limit[0] == 0 and not recs.products[0].any()
    rec = record(batch, 0)
    assert rec["score"] == batch.score[0] and rec["grade"] == "AA"  # the score is still shown, for information
    seg = rec["recommendation"]["segment"]
    assert [s["code"] for s in seg] == ["SEG_STAFF", "SEG_REVENUE"]
    assert seg[0]["values"] == {"staff_total": 600.0} and seg[1]["rule"] == "revenue_y0 > 20000"
    assert "不属于产品客群" in recs.decision_rule[0] and "SEG_STAFF (staff_total > 500)" in recs.decision_rule[0]
    assert recs.columns()["segment_rules"].to_pylist() == ["SEG_STAFF;SEG_REVENUE", "", "SEG_STAFF"]


def test_a_bank_adds_its_own_segment_rule(scorer):
    doc = POLICY.model_dump(mode="json")
    doc["segment"].append({"code": "SEG_REGION", "text_zh": "不在本行服务区域", "text_en": "Outside the bank's region",
                           "any_of": [{"field": "sei_category", "op": "eq", "value": 2}]})
    _, recs = _assess(scorer, [_profile("growth", sei_category=2), _profile("growth")], ["A", "A"], parse_policy(doc))
    assert list(recs.decision) == ["outside_segment", "approve"]


def _eligible(recs, code: str) -> list[bool]:
    return list(recs.products[:, recs.product_codes().index(code)])


def _product_limit(recs, code: str) -> list[float]:
    return list(recs.product_limits[:, recs.product_codes().index(code)])


def test_score_loan_needs_grade_bbb_and_a_limit(scorer):
    covered = _profile(own_funds=50000.0)  # own funds cover the whole need → limit 0 (a fact, not a guess)
    _, recs = _assess(scorer, [_profile(**FACTS), _profile(**FACTS), covered], ["BBB", "BB", "A"])
    assert _eligible(recs, "SCORE_LOAN") == [True, False, False]
    # 6800 × (1 − 410/6800) × (1 + 0.3) / 3 = 2769.33 × 0.8 = 2215.5
    assert recommendation(recs, 0)["products"][0]["rules"] == ["grade at least BBB (firm: BBB)", "limit > 0 (firm: 2210)"]
    assert recommendation(recs, 0)["products"][0]["limit"] == 2210.0


def test_ip_pledge_is_sized_on_the_appraisal_or_a_per_patent_proxy(scorer):
    profiles = [_profile(invention_patents_granted=3, ip_appraised_value=1000.0),  # 1000 × 0.4 × 0.7 = 280
                _profile(invention_patents_granted=3, ip_appraised_value=None),    # 3 × 50 × 0.4 × 0.7 = 42 → 40
                _profile(invention_patents_granted=0),
                _profile(invention_patents_granted=None)]
    _, recs = _assess(scorer, profiles, ["BB"] * 4)
    assert _eligible(recs, "IP_PLEDGE") == [True, True, False, False]
    assert _product_limit(recs, "IP_PLEDGE") == [280.0, 40.0, 0.0, 0.0]
    assert "ip_proxy" in [a["code"] for a in recommendation(recs, 1)["assumptions"]]


def test_tech_transfer_any_one_route_qualifies_even_pre_revenue_with_its_own_cap(scorer):
    base = dict(founder_background="executive", univ_collaborations=0, tech_conversions_3y=0)
    profiles = [_profile("startup", **base),
                _profile("startup", **(base | {"founder_background": "phd_professor"})),
                _profile("startup", **(base | {"univ_collaborations": 2})),
                _profile("startup", **(base | {"tech_conversions_3y": 1, "revenue_y0": 0.0, "cost_of_sales_y0": 0.0,
                                                "hightech_revenue_y0": 0.0, "conversion_contract_value": 3000.0}))]
    _, recs = _assess(scorer, profiles, ["B"] * 4)
    assert _eligible(recs, "TECH_TRANSFER") == [False, True, True, True]
    # grants 60 × 0.5 × 0.5 (B) = 15 → 10; contract 3000 × 0.5 × 0.5 = 750 → own cap 500
    assert _product_limit(recs, "TECH_TRANSFER") == [0.0, 10.0, 10.0, 500.0]
    transfer = next(p for p in recommendation(recs, 2)["products"] if p["code"] == "TECH_TRANSFER")
    assert transfer["rules"] == ["grade at least B (firm: B)", "univ_collaborations ≥ 1 (firm: 2)"]


def test_equity_linked_is_a_share_of_an_institutional_round_in_12_months(scorer):
    profiles = [_profile("startup", latest_round_date="2024-07-30", latest_round_amount=3000.0),  # 3000 × 0.2 × 0.8
                _profile("startup", latest_round_date="2024-07-30", latest_round_amount=None),  # 3000 × 0.5 × 0.2 × 0.8
                _profile("startup", latest_round_date="2024-05-20"),   # 13 months
                _profile("startup", institutional_investors=0),
                _profile("startup", latest_round="none")]
    _, recs = _assess(scorer, profiles, ["BBB"] * 5)
    assert _eligible(recs, "EQUITY_LINKED") == [True, True, False, False, False]
    assert _product_limit(recs, "EQUITY_LINKED")[:2] == [480.0, 240.0]


def test_no_product_is_listed_with_a_limit_of_zero(scorer, portfolio):
    clean = validate_frame(portfolio.head(2000)).frame
    recs = scorer.score(CleanColumns.from_frame(clean)).recommendations
    assert ((recs.product_limits > 0) == recs.products).all()


def test_joint_loan_lifts_the_growth_cap_and_splits_above_one_banks_appetite(scorer):
    # need = 19000 × 0.9 × (19000/18000) / 3 = 6016.67 → × 0.9 (A) = 5415 > growth cap 5000 → joint (cap 10000): 5410
    money = dict(revenue_y0=19000.0, revenue_y1=18000.0, net_profit_y0=1900.0, total_assets=15000.0,
                 total_liabilities=5000.0, hightech_revenue_y0=15000.0, **FACTS)
    # 15000 × 0.9 / 3 = 4500 (AA) under the growth cap but above one bank's 3000: split in 2
    split = dict(money, revenue_y0=15000.0, revenue_y1=15000.0, net_profit_y0=1500.0)
    profiles = [_profile("growth", **money), _profile("growth", **money), _profile("growth", **split),
                _profile("growth", revenue_y0=6000.0, **FACTS)]
    _, recs = _assess(scorer, profiles, ["A", "B", "AA", "A"])
    assert list(recs.limit) == [5410.0, 3000.0, 4500.0, 1930.0]  # B: 6016.67 × 0.5 = 3008 → 3000, refer, one bank
    assert list(recs.banks) == [2, 0, 2, 0]
    assert recs.shares(0) == [2710.0, 2700.0] and recs.shares(2) == [2250.0, 2250.0]
    assert _eligible(recs, "JOINT_LOAN") == [True, False, True, False]
    joint = recommendation(recs, 0)["joint_loan"]
    assert joint["kind"] == "cap_lift" and joint["joint_cap"] == 10000.0 and joint["shares"][0]["role"] == "lead"
    assert "超过单一银行上限 5000" in joint["reason_zh"] and "exceeds the single-bank cap 5000" in joint["reason_en"]
    assert recommendation(recs, 2)["joint_loan"]["kind"] == "appetite_split"
    assert recs.columns()["joint_loan_reason"].to_pylist()[1] == ""


def test_every_scored_batch_carries_its_recommendation_and_policy_version(scorer):
    batch, recs = _assess(scorer, list(example_profiles().values()))
    frame = batch.to_frame()
    assert tuple(frame.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    assert (frame["policy_version"] == POLICY.policy_version).all()
    assert list(frame["limit"]) == list(recs.limit) and list(frame["decision"]) == list(recs.decision)
    # the arithmetic as numbers: limit = min(basis × factor, cap) rounded down to 10
    assert frame["limit_basis"].iloc[1] == "working_capital" and frame["limit_cap_rule"].iloc[1] == "caps.growth"
    expected = np.floor(np.minimum(frame["limit_basis_amount"] * frame["grade_factor"], frame["limit_cap"]) / 10) * 10
    closed = frame["decision"].isin(["decline", "outside_segment"])
    assert np.allclose(frame["limit"].where(~closed, expected), expected)
    assert frame["decision"].iloc[2] == "outside_segment"  # the example "mature" firm is above the SME band
    rec = record(batch, 2)
    assert rec["recommendation"] == recommendation(recs, 2)
    assert rec["recommendation"]["policy_version"] == POLICY.policy_version
    assert rec["recommendation"]["policy_fingerprint"] == POLICY.fingerprint
    steps = rec["recommendation"]["limit_steps"]
    assert [s["key"] for s in steps][-4:] == ["grade_factor", "after_grade_factor", "cap", "limit"]
    assert steps[-1]["value"] == rec["recommendation"]["limit"]


def test_a_firm_gets_the_same_recommendation_alone_as_in_a_large_batch(scorer, portfolio):
    clean = validate_frame(portfolio.head(400)).frame
    many = scorer.score(CleanColumns.from_frame(clean))
    assert len(set(many.recommendations.decision)) >= 3 and many.recommendations.products.any(axis=0).all()
    sample = range(0, len(many), 13)
    for i in sample:  # the API's path: one firm's columns, no DataFrame
        alone = scorer.score(CleanColumns.from_frame(clean.iloc[i:i + 1]))
        assert record(alone, 0) == record(many, i)
    pd.testing.assert_frame_equal(
        scorer.score(CleanColumns.from_frame(clean.iloc[list(sample)])).to_frame(), many.to_frame().iloc[list(sample)], check_exact=True)
