"""Benchmark: what the default credit policy offers a generated portfolio, checked against its own rules.

    .venv/bin/python bench/bench_policy.py --firms 20000 [--model var/model] [--policy bank.yaml] [--paths N]

Without --model a model is trained on a separate generated portfolio (30,000 firms, seed 3, as the
tests do). The firms scored are another seed. Printed, each beside its target:
  - share of approve-grade firms (grade ≥ approve_min_grade, no knock-out, inside the segment) with a limit > 0;
  - products listed with a product limit of 0;
  - knock-out bypasses: firms whose credit record shows a knock-out fact and are not declined, on the
    generated firms and on the same firms with their credit records re-drawn at random;
  - next-grade steps that break a feasibility rule (granted patents > pending applications, hiring
    beyond the firm's size, high-tech status without the public criteria, a changed profile the
    schema rejects), and the share of firms with a feasible path by stage;
  - the limit distribution by stage and grade, with the products and joint loans behind it.
Scoring time is reported beside plain scoring without the recommendation (same run).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.clean import CleanColumns
from features.schema import FirmProfile  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from models.bundle import load_bundle  # noqa: E402
from models.policy import load_policy  # noqa: E402
from models.rules import ENUM_ORDER  # noqa: E402
from models.scaling import GRADES  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from models.whatif import NextGradeSearch, high_tech_criteria, row_profile  # noqa: E402
from service.api import answers  # noqa: E402
from training.synthetic import generate  # noqa: E402

AS_OF = date(2026, 6, 30)
STAGES = ("startup", "growth", "mature")


def knockout_facts(clean: pd.DataFrame) -> np.ndarray:
    """Domain brief §5 knock-out facts read straight from the clean frame (independent of the policy)."""
    return ((clean["max_dpd_24m"].to_numpy(float) >= 90) | (clean["current_overdue"].to_numpy(float) == 1)
            | (clean["enforcement_listed"].to_numpy(float) == 1) | (clean["tax_grade"] == "D").to_numpy(bool)
            | clean["worst_loan_class"].isin(["substandard", "doubtful", "loss"]).to_numpy(bool))


def scramble_credit(raw: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same firms with credit records drawn at random over every combination, coherent or not."""
    rng = np.random.default_rng(seed)
    n, out = len(raw), raw.copy()
    out["max_dpd_24m"] = rng.choice([0, 1, 29, 30, 89, 90, 91, 365, 730], n)
    out["worst_loan_class"] = rng.choice(["normal", "special_mention", "substandard", "doubtful", "loss", ""], n)
    out["current_overdue"] = rng.choice(["1", "0", ""], n, p=[0.15, 0.75, 0.1])
    out["enforcement_listed"] = rng.choice(["1", "0", ""], n, p=[0.05, 0.9, 0.05])
    out["tax_grade"] = rng.choice(["A", "B", "M", "C", "D", ""], n, p=[0.3, 0.3, 0.15, 0.1, 0.1, 0.05])
    return out


def scorer_for(args: argparse.Namespace) -> Scorer:
    policy = load_policy(args.policy)
    if args.model:
        return Scorer(load_bundle(args.model)[0], policy)
    from training.train import TrainConfig, train_model
    return Scorer(train_model(generate(30_000, seed=3), TrainConfig(seed=3, num_threads=1)).bundle, policy)


def step_breaks(profile: dict, res: dict, search: NextGradeSearch) -> list[str]:
    """Feasibility rules a next-grade path breaks, re-checked from the firm and its changed profile."""
    if not res["reachable"]:
        return []
    after = res["result"]["changed_profile"]
    broken = []
    crit = search.scorer.policy.next_grade.high_tech

    def grew(field: str) -> float:
        return (after.get(field) or 0) - (profile.get(field) or 0)

    if grew("invention_patents_granted") > (profile.get("invention_patents_pending") or 0):
        broken.append("granted > pending")
    staff = profile.get("staff_total") or 0
    if "rd_staff" in res["changes"] and grew("rd_staff") > max(0.3 * staff, 1):
        broken.append("hiring beyond size")
    if "masters_phd" in res["changes"] and grew("masters_phd") > max(0.2 * staff, 1):
        broken.append("hiring beyond size")
    order = ENUM_ORDER["qualification_tier"]
    before_t, after_t = profile.get("qualification_tier"), after.get("qualification_tier")
    if after_t and order.index(after_t) >= order.index("hnte") and (before_t is None or order.index(before_t) < order.index("hnte")):
        cols = {f: np.array([after.get(f) if after.get(f) is not None else np.nan], dtype=float)
                for f in ("revenue_y0", "rd_expense_y0", "hightech_revenue_y0", "staff_total", "rd_staff")}
        if not high_tech_criteria(cols, crit)[0][0]:
            broken.append("high-tech criteria")
    try:
        FirmProfile.model_validate(after)
    except ValueError:
        broken.append("schema")
    return broken


