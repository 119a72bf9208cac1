"""Benchmark: training time and holdout AUC vs the oracle, beside an unconstrained LightGBM.

    .venv/bin/python bench/bench_train.py --rows 100000
    .venv/bin/python bench/bench_train.py --rows 500000

Prints the champion (one indicator per tree, monotone, calibrated) next to an unconstrained
LightGBM fitted on the same indicators and split in the same run, and the oracle AUC of the
true PD on the same holdout.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightgbm as lgb  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from features.clean import CleanColumns
from features.transformer import IndicatorTransformer  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from training.metrics import grade_rates_rise, grade_table  # noqa: E402
from training.synthetic import generate  # noqa: E402
from training.train import TrainConfig, _split, train_model  # noqa: E402


def unconstrained_auc(raw, cfg: TrainConfig) -> tuple[float, float]:
    """Plain LightGBM (no monotone / interaction constraints) on the same indicators and split."""
    clean = validate_frame(raw).frame
    y = clean[cfg.target].to_numpy(dtype=int)
    X = IndicatorTransformer().fit_transform(clean).to_numpy()
    tr, va, ho = _split(y, cfg)
    started = time.perf_counter()
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100, "verbosity": -1, "seed": cfg.seed}
    booster = lgb.train(params, lgb.Dataset(X[tr], y[tr]), 3000, valid_sets=[lgb.Dataset(X[va], y[va])],
                        callbacks=[lgb.early_stopping(150, verbose=False)])
    return float(roc_auc_score(y[ho], booster.predict(X[ho]))), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validation-rows", type=int, default=300_000, help="fresh firms for the grade table")
    args = parser.parse_args()
    raw = generate(args.rows, args.seed)
    cfg = TrainConfig(seed=args.seed)
    started = time.perf_counter()
    result = train_model(raw, cfg)
    seconds = time.perf_counter() - started
    m = result.metrics
    free_auc, free_seconds = unconstrained_auc(raw, cfg)
    oracle = m["oracle"]["auc"]
    print(f"rows={args.rows} seed={args.seed}")
    print(f"champion      AUC {m['holdout']['auc']:.4f}  = {m['holdout']['auc'] / oracle:.4f} × oracle   KS {m['holdout']['ks']:.4f}  ECE {m['holdout']['ece']:.4f}  train {seconds:.1f} s ({m['trees']} trees)")
    print(f"unconstrained AUC {free_auc:.4f}  = {free_auc / oracle:.4f} × oracle   fit {free_seconds:.1f} s")
    print(f"oracle        AUC {oracle:.4f}")
    print(f"grade default rates rise (grades with ≥100 firms): {m['grade_default_rates_rise']}")
    print_grades(m["grade_table"])
    fresh = validate_frame(generate(args.validation_rows, args.seed + 1000)).frame
    batch = Scorer(result.bundle).score(CleanColumns.from_frame(fresh))
    table = grade_table(fresh["default_12m"].to_numpy(dtype=int), batch.pd, batch.grade)
    print(f"fresh validation sample of {len(fresh):,} firms: default rates rise (grades with ≥100 firms): {grade_rates_rise(table)}")
    print_grades(table.to_dict(orient="records"))


def print_grades(rows: list[dict]) -> None:
    for row in rows:
        if row["count"]:
            print(f"  {row['grade']:>3} n={row['count']:>7} default {row['default_rate']:.4f} mean PD {row['mean_pd']:.4f}")


if __name__ == "__main__":
    main()
