"""The policy file: defaults load, every validation rule fails with a message naming key and rule."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from features.clean import CleanColumns
from features.stage import DEFAULT_STAGE_RULES, derive_stage
from features.validate import validate_frame
from models.policy import DEFAULT_POLICY_PATH, POLICY_ENV, PolicyError, default_policy, load_policy, parse_policy
from models.scoring import Scorer


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def _set(doc: dict, path: str, value) -> None:
    """Set doc[a][b][0]... from 'a.b.0'; value DELETE removes the key."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        doc = doc[k]
    if value is DELETE:
        del doc[keys[-1]]
    else:
        doc[keys[-1]] = value


DELETE = object()


def test_defaults_follow_the_domain_brief():
    pol = default_policy()
    assert pol.policy_version == "techscore-default-2025.1"
    assert (pol.caps.startup, pol.caps.growth, pol.caps.mature, pol.star.cap) == (1000, 5000, 10000, 20000)
    assert pol.star.min_grade == "AA" and set(pol.star.tiers) == {"little_giant", "champion"}
    assert pol.joint_loan.single_bank_appetite == 3000
    assert pol.stage.rules() == DEFAULT_STAGE_RULES
    assert [k.code for k in pol.knockouts] == ["KO_OVERDUE", "KO_DPD90", "KO_ENFORCEMENT", "KO_TAX_D", "KO_LOAN_CLASS"]
    assert [s.rule for s in pol.segment] == ["staff_total > 500", "revenue_y0 > 20000", "total_assets > 20000"]
    jc = pol.joint_loan.caps
    assert (jc.startup, jc.growth, jc.mature, pol.joint_loan.min_banks) == (2000, 10000, 15000, 2)
    assert {p.code: p.sizing for p in pol.products} == {"SCORE_LOAN": "limit", "IP_PLEDGE": "ip_pledge",
                                                        "TECH_TRANSFER": "conversion", "EQUITY_LINKED": "round_share"}
    assert [p.code for p in pol.products] == ["SCORE_LOAN", "IP_PLEDGE", "TECH_TRANSFER", "EQUITY_LINKED"]
    assert len(pol.fingerprint) == 16


CASES = [
    ("caps.startup", 0, "caps.startup: must be > 0"),
    ("caps.growth", "lots", "caps.growth: must be a number"),
    ("grade_factors.AA", 1.2, "grade_factors.AA: must be ≤ 1"),
    ("grade_factors.C", DELETE, "grade_factors.C: is required"),
    ("grade_factors.CC", 0.5, "grade_factors: CC: factor 0.5 must not exceed the better grade CCC's 0.3"),
    ("decision.refer_min_grade", "A", "decision: refer_min_grade must not be better than approve_min_grade"),
    ("decision.approve_min_grade", "Z", "decision.approve_min_grade: 'Z' is not a grade"),
    ("star.cap", 8000, "star.cap: must be ≥ the largest stage cap, joint caps included (15000)"),
    ("star.tiers", ["giant"], "star.tiers[0]: must be one of"),
    ("stage.mature_min_revenue", 100, "stage: mature_min_revenue must be ≥ startup_max_revenue"),
    ("stage.startup_max_age_years", -1, "stage.startup_max_age_years: must be > 0"),
    ("working_capital.turnover_default", 0, "working_capital.turnover_default: must be > 0"),
    ("working_capital.expected_growth_default", 0.5,
     "working_capital: expected_growth_default must be ≤ expected_growth_max"),
    ("working_capital.own_funds_share_of_need", 1.5, "working_capital.own_funds_share_of_need: must be < 1"),
    ("joint_loan.caps.growth", 4000, "joint_loan.caps.growth: must be ≥ caps.growth"),
    ("sizing.ip_pledge_rate", 0, "sizing.ip_pledge_rate: must be > 0"),
    ("startup.equity_share", 0, "startup.equity_share: must be > 0"),
    ("limit.round_down_to", 7, "joint_loan.single_bank_appetite: must be a multiple of limit.round_down_to"),
    ("products.1.all_of.0.field", "patents", "products[1].all_of[0]: unknown field 'patents'"),
    ("products.1.all_of.0.op", "at_least", "products[1].all_of[0]: op at_least applies to ordered enums only"),
    ("products.0.all_of.0.value", "XX", "products[0].all_of[0]: value 'XX' is not one of AAA"),
    ("products.3.all_of.0.op", "gt", "products[3].all_of[0]: op gt does not apply to enum field 'latest_round'"),
    ("products.2.any_of.1.value", "many", "products[2].any_of[1]: value 'many' must be a number"),
    ("products.1.all_of.0", {"field": "founded_on", "op": "ge", "value": 1}, "field 'founded_on' is a date"),
    ("products.2.any_of.0", {"field": "founder_background", "op": "in", "value": []},
     "products[2].any_of[0]: op in needs a non-empty list as value"),
    ("products.0.code", "IP_PLEDGE", "products: product codes (joint_loan.code included) must be unique"),
    ("products.0.all_of", [], "products[0]: a product needs at least one condition in all_of or any_of"),
    ("products.0.code", "score loan", "products[0].code: has the wrong format"),
    ("knockouts.0.any_of", [{"field": "grade", "op": "eq", "value": "C"}],
     "knockouts[0].any_of: knock-outs test the profile only, not 'grade'"),
    ("knockouts.0.any_of.0.value", "yes", "knockouts[0].any_of[0]: value 'yes' must be true or false"),
    ("knockouts.1.code", "KO_OVERDUE", "knockouts: codes must be unique"),
    ("knockouts.0.code", "OVERDUE", "knockouts[0].code: has the wrong format"),
    ("next_grade.max_changes", 0, "next_grade.max_changes: must be ≥ 1"),
    ("next_grade.levers.0.field", "founded_on", "next_grade.levers[0]: founded_on cannot be a lever"),
    ("next_grade.levers.0.field", "revenue_y1", "next_grade.levers[0]: revenue_y1 cannot be a lever"),
    ("next_grade.levers.0.field", "max_dpd_24m", "next_grade.levers[0]: max_dpd_24m cannot be a lever"),
    ("next_grade.levers.0.steps", ["+1", "-1"], "next_grade.levers[0]: steps must all move the field the same way"),
    ("next_grade.levers.0.steps", ["lots"], "next_grade.levers[0]: steps[0]: invention_patents_granted: expected a number"),
    ("next_grade.levers.0.steps", ["=5"], "next_grade.levers[0]: set `direction: up|down` when no step is signed"),
    ("next_grade.levers.0.steps", ["-1"], "moving invention_patents_granted down raises risk on indicator ip_invention_granted_log"),
    ("next_grade.levers.12.steps", ["-1"], "moving tax_grade down raises risk on indicator cr_tax_grade"),
    ("next_grade.levers.16.steps", ["+0.05"], "moving top5_customer_share up raises risk on indicator op_top5_customer_share"),
    ("next_grade.levers.1.field", "invention_patents_granted", "next_grade.levers: a field may be one lever only"),
    ("next_grade.levers.0.also.0.field", "founded_on", "next_grade.levers[0].also[0]: 'founded_on' must be a numeric profile field"),
    ("bogus", 1, "bogus: unknown key"),
    ("policy_version", "", "policy_version: must not be empty"),
]


