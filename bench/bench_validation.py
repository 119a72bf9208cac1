"""Benchmark: champion vs WoE challenger on generated firm profiles, and the generic tabular mode
with K-fold cross-validation on a loan book whose schema is not ours.

    .venv/bin/python bench/bench_validation.py --rows 100000 --book-rows 50000 --cv 5

The same through the command line:
    techscore train --rows 100000 --seed 1 -o var/bench_model            # prints champion vs challenger
    techscore generate-book --rows 50000 --seed 1 -o var/book.csv
    time techscore train --data var/book.csv --target defaulted --cv 5 -o var/book_model

Prints holdout AUC, KS, Brier and ECE of both models next to the oracle AUC (the true PD) of the
same holdout, and for the generic mode the K-fold AUC/KS of both models next to the oracle AUC,
with the CV time next to the time of one ordinary training run measured in the same process.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import roc_auc_score  # noqa: E402

from training.synthetic import generate  # noqa: E402
from training.synthetic_tabular import generate_loan_book  # noqa: E402
from training.tabular import prepare_any  # noqa: E402
from training.train import TrainConfig, cross_validate, fit_prepared, train_model  # noqa: E402

KEYS = ("auc", "ks", "brier", "ece")


def champion_vs_challenger(rows: int, seed: int) -> None:
    result = train_model(generate(rows, seed), TrainConfig(seed=seed))
    m = result.metrics
    print(f"firm profiles: {rows:,} generated rows, holdout n={m['holdout']['n']:,}, champion = {m['champion']}")
    print(f"  {'model':<20}" + "".join(f"{k:>9}" for k in KEYS))
    for name, mm in m["models"].items():
        print(f"  {name:<20}" + "".join(f"{mm[k]:>9.4f}" for k in KEYS))
    print(f"  {'oracle (true PD)':<20}{m['oracle']['auc']:>9.4f}{m['oracle']['ks']:>9.4f}{m['oracle']['brier']:>9.4f}{m['oracle']['ece']:>9.4f}")
    b = m["validation"]["bootstrap"]
    print(f"  champion 95% bootstrap CI: AUC {b['auc_low']:.4f}–{b['auc_high']:.4f}, KS {b['ks_low']:.4f}–{b['ks_high']:.4f}; train {m['seconds']:.1f} s")


def generic_cv(rows: int, seed: int, folds: int) -> None:
    book = generate_loan_book(rows, seed, true_pd=True)
    oracle = roc_auc_score(book["defaulted"], book.pop("true_pd"))
    cfg = TrainConfig(target="defaulted", seed=seed)
    started = time.perf_counter()
    prepared = prepare_any(book, cfg)
    single = fit_prepared(prepared, cfg)
    single_s = time.perf_counter() - started
    cv = cross_validate(prepared, cfg, folds)
    print(f"generic mode: loan book of {rows:,} rows ({len(single.bundle.feature_names)} columns used, "
          f"excluded {sorted(single.metrics['excluded_columns'])}), {folds}-fold CV")
    for name in ("lightgbm_additive", "woe_logistic"):
        print(f"  {name:<20} AUC {cv[f'{name}_auc_mean']:.4f} ± {cv[f'{name}_auc_std']:.4f}   KS {cv[f'{name}_ks_mean']:.4f} ± {cv[f'{name}_ks_std']:.4f}")
    print(f"  {'oracle (true PD)':<20} AUC {oracle:.4f}")
    print(f"  {folds}-fold CV {cv['seconds']:.1f} s vs one training run (with report statistics) {single_s:.1f} s: ratio {cv['seconds'] / single_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--book-rows", type=int, default=50_000)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    champion_vs_challenger(args.rows, args.seed)
    generic_cv(args.book_rows, args.seed, args.cv)


if __name__ == "__main__":
    main()
