"""What-if equals re-scoring the changed profile; the next-grade path reaches the next grade when re-scored."""
from __future__ import annotations

import numpy as np
import pytest

from features.clean import CleanColumns
from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_frame, validate_frame
from models.policy import never_actionable
from models.scaling import GRADES
from models.whatif import NextGradeSearch, WhatIfError, row_profile, what_if
from tests.answers_json import as_json


def _rescore(scorer, profile: dict):
    """Score one profile from scratch, the way any submitted profile is scored."""
    clean = profiles_to_frame([FirmProfile.model_validate(profile)])
    batch = scorer.score(CleanColumns.from_frame(clean))
    return batch, batch.recommendations


def test_what_if_equals_rescoring_the_changed_profile(scorer):
    base = example_profiles()["growth"]
    out = as_json(what_if(scorer, base, {"invention_patents_granted": "+2", "rd_expense_y0": "+20%", "tax_grade": "B",
                                 "paid_in_capital": "=registered_capital", "revenue_y0": 9000}))
    changed = base | {"invention_patents_granted": 16, "rd_expense_y0": 624.0, "tax_grade": "B",
                      "paid_in_capital": 3000.0, "revenue_y0": 9000.0}
    assert out["changed_profile"] == FirmProfile.model_validate(changed).model_dump(mode="json")
    for side, profile in (("before", base), ("after", changed)):
        batch, recs = _rescore(scorer, profile)
        assert out[side]["score"] == batch.score[0] and out[side]["grade"] == batch.grade[0]
        assert out[side]["pd"] == pytest.approx(batch.pd[0], rel=1e-12)
        assert out[side]["limit"] == recs.limit[0] and out[side]["decision"] == recs.decision[0]
        assert [d[side] for d in out["dimensions"]] == list(batch.dimension_points[0])
    moved = sum(round(d["points"] * 100) for d in out["dimensions"]) + round(out["clip_points_change"] * 100)
    assert moved == round(out["score_change"] * 100)
    assert out["changes"][0] == {"field": "invention_patents_granted", "change": "+2", "from": 14, "to": 16}
    assert "cr_tax_grade" in {i["indicator"] for i in out["indicators"]}  # M → B earns points
    assert all(abs(i["points"]) >= 0.005 for i in out["indicators"])  # only indicators that moved


def test_what_if_errors_name_field_and_rule(scorer):
    base = example_profiles()["growth"]
    with pytest.raises(WhatIfError) as err:
        what_if(scorer, base, {"rd_staff": "+500"})
    assert err.value.violations[0]["rule"] == "rd_staff_le_staff"
    assert "profile after the changes" in str(err.value)
    with pytest.raises(WhatIfError, match="cannot apply \\+2 to a missing value"):
        what_if(scorer, base | {"pct_applications": None}, {"pct_applications": "+2"})
    with pytest.raises(WhatIfError) as err:
        what_if(scorer, base, {"tax_grade": "E", "rd_staff": "many"})
    assert [v["field"] for v in err.value.violations] == ["tax_grade", "rd_staff"]
    with pytest.raises(WhatIfError) as err:
        what_if(scorer, base | {"staff_total": -3}, {"rd_staff": "+1"})
    assert err.value.violations[0]["field"] == "staff_total" and err.value.violations[0]["rule"] == "ge:0"
    with pytest.raises(WhatIfError, match="give at least one change"):
        what_if(scorer, base, {})


@pytest.fixture(scope="module")
def firms(portfolio):
    clean = validate_frame(portfolio.head(60)).clean
    return [row_profile(clean, i) for i in range(len(clean))]


@pytest.fixture(scope="module")
def paths(scorer, firms):
    search = NextGradeSearch(scorer)
    return search, [as_json(search.run(p)) for p in firms]


def test_next_grade_path_reaches_the_next_grade_when_rescored(scorer, firms, paths):
    search, results = paths
    reachable = [(p, r) for p, r in zip(firms, results) if r["reachable"]]
    assert len(reachable) >= len(firms) // 3
    for profile, res in reachable:
        batch, _ = _rescore(scorer, profile | res["changes"])
        assert GRADES.index(batch.grade[0]) <= GRADES.index(res["target_grade"]) < GRADES.index(res["current"]["grade"])
        assert batch.pd[0] < res["target_pd_below"]
        assert res["result"]["after"]["score"] == batch.score[0]
        steps = res["steps"]
        assert 1 <= len(steps) <= search.max_changes
        assert round(sum(s["points"] for s in steps), 2) == round(batch.score[0] - res["current"]["score"], 2)
        assert all(s["points"] > 0 for s in steps) and steps[-1]["grade_after"] == batch.grade[0]


def test_next_grade_moves_only_actionable_fields_the_lever_way(firms, paths):
    search, results = paths
    levers = {lv.field: lv for lv in search.levers}
    for res in results:
        for step in res["steps"]:
            lever = levers[step["field"]]
            assert not never_actionable(lever.field) and step["change"] in lever.steps
            main = step["changes"][0]
            assert main["field"] == lever.field
            if isinstance(main["from"], str):  # ordered enum: one level better
                from models.rules import ENUM_ORDER
                order = ENUM_ORDER[lever.field]
                assert order.index(main["to"]) > order.index(main["from"])
            else:
                assert np.sign(main["to"] - main["from"]) == lever.sign