@pytest.mark.parametrize("path, value, message", CASES, ids=[c[0] + ":" + str(c[1])[:12] for c in CASES])
def test_each_rule_fails_with_its_key_and_message(raw, path, value, message):
    doc = copy.deepcopy(raw)
    _set(doc, path, value)
    with pytest.raises(PolicyError) as err:
        parse_policy(doc, "bank.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("bank.yaml: invalid policy")


def test_every_problem_is_listed_at_once(raw):
    doc = copy.deepcopy(raw)
    _set(doc, "caps.startup", -5)
    _set(doc, "caps.mature", 0)
    lines = str(pytest.raises(PolicyError, parse_policy, doc).value).splitlines()
    assert "  caps.startup: must be > 0" in lines and "  caps.mature: must be > 0" in lines


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_version: x\ncaps: [1, 2\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad.yaml: not valid YAML at line 3"):
        load_policy(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        load_policy(listy)


def _write(tmp_path, doc: dict):
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_environment_variable_points_to_a_bank_file(raw, tmp_path, monkeypatch):
    doc = copy.deepcopy(raw)
    doc["policy_version"] = "bank-7"
    monkeypatch.setenv(POLICY_ENV, str(_write(tmp_path, doc)))
    assert load_policy().policy_version == "bank-7"
    monkeypatch.delenv(POLICY_ENV)
    assert load_policy().policy_version == default_policy().policy_version


def test_a_bank_policy_drives_stage_and_knockouts(raw, tmp_path, trained, portfolio):
    doc = copy.deepcopy(raw)
    doc["stage"]["startup_max_revenue"] = 0          # revenue no longer makes a startup
    doc["stage"]["startup_max_age_years"] = 1
    doc["knockouts"].append({"code": "KO_PENALTIES", "text_zh": "行政处罚过多", "text_en": "Too many penalties",
                             "any_of": [{"field": "admin_penalties_3y", "op": "ge", "value": 3}]})
    bank = load_policy(_write(tmp_path, doc))
    clean = validate_frame(portfolio.head(400)).frame
    clean = clean.assign(lifecycle_stage=None)
    default_batch = Scorer(trained.bundle).score(CleanColumns.from_frame(clean))
    bank_batch = Scorer(trained.bundle, bank).score(CleanColumns.from_frame(clean))
    assert np.array_equal(bank_batch.stage, derive_stage(CleanColumns.from_frame(clean), bank.stage.rules()))
    assert (bank_batch.stage == "startup").sum() < (default_batch.stage == "startup").sum()
    hit = clean["admin_penalties_3y"].to_numpy() >= 3
    assert hit.any()
    assert np.array_equal(bank_batch.knockouts[:, -1], hit)
    codes = bank_batch.knockout_codes()
    assert all("KO_PENALTIES" in c for c in codes[hit]) and not any("KO_PENALTIES" in c for c in codes[~hit])
