"""Benchmark: is every sentence we tell a loan officer true? (issue 14)

    .venv/bin/python bench/bench_explain.py --rows 100000 [--firms 20000] [--model DIR]

Trains a model on `--rows` generated firms (seed 1; or loads `--model`), then on `--firms` fresh
generated firms (seed 21) reports: the share of reasons whose sentence the firm's own data
contradicts, "up" reasons on missing values, the largest score move for a 1% change of one raw
input (every numeric field, ±1%, and the age by ±1% through the founding date), and the share of
firms whose score falls when one actionable field (the policy's next-grade levers) improves.
Then AUC / oracle AUC and ECE, overall and per stage, on the training holdout and on the fresh
firms, and the indicators that carry (almost) no points.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.clean import CleanColumns
from features.registry import INDICATORS  # noqa: E402
from features.schema import FIELD_SPECS  # noqa: E402
from features.stage import STAGES  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from models.bundle import load_bundle  # noqa: E402
from models.policy import load_policy  # noqa: E402
from models.reasons import KINDS, contradicts  # noqa: E402
from models.scoring import Scorer, ScoreBatch  # noqa: E402
from training.metrics import classification_metrics  # noqa: E402
from training.synthetic import generate, true_pd_of  # noqa: E402
from training.shape import age_shifted  # noqa: E402
from training.train import TrainConfig, train_model  # noqa: E402

JUMP_BOUND = 3.0


def reason_checks(batch: ScoreBatch) -> dict[str, float]:
    """Reasons shown, reasons the data contradicts, up reasons on a missing value (or on an indicator
    with a missing input field)."""
    ex = batch.explainer
    shown = contradicting = up_missing = up_input_missing = 0
    for side, idx in (("down", batch.reasons_down), ("up", batch.reasons_up)):
        for r in range(idx.shape[1]):
            col = idx[:, r]
            kinds = batch.reason_kinds(col, side)
            rows = np.flatnonzero(col >= 0)
            shown += rows.size
            for i in rows:
                f = col[i]
                opt = None if ex.peak_low is None or np.isnan(ex.peak_low[f]) else (ex.peak_low[f], ex.peak_high[f])
                value, median = batch.values[i, f], batch.stage_medians[i, f]
                contradicting += contradicts(KINDS[kinds[i]], INDICATORS[f].direction, value, median, opt)
            if side == "up":
                vals = batch.values[rows, col[rows]]
                up_missing += int(np.isnan(vals).sum())
                up_input_missing += int(batch._inputs_missing(rows, col[rows]).sum())
    return {"reasons": shown, "contradicting": contradicting, "up_on_missing": up_missing,
            "up_with_a_missing_input": up_input_missing}


def numeric_fields() -> list[str]:
    used = {f for ind in INDICATORS for f in ind.inputs}
    return [f for f, spec in FIELD_SPECS.items() if spec.kind in ("number", "integer") and f in used]


def shift_age(cols: dict, factor: float) -> np.ndarray:
    """founded_on (float days, as features.clean.CleanColumns holds it) moved so that the age
    as_of − founded_on is multiplied by factor."""
    return age_shifted(cols, factor)


def sensitivity(scorer: Scorer, cols: dict, base: np.ndarray) -> tuple[float, str, float]:
    """Largest |Δscore| for one raw input ×(1 ± 1%) (the age ± 1% through founded_on); share of
    (firm, input, sign) moves above JUMP_BOUND."""
    worst, where, over, total = 0.0, "", 0, 0
    moves = [(f, s) for f in numeric_fields() for s in (1.01, 0.99)] + [("age", 1.01), ("age", 0.99)]
    for field, factor in moves:
        changed = dict(cols)
        if field == "age":
            changed["founded_on"] = shift_age(cols, factor)
        else:
            changed[field] = cols[field] * factor
        moved = np.abs(scorer.score(cols.replace(changed), with_recommendation=False).score - base)
        moved = np.where(np.isnan(moved), 0.0, moved)
        total += moved.size
        over += int((moved > JUMP_BOUND).sum())
        if moved.max() > worst:
            worst, where = float(moved.max()), f"{field} ×{factor}"
    return worst, where, over / total


def favourable(scorer: Scorer, cols: dict, base: np.ndarray) -> dict[str, tuple[int, float]]:
    """Per actionable field (policy next-grade levers): firms whose score falls when the field alone
    moves 10% (0 → 1 for a count) in its favourable direction; an enum moves one level up. R&D spend
    moves towards its intensity's sound range (a single-peaked indicator)."""
    out = {}
    levers = load_policy().next_grade.levers
    n = len(base)
    ex = scorer.explainer
    k_int = [i.key for i in INDICATORS].index("rd_intensity")
    for lever in levers:
        field, spec = lever.field, FIELD_SPECS[lever.field]
        changed = dict(cols)
        if spec.kind == "enum":
            ind = next(i for i in INDICATORS if i.inputs == (field,))
            from models.reasons import _ENUM_LEVELS

            levels = _ENUM_LEVELS[field]
            names = sorted(levels, key=levels.get)
            step = -ind.direction  # a better level lowers risk
            code = np.array([levels.get(v, -99) if isinstance(v, str) else -99 for v in cols[field]])
            new = code + step
            ok = (code >= 0) & (new >= 0) & (new < len(names))
            changed[field] = np.where(ok, np.array(names, dtype=object)[np.clip(new, 0, len(names) - 1)], cols[field])
        else:
            x = cols[field]
            if field == "rd_expense_y0":
                intensity = x / cols["revenue_y0"]
                mid = 0.5 * (ex.peak_low[k_int] + ex.peak_high[k_int])
                sign = np.where(intensity < ex.peak_low[k_int], 1.0, np.where(intensity > ex.peak_high[k_int], -1.0, 0.0))
                sign = np.where(np.isnan(intensity), 0.0, sign)
                changed[field] = x * (1 + 0.1 * sign)
                if mid != mid:
                    continue
            else:
                sign = lever.sign
                integer = spec.kind == "integer"
                up = np.where((x == 0) & integer, 1.0, x * 1.1)
                down = x * 0.9
                changed[field] = up if sign > 0 else down
        new_score = scorer.score(cols.replace(changed), with_recommendation=False).score
        fell = (new_score < base - 1e-9) & ~np.isnan(new_score)
        out[field] = (int(fell.sum()), float(np.nanmax(np.where(fell, base - new_score, 0.0))) if n else 0.0)
    return out


