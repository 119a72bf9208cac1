"""What-if equals re-scoring the changed profile; the next-grade path reaches the next grade when re-scored."""
from __future__ import annotations

import numpy as np
import pytest

from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_frame, validate_frame
from models.policy import never_actionable
from models.scaling import GRADES
from models.whatif import NextGradeSearch, WhatIfError, row_profile, what_if


def _rescore(scorer, profile: dict):
    """Score one profile from scratch, the way any submitted profile is scored."""
    clean = profiles_to_frame([FirmProfile.model_validate(profile)])
    batch = scorer.score_frame(clean)
    return batch, batch.recommendations


def test_what_if_equals_rescoring_the_changed_profile(scorer):
    base = example_profiles()["growth"]
    out = what_if(scorer, base, {"invention_patents_granted": "+2", "rd_expense_y0": "+20%", "tax_grade": "B",
                                 "paid_in_capital": "=registered_capital", "revenue_y0": 9000})
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
    return search, [search.run(p) for p in firms]


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
        base = {f: np.asarray(v) for f, v in search._base_columns(profile).items()}
        plans = [[(l, s)] for l, steps in enumerate(search.changes) for s in range(len(steps))]
        cols, ok = search._frame(base, plans)
        pd_ = scorer.score_columns(cols).pd
        assert not (ok & (pd_ < res["target_pd_below"])).any()


def test_best_grade_and_unreachable_are_reported(scorer, paths, firms):
    search, results = paths
    profiles = [example_profiles()["mature"], *firms]
    top = max((search.run(p) for p in profiles[:1]), key=lambda r: r["current"]["score"])
    best = max([top, *results], key=lambda r: r["current"]["score"])
    if best["current"]["grade"] == "AAA":  # the best grade has no next grade
        assert not best["reachable"] and best["message"] == "already at the best grade"
    stuck = [r for r in results if not r["reachable"] and r["target_grade"]]
    for r in stuck:
        assert r["message"].startswith(f"no path within {search.max_changes} realistic changes") and r["steps"] == []
