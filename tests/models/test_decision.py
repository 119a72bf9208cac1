"""Recommendations: hand-computed limits and caps, decisions, each product rule, joint loans, knock-outs."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_frame, validate_frame
from models.decision import RECOMMENDATION_COLUMNS, recommend
from models.policy import default_policy, parse_policy
from models.scoring import RESULT_COLUMNS

POLICY = default_policy()


def _profile(stage: str = "growth", **changes) -> dict:
    p = copy.deepcopy(example_profiles()[stage])
    p.update(changes)
    return p


def _assess(scorer, profiles: list[dict], grades: list[str] | None = None, policy=POLICY):
    """Score the profiles; pin their grades when given (the arithmetic depends on the grade only)."""
    clean = profiles_to_frame([FirmProfile.model_validate(p) for p in profiles])
    batch = scorer.score_frame(clean)
    if grades is not None:
        batch = dataclasses.replace(batch, grade=np.array(grades, dtype=object))
    return batch, recommend(batch, clean, policy)


def _step(recs, i: int, key: str) -> dict:
    return next(s for s in recs.steps(i) if s["key"] == key)


def test_working_capital_limit_by_hand(scorer):
    # need = 6000 × (1 − 0.1) × (1 + 0.2) / 3 = 2160; − 0.5 × 400 − 0.2 × 1000 = 1760; × 0.9 (A) = 1584 → 1580
    p = _profile(revenue_y0=6000.0, revenue_y1=5000.0, net_profit_y0=600.0, cash=400.0, total_liabilities=1000.0,
                 total_assets=5000.0, hightech_revenue_y0=5000.0)
    _, recs = _assess(scorer, [p], ["A"])
    assert recs.basis[0] == "working_capital"
    assert _step(recs, 0, "working_capital_need")["value"] == pytest.approx(2160.0)
    assert _step(recs, 0, "own_funds")["value"] == pytest.approx(-200.0)
    assert _step(recs, 0, "existing_loans")["value"] == pytest.approx(-200.0)
    assert _step(recs, 0, "basis")["value"] == pytest.approx(1760.0)
    assert _step(recs, 0, "after_grade_factor")["value"] == pytest.approx(1584.0)
    assert "not binding" in _step(recs, 0, "cap")["rule"]
    assert recs.limit[0] == 1580.0 and recs.decision[0] == "approve"


def test_growth_is_clipped_and_defaults_when_unknown(scorer):
    fast = _profile(revenue_y0=6000.0, revenue_y1=2000.0, net_profit_y0=600.0, cash=0.0, total_liabilities=0.0)
    unknown = _profile(revenue_y0=6000.0, revenue_y1=None, revenue_y2=None, net_profit_y0=600.0, cash=0.0,
                       total_liabilities=0.0)
    _, recs = _assess(scorer, [fast, unknown], ["AA", "AA"])
    assert recs.growth[0] == pytest.approx(0.30) and recs.growth[1] == pytest.approx(0.10)
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


def test_stage_caps_and_the_star_cap(scorer):
    big = dict(revenue_y0=200000.0, revenue_y1=190000.0, net_profit_y0=20000.0, cash=0.0, total_liabilities=0.0,
               total_assets=300000.0, hightech_revenue_y0=150000.0)
    # need = 200000 × 0.9 × (1 + 0.0526…) / 3 ≈ 63158 → capped everywhere
    profiles = [_profile("mature", **big, qualification_tier="hnte"),          # AAA, not star tier → mature cap
                _profile("mature", **big, qualification_tier="little_giant"),  # AAA little giant → star cap
                _profile("mature", **big, qualification_tier="champion"),      # AA champion → star cap
                _profile("mature", **big, qualification_tier="little_giant")]  # A little giant → not star
    _, recs = _assess(scorer, profiles, ["AAA", "AAA", "AA", "A"])
    assert list(recs.limit) == [10000.0, 20000.0, 20000.0, 10000.0]
    assert list(recs.star) == [False, True, True, False]
    assert "applied" in _step(recs, 0, "cap")["rule"] and "caps.mature" in _step(recs, 0, "cap")["rule"]
    assert "star.cap" in _step(recs, 1, "cap")["rule"]


def test_startup_limit_is_a_share_of_recent_equity_capped(scorer):
    small = _profile("startup", equity_raised_2y=1000.0, equity_raised_total=3500.0)   # 1000 × 0.3 × 0.9 = 270
    large = _profile("startup", equity_raised_2y=3000.0)                              # 900 × 1.0 = 900
    huge = _profile("startup", equity_raised_2y=8000.0, equity_raised_total=9000.0)   # 2400 → cap 1000
    none = _profile("startup", equity_raised_2y=None)
    _, recs = _assess(scorer, [small, large, huge, none], ["A", "AA", "AA", "AA"])
    assert list(recs.basis) == ["equity", "equity", "equity", "none"]
    assert list(recs.limit) == [270.0, 900.0, 1000.0, 0.0]
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
    good = _profile("mature")
    bad = _profile("mature", current_overdue=True)
    d = _profile("mature", tax_grade="D")
    batch, recs = _assess(scorer, [good, bad, d])
    assert batch.grade[1] in ("AAA", "AA", "A")  # still a good score …
    assert list(recs.decision) == ["approve", "decline", "decline"]   # … but declined
    assert recs.decision_rule[1] == "knock-out: KO_OVERDUE" and recs.decision_rule[2] == "knock-out: KO_TAX_D"
    assert recs.limit[1] == 0 and not recs.products[1].any()
    assert batch.record(1)["knockouts"] == [{"code": "KO_OVERDUE", "rule": "current_overdue = true",
                                             "text_zh": "存在当前逾期贷款", "text_en": "Has a loan currently overdue"}]
    rec = batch.record(1)["recommendation"]
    assert rec["decision"] == "decline" and rec["products"] == [] and rec["joint_loan"] is None


def _eligible(recs, code: str) -> list[bool]:
    return list(recs.products[:, recs.product_codes().index(code)])


def test_score_loan_needs_grade_bbb_and_a_limit(scorer):
    cashy = _profile(cash=50000.0)  # own funds cover the whole need → limit 0
    _, recs = _assess(scorer, [_profile(), _profile(), cashy], ["BBB", "BB", "A"])
    assert _eligible(recs, "SCORE_LOAN") == [True, False, False]
    assert recs.record(0)["products"][0]["rules"] == ["grade at least BBB (firm: BBB)", "limit > 0 (firm: 1100)"]


def test_ip_pledge_needs_a_granted_invention_patent(scorer):
    profiles = [_profile(invention_patents_granted=1), _profile(invention_patents_granted=0),
                _profile(invention_patents_granted=None)]
    _, recs = _assess(scorer, profiles, ["BB"] * 3)
    assert _eligible(recs, "IP_PLEDGE") == [True, False, False]


def test_tech_transfer_any_one_route_qualifies_even_pre_revenue(scorer):
    base = dict(founder_background="executive", univ_collaborations=0, tech_conversions_3y=0)
    profiles = [_profile("startup", **base),
                _profile("startup", **(base | {"founder_background": "phd_professor"})),
                _profile("startup", **(base | {"univ_collaborations": 2})),
                _profile("startup", **(base | {"tech_conversions_3y": 1, "revenue_y0": 0.0, "cost_of_sales_y0": 0.0,
                                                "hightech_revenue_y0": 0.0}))]
    _, recs = _assess(scorer, profiles, ["B"] * 4)
    assert _eligible(recs, "TECH_TRANSFER") == [False, True, True, True]
    transfer = next(p for p in recs.record(2)["products"] if p["code"] == "TECH_TRANSFER")
    assert transfer["rules"] == ["grade at least B (firm: B)", "univ_collaborations ≥ 1 (firm: 2)"]


def test_equity_linked_needs_an_institutional_round_in_12_months(scorer):
    profiles = [_profile("startup", latest_round_date="2024-07-30"),                 # 11 months before as_of
                _profile("startup", latest_round_date="2024-05-20"),                 # 13 months
                _profile("startup", institutional_investors=0),
                _profile("startup", latest_round="none")]
    _, recs = _assess(scorer, profiles, ["BBB"] * 4)
    assert _eligible(recs, "EQUITY_LINKED") == [True, False, False, False]


def test_joint_loan_above_single_bank_appetite(scorer):
    # need = 24000 × 0.9 × 1.2 / 3 = 8640 → × 0.9 (A) = 7776 → growth cap 5000 → 2 banks of 2500
    # the same firm as mature: cap 10000 → 7770 → 3 banks: 2590 each
    money = dict(revenue_y0=24000.0, revenue_y1=20000.0, net_profit_y0=2400.0, cash=0.0, total_liabilities=0.0,
                 total_assets=30000.0, hightech_revenue_y0=20000.0)
    profiles = [_profile("growth", **money), _profile("mature", **money), _profile("growth", revenue_y0=6000.0)]
    _, recs = _assess(scorer, profiles, ["A", "A", "A"])
    assert list(recs.limit[:2]) == [5000.0, 7770.0]
    assert list(recs.banks) == [2, 3, 0]
    assert recs.shares(0) == [2500.0, 2500.0] and recs.shares(1) == [2590.0, 2590.0, 2590.0]
    assert _eligible(recs, "JOINT_LOAN") == [True, True, False]
    joint = recs.record(1)["joint_loan"]
    assert joint["banks"] == 3 and joint["shares"][0]["role"] == "lead"
    assert sum(s["amount"] for s in joint["shares"]) == 7770.0
    assert all(s["amount"] <= 3000 for s in joint["shares"])
    # 19875 × 0.9 × 1.2 / 3 × 1.0 (AA) = 7155 → 7150 = 715 units of 10 → lead 2390, then 2380, 2380
    odd = _profile("mature", **(money | {"revenue_y0": 19875.0, "revenue_y1": 16562.5, "net_profit_y0": 1987.5,
                                         "hightech_revenue_y0": 15000.0}))
    _, recs = _assess(scorer, [odd], ["AA"])
    assert recs.limit[0] == 7150.0 and recs.shares(0) == [2390.0, 2380.0, 2380.0]


def test_every_scored_batch_carries_its_recommendation_and_policy_version(scorer):
    batch, recs = _assess(scorer, list(example_profiles().values()))
    frame = batch.to_frame()
    assert tuple(frame.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    assert (frame["policy_version"] == POLICY.policy_version).all()
    assert list(frame["limit"]) == list(recs.limit) and list(frame["decision"]) == list(recs.decision)
    # the arithmetic as numbers: limit = min(basis × factor, cap) rounded down to 10
    assert frame["limit_basis"].iloc[1] == "working_capital" and frame["limit_cap_rule"].iloc[1] == "caps.growth"
    expected = np.floor(np.minimum(frame["limit_basis_amount"] * frame["grade_factor"], frame["limit_cap"]) / 10) * 10
    assert np.allclose(frame["limit"].where(frame["decision"] != "decline", expected), expected)
    rec = batch.record(2)
    assert rec["recommendation"] == recs.record(2)
    assert rec["recommendation"]["policy_version"] == POLICY.policy_version
    assert rec["recommendation"]["policy_fingerprint"] == POLICY.fingerprint
    steps = rec["recommendation"]["limit_steps"]
    assert [s["key"] for s in steps][-4:] == ["grade_factor", "after_grade_factor", "cap", "limit"]
    assert steps[-1]["value"] == rec["recommendation"]["limit"]


def test_a_firm_gets_the_same_recommendation_alone_as_in_a_large_batch(scorer, portfolio):
    clean = validate_frame(portfolio.head(400)).clean
    many = scorer.score_frame(clean)
    assert len(set(many.recommendations.decision)) == 3 and many.recommendations.products.any(axis=0).all()
    sample = range(0, len(many), 13)
    for i in sample:  # the API's path: one firm's columns, no DataFrame
        alone = scorer.score_columns({c: clean[c].to_numpy()[i:i + 1] for c in clean.columns})
        assert alone.record(0) == many.record(i)
    pd.testing.assert_frame_equal(
        scorer.score_frame(clean.iloc[list(sample)]).to_frame(), many.to_frame().iloc[list(sample)], check_exact=True)