def auc_ece(y: np.ndarray, pd_: np.ndarray, true_pd: np.ndarray, stage: np.ndarray) -> list[str]:
    lines = []
    for s in ("all", *STAGES):
        m = np.ones(len(y), dtype=bool) if s == "all" else stage == s
        if m.sum() < 100 or y[m].min() == y[m].max():
            continue
        model, oracle = classification_metrics(y[m], pd_[m]), classification_metrics(y[m], true_pd[m])
        lines.append(f"  {s:8s} n={m.sum():>7,}  AUC {model['auc']:.4f}  oracle {oracle['auc']:.4f}  "
                     f"ratio {model['auc'] / oracle['auc']:.4f}  ECE {model['ece']:.4f} (true PD's {oracle['ece']:.4f})  "
                     f"mean PD {model['mean_pd']:.4f}  default rate {model['default_rate']:.4f}  mean true PD {true_pd[m].mean():.4f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="training rows (when no --model)")
    parser.add_argument("--firms", type=int, default=20_000, help="fresh firms for the reason and sensitivity checks")
    parser.add_argument("--eval-rows", type=int, default=100_000, help="fresh firms for AUC and ECE")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.model:
        bundle, _ = load_bundle(args.model)
        metrics = bundle.metrics
    else:
        result = train_model(generate(args.rows, seed=1), TrainConfig(seed=1))
        bundle, metrics = result.bundle, result.metrics
    print(f"model {bundle.version}: {args.rows:,} training rows, {time.perf_counter() - started:.1f} s")
    scorer = Scorer(bundle)

    raw = generate(max(args.eval_rows, args.firms), seed=21)
    clean = validate_frame(raw).frame
    batch = scorer.score(CleanColumns.from_frame(clean))
    y = clean["default_12m"].to_numpy(dtype=int)
    true_pd = true_pd_of(raw.loc[clean.index])
    firms = clean.iloc[: args.firms]
    small = scorer.score(CleanColumns.from_frame(firms))
    cols = CleanColumns.from_frame(firms)

    checks = reason_checks(small)
    n = len(firms)
    print(f"\non {n:,} fresh firms (seed 21):")
    print(f"reasons contradicting the firm's data: {checks['contradicting']:,} of {checks['reasons']:,} "
          f"({checks['contradicting'] / max(checks['reasons'], 1):.2%})  target 0")
    print(f"up reasons on a missing value: {checks['up_on_missing']:,} ({checks['up_on_missing'] / max(checks['reasons'], 1):.2%})  target 0;"
          f" up reasons on an indicator with a missing input field (value computed from the others): {checks['up_with_a_missing_input']:,}")
    started = time.perf_counter()
    worst, where, share = sensitivity(scorer, cols, small.score)
    print(f"largest score move for a 1% change of one raw input: {worst:.2f} points ({where}); "
          f"moves above {JUMP_BOUND:g} points: {share:.4%}  [{time.perf_counter() - started:.0f} s]")
    fav = favourable(scorer, cols, small.score)
    fell = sum(v[0] for v in fav.values())
    print(f"firms whose score falls when one actionable field improves: {fell:,} of {n * len(fav):,} "
          f"(firm, field) pairs ({fell / max(n * len(fav), 1):.3%})  target 0")
    for field, (count, worst_fall) in fav.items():
        if count:
            print(f"  {field}: {count} firms, by up to {worst_fall:.2f} points")
    rd = dict(cols)
    rd["rd_expense_y0"] = cols["rd_expense_y0"] * 1.2
    rd["net_profit_y0"] = cols["net_profit_y0"] - cols["rd_expense_y0"] * 0.2
    after = scorer.score(cols.replace(rd), with_recommendation=False).score
    fell = after < small.score - 1e-9
    below = small.values[:, [i.key for i in INDICATORS].index("rd_intensity")] < scorer.explainer.peak_low[
        [i.key for i in INDICATORS].index("rd_intensity")]
    print(f"R&D +20% (profit reduced to match): score falls for {fell.mean():.1%} of firms, by up to "
          f"{np.nanmax(np.where(fell, small.score - after, 0)):.2f} points; for {fell[below].mean():.1%} of firms "
          f"below the intensity's sound range ({below.mean():.1%} of firms)")
    print(f"insufficient data: {small.insufficient.mean():.2%} of firms; declared stage contradicting the data: "
          f"{small.stages.conflict.sum():,} firms")

    print("\nAUC / oracle and ECE on the training holdout:")
    for s, row in {"all": {**metrics["holdout"], "oracle_auc": metrics.get("oracle", {}).get("auc", np.nan)},
                   **metrics.get("by_stage", {})}.items():
        print(f"  {s:8s} n={row['n']:>7,}  AUC {row['auc']:.4f}  oracle {row['oracle_auc']:.4f}  "
              f"ratio {row['auc'] / row['oracle_auc']:.4f}  ECE {row['ece']:.4f}"
              + (f"  (the true PD's own ECE on these rows {row['oracle_ece']:.4f})" if "oracle_ece" in row else ""))
    print(f"AUC / oracle and ECE on {len(y):,} fresh firms:")
    print("\n".join(auc_ece(y, batch.pd, true_pd, batch.stage)))

    span = np.array([np.ptp(scorer.tables.curve(f)[1]) * abs(scorer.points_per_raw) for f in range(len(INDICATORS))])
    light = [f"{INDICATORS[f].code} {INDICATORS[f].key} ({span[f]:.2f})" for f in np.argsort(span) if span[f] < 1.0]
    print(f"\nindicators whose curve spans < 1 point: {len(light)}: {', '.join(light)}")


if __name__ == "__main__":
    main()