def limit_table(clean: pd.DataFrame, batch, recs) -> pd.DataFrame:
    """Limit distribution by stage and grade (approve and refer firms inside the segment)."""
    df = pd.DataFrame({"stage": recs.stage, "grade": batch.grade, "decision": recs.decision, "limit": recs.limit,
                       "joint": recs.banks >= 2})
    df = df[df["decision"].isin(["approve", "refer"])]
    rows = []
    for (stage, grade), g in df.groupby(["stage", "grade"], sort=False):
        pos = g["limit"][g["limit"] > 0]
        rows.append({"stage": stage, "grade": grade, "firms": len(g), "limit>0": f"{(g['limit'] > 0).mean():.1%}",
                     "p10": pos.quantile(0.1) if len(pos) else 0, "median": pos.median() if len(pos) else 0,
                     "p90": pos.quantile(0.9) if len(pos) else 0, "max": g["limit"].max(),
                     "joint": int(g["joint"].sum())})
    out = pd.DataFrame(rows)
    out["_s"] = out["stage"].map({s: k for k, s in enumerate(STAGES)})
    out["_g"] = out["grade"].map({g: k for k, g in enumerate(GRADES)})
    return out.sort_values(["_s", "_g"]).drop(columns=["_s", "_g"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=20000)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--paths", type=int, default=None,
                        help="firms searched for a next-grade path, evenly spaced (default: all; 0: none)")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    scorer = scorer_for(args)
    pol = scorer.policy

    raw = generate(args.firms, seed=args.seed, as_of=AS_OF)
    checked = validate_frame(raw, as_of_default=AS_OF)
    clean = checked.frame
    started = time.perf_counter()
    batch = scorer.score(CleanColumns.from_frame(clean))
    t_full = time.perf_counter() - started

    started = time.perf_counter()  # the same work without the recommendation: columns, stage, score, knock-outs
    scorer.score(CleanColumns.from_frame(clean), with_recommendation=False)
    t_plain = time.perf_counter() - started
    recs = batch.recommendations
    print(f"firms={args.firms:,} scored={len(clean):,} rejected rows={checked.rejects['row'].nunique():,} "
          f"model={scorer.version} policy={pol.policy_version}")
    print(f"scoring with recommendation {t_full:.2f} s vs without {t_plain:.2f} s "
          f"({t_full / t_plain:.2f}×)\n")

    knocked = batch.knockouts.any(axis=1)
    outside = recs.decision == "outside_segment"
    approve_grade = (np.array([GRADES.index(g) for g in batch.grade]) <= GRADES.index(pol.decision.approve_min_grade))
    eligible = approve_grade & ~knocked & ~outside
    share = (recs.limit[eligible] > 0).mean()
    zero_listed = int((recs.products & (recs.product_limits <= 0)).sum())
    facts = knockout_facts(clean)
    bypass = int((facts & ~np.isin(recs.decision, ["decline", "outside_segment"])).sum())
    stressed = validate_frame(scramble_credit(raw, args.seed + 1), as_of_default=AS_OF)
    s_recs = scorer.score(stressed.clean).recommendations
    s_facts = knockout_facts(stressed.frame)
    s_bypass = int((s_facts & ~np.isin(s_recs.decision, ["decline", "outside_segment"])).sum())
    incoherent = stressed.rejects["rule"].isin(["dpd90_needs_substandard", "overdue_needs_dpd"]).sum()
    print(f"{'measure':64}{'value':>12}{'target':>10}")
    print(f"{'approve-grade firms (no knock-out, in segment) with limit > 0':64}{share:>12.1%}{'≥ 95%':>10}"
          f"   ({int((recs.limit[eligible] > 0).sum()):,} of {int(eligible.sum()):,})")
    print(f"{'products listed with a limit of 0':64}{zero_listed:>12}{'0':>10}")
    print(f"{'knock-out bypasses, generated firms':64}{bypass:>12}{'0':>10}   ({int(facts.sum()):,} with a fact)")
    print(f"{'knock-out bypasses, random credit records':64}{s_bypass:>12}{'0':>10}   ({int(s_facts.sum()):,} with a "
          f"fact; {incoherent:,} incoherent records rejected)")
    print(f"{'outside the product segment':64}{outside.mean():>12.1%}")
    pre = clean["revenue_y0"].to_numpy(float) == 0
    print(f"{'pre-revenue firms declined (not knocked out, in segment)':64}"
          f"{(recs.decision[pre & ~knocked & ~outside] == 'decline').mean():>12.1%}")
    startup = recs.stage == "startup"
    no_round = startup & ~(clean["equity_raised_2y"].to_numpy(float) > 0) & eligible
    print(f"{'approve-grade startups without a recent round, limit > 0':64}{(recs.limit[no_round] > 0).mean():>12.1%}"
          f"   ({int(no_round.sum()):,} firms)")
    basis = pd.Series(recs.basis[eligible]).value_counts()
    print("limit basis of approve-grade firms: " + ", ".join(f"{k} {v:,}" for k, v in basis.items()))
    assumed = pd.Series(recs.assumption_codes()[eligible])
    print(f"approve-grade firms whose limit used a stated conservative basis: "
          f"{assumed.str.contains('own_funds|loans_').mean():.1%}")
    codes = recs.product_codes()
    print("products listed (firms, median limit): " + ", ".join(
        f"{c} {int(recs.products[:, k].sum()):,} ({np.median(recs.product_limits[recs.products[:, k], k]) if recs.products[:, k].any() else 0:g})"
        for k, c in enumerate(codes)))
    kinds = pd.Series(recs.joint_kind[recs.banks >= 2]).map(
        {1: "first_loan", 2: "cap_lift", 3: "star", 4: "appetite_split"}).value_counts()
    print("joint loans: " + ", ".join(f"{k} {v}" for k, v in kinds.items())
          + f"; offered to non-approve firms: {int(((recs.banks >= 2) & (recs.decision != 'approve')).sum())}")

    print("\nlimit distribution by stage and grade (万元; approve and refer firms; quantiles of limits > 0)")
    print(limit_table(clean, batch, recs).to_string(index=False, float_format=lambda v: f"{v:,.0f}"))

    search = NextGradeSearch(scorer)
    n_paths = len(clean) if args.paths is None else min(args.paths, len(clean))
    if not n_paths:
        return
    rows = np.linspace(0, len(clean) - 1, n_paths).astype(int)
    started = time.perf_counter()
    broken, found, below, levers_left = {}, {s: 0 for s in STAGES}, {s: 0 for s in STAGES}, {}
    steps_total = 0
    for i in rows:
        profile = row_profile(CleanColumns.from_frame(clean), i)
        res = json.loads(answers.dump(answers.next_grade_result(search.run(profile, AS_OF))))
        if res["target_grade"] is None or res["knockouts"]:
            continue
        stage = res["lifecycle_stage"]
        below[stage] += 1
        found[stage] += res["reachable"]
        steps_total += len(res["steps"])
        for b in step_breaks(profile, res, search):
            broken[b] = broken.get(b, 0) + 1
        for lv in res["levers"]:
            if lv["status"] == "left_out":
                levers_left[lv["reason_en"][:40]] = levers_left.get(lv["reason_en"][:40], 0) + 1
    elapsed = time.perf_counter() - started
    print(f"\nnext grade: {n_paths:,} firms searched in {elapsed:.0f} s ({1000 * elapsed / n_paths:.1f} ms a firm); "
          f"{steps_total:,} steps in the paths")
    print(f"{'next-grade steps breaking a feasibility rule':64}{sum(broken.values()):>12}{'0':>10}   {broken or ''}")
    for s in STAGES:
        print(f"  {s:8} feasible path for {found[s]:,} of {below[s]:,} firms below the best grade "
              f"(no knock-out): {found[s] / max(below[s], 1):.1%}")
    print("levers left out (firm × lever): " + "; ".join(f"{k}… {v:,}" for k, v in
                                                         sorted(levers_left.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