def test_next_grade_uses_the_fewest_changes(scorer, firms, paths):
    """When a path needs several levers, no single lever step reaches the target on its own."""
    search, results = paths
    several = [(p, r) for p, r in zip(firms, results) if r["reachable"] and len(r["steps"]) >= 2]
    assert several
    for profile, res in several[:10]:
        base = search._base_columns(profile)
        plans = [[(l, s)] for l, steps in enumerate(search.changes) for s in range(len(steps))]
        cols, ok = search._frame(base, plans)
        pd_ = scorer.score(cols).pd
        assert not (ok & (pd_ < res["target_pd_below"])).any()


def test_best_grade_and_unreachable_are_reported(scorer, paths, firms):
    search, results = paths
    top = as_json(search.run(example_profiles()["mature"] | {"revenue_y0": 19500.0, "total_assets": 19800.0,
                                                     "hightech_revenue_y0": 15000.0}))
    assert not top["reachable"] or top["current"]["grade"] != "AAA"
    if top["current"]["grade"] == "AAA":
        assert top["message"] == "已是最高评级 / already at the best grade"
    stuck = [r for r in results if not r["reachable"] and r["target_grade"]]
    for r in stuck:
        assert f"no path within {search.max_changes} realistic changes" in r["message"] and r["steps"] == []
        assert "项可行调整内无法晋级" in r["message"]


def test_paths_are_feasible_within_12_months(firms, paths):
    """Granted patents ≤ pending applications, hiring scaled to staff, high-tech status only when the criteria hold."""
    from models.whatif import high_tech_criteria
    search, results = paths
    crit = search.scorer.policy.next_grade.high_tech
    checked = 0
    for profile, res in zip(firms, results):
        for step in res["steps"]:
            main = step["changes"][0]
            if step["field"] == "invention_patents_granted":
                assert main["to"] - main["from"] <= profile["invention_patents_pending"]
                checked += 1
            if step["field"] == "rd_staff":
                assert main["to"] - main["from"] <= max(0.3 * profile["staff_total"], 1)
            if step["field"] == "qualification_tier" and main["to"] == "hnte":
                final = {f: np.array([res["result"]["changed_profile"][f]], dtype=float)
                         for f in ("revenue_y0", "rd_expense_y0", "hightech_revenue_y0", "staff_total", "rd_staff")}
                assert high_tech_criteria(final, crit)[0][0]
        if res["target_grade"]:
            statuses = {lv["field"]: lv["status"] for lv in res["levers"]}
            assert list(statuses) == [lv.field for lv in search.levers]  # every lever named
            assert {s["field"] for s in res["steps"]} == {f for f, st in statuses.items() if st == "used"}
            assert all(lv["reason_zh"] and lv["reason_en"] for lv in res["levers"])
    assert checked or not any(s["field"] == "invention_patents_granted" for r in results for s in r["steps"])


def test_no_granted_patents_without_pending_applications(scorer, firms):
    search = NextGradeSearch(scorer)
    firm = next(p for p in firms if p.get("invention_patents_pending") is not None and p.get("revenue_y0"))
    res = as_json(search.run(firm | {"invention_patents_pending": 0}))
    if res["target_grade"]:
        granted = next(lv for lv in res["levers"] if lv["field"] == "invention_patents_granted")
        assert granted["status"] == "left_out" and "pending applications" in granted["reason_en"]
        assert all(s["field"] != "invention_patents_granted" for s in res["steps"])


def test_high_tech_status_only_when_the_public_criteria_hold(scorer, firms):
    search = NextGradeSearch(scorer)
    tier = next(k for k, lv in enumerate(search.levers) if lv.field == "qualification_tier")
    firm = next(p for p in firms if p.get("revenue_y0"))
    # 5000 revenue: needs R&D ≥ 5% (250), high-tech revenue ≥ 60% (3000), R&D staff ≥ 10%
    good = firm | dict(qualification_tier="tech_sme", revenue_y0=5000.0, rd_expense_y0=260.0, rd_capitalized_y0=0.0,
                       hightech_revenue_y0=3100.0, staff_total=100, rd_staff=12, sci_tech_staff=20,
                       bachelor_plus=60, masters_phd=10, talent_program_members=0)
    low_rd = good | {"rd_expense_y0": 240.0}
    low_share = good | {"hightech_revenue_y0": 2900.0}
    _, why = search._frame_why(search._base_columns(good), [[(tier, 0)]])
    assert list(why) == [0]
    for bad in (low_rd, low_share):
        _, why = search._frame_why(search._base_columns(bad), [[(tier, 0)]])
        assert list(why) == [4]  # HIGH_TECH
    # … but the R&D step before it can make the criteria hold (+10% R&D: 240 → 264 ≥ 250)
    rd = next(k for k, lv in enumerate(search.levers) if lv.field == "rd_expense_y0")
    _, why = search._frame_why(search._base_columns(low_rd), [[(rd, 0), (tier, 0)]])
    assert list(why) == [0]
