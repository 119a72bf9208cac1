"""A bank's own book: TechScore's generic mode against open scorecard libraries and tuned LightGBM.

Generated books of several shapes (tiny, categorical-heavy, 3% bad rate, with a free-text memo
and an ID column, with a leaking column) are each run through TechScore (`training.book`: the
model chosen and tuned by inner cross-validation inside every fold) and through the peers, on
the same 5 stratified folds in the same run: optbinning (BinningProcess + logistic regression),
toad (toad.selection.select, chi-merge Combiner, WoE, logistic regression), LightGBM default and
LightGBM tuned (grid over leaves, minimum child samples and regularisation, rounds by lightgbm.cv
on the training part). Every peer gets every column as a modeller would load it (numbers as
numbers, text as categories); TechScore screens columns itself. Mean AUC, KS and Brier over the
folds, side by side, and TechScore's margin over the best peer.

The leaking column is recorded after the outcome (the worst days past due over the loan's first
year): a test fold is scored as at application, where it is still 0. A model that learned from
it fails there; that is what leaving it out protects against.

`--timing-rows 30000` also times `techscore train --cv 5` on a book of that size next to one
plain LightGBM fit of the same rows, in the same run.

Peers are the `bench` extra (`pip install -e '.[bench]'`); the product never imports them.
Usage: nice .venv/bin/python bench/bench_book.py [--shapes tiny,...] [--scale 0.3] [--timing-rows 30000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from features.tabular import TabularConfig  # noqa: E402
from training.book import out_of_fold  # noqa: E402
from training.metrics import ks_statistic  # noqa: E402
from training.tabular import prepare_tabular  # noqa: E402
from training.train import TrainConfig  # noqa: E402

TARGET = "defaulted"
LEAK = "max_dpd_first_year"
FOLDS = 5


# ---------------------------------------------------------------- generated books
@dataclass(frozen=True)
class Shape:
    rows: int
    bad_rate: float
    numeric: int
    categorical: tuple[tuple[int, float], ...]  # (levels, spread of the levels' log-odds effects)
    text: bool = False
    ident: bool = False
    leak: bool = False


SHAPES: dict[str, Shape] = {
    "tiny_1k": Shape(1_000, 0.20, 6, ((4, 0.5), (6, 0.4))),
    "categorical_heavy": Shape(5_000, 0.12, 2, ((8, 0.6), (15, 0.5), (30, 0.5), (60, 0.6), (5, 0.4), (12, 0.3))),
    "low_bad_rate_3pct": Shape(10_000, 0.03, 6, ((5, 0.5), (8, 0.4))),
    "text_and_id": Shape(3_000, 0.10, 5, ((6, 0.5), (10, 0.4)), text=True, ident=True),
    "leaking_column": Shape(5_000, 0.10, 5, ((6, 0.5), (10, 0.4)), leak=True),
}

_EFFECTS = (  # monotone, non-linear effects of a standardised variable on the log-odds
    lambda z: 0.6 * np.tanh(z),
    lambda z: -0.5 * np.log1p(np.exp(z)),
    lambda z: 0.45 * (z > 0.5) + 0.25 * z,
    lambda z: -0.4 * np.sqrt(np.abs(z)) * np.sign(z),
    lambda z: 0.35 * z,
    lambda z: -0.5 * (z < -1.0) - 0.15 * z,
)
_MEMO = (["customer called about", "branch noted", "RM visit re", "email received on", "file note:", "follow-up on"],
         ["the repayment schedule", "a change of address", "collateral papers", "the tax certificate", "a new director",
          "insurance renewal", "the guarantor's income", "an overdraft request"],
         ["awaiting documents", "no action needed", "escalated to credit", "closed"])


def make_book(shape: Shape, seed: int) -> pd.DataFrame:
    """One loan book of `shape`: PD from an additive logit of monotone numeric effects and category effects."""
    rng = np.random.default_rng(seed)
    n = shape.rows
    cols: dict[str, np.ndarray] = {}
    logit = np.zeros(n)
    for j in range(shape.numeric):
        z = rng.standard_normal(n)
        logit += _EFFECTS[j % len(_EFFECTS)](z)
        x = np.round(np.exp(0.6 * z + 3.0 + j % 3), 1) if j % 2 else np.round(10 * z + 50, 2)
        x[rng.random(n) < 0.03] = np.nan
        cols[f"num_{j + 1}"] = x
    for j, (levels, spread) in enumerate(shape.categorical):
        share = rng.dirichlet(np.full(levels, 1.5))
        effect = rng.normal(0.0, spread, levels)
        code = rng.choice(levels, n, p=share)
        logit += effect[code]
        cols[f"cat_{j + 1}"] = np.asarray([f"c{j + 1}_{k:02d}" for k in range(levels)], dtype=object)[code]
    logit += rng.normal(0.0, 0.3, n)  # what no column explains
    lo, hi = -12.0, 4.0
    for _ in range(60):  # intercept that gives the target bad rate
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (1 / (1 + np.exp(-(logit + mid)))).mean() < shape.bad_rate else (lo, mid)
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit + lo)))).astype(int)
    df = pd.DataFrame(cols)
    if shape.ident:
        df.insert(0, "application_ref", rng.choice(np.arange(10_000_000, 99_999_999), n, replace=False))
    if shape.text:
        a, b, c = (rng.integers(0, len(p), n) for p in _MEMO)
        memo = [f"{_MEMO[0][i]} {_MEMO[1][k]}, {_MEMO[2][m]}" for i, k, m in zip(a, b, c)]
        df["officer_memo"] = np.asarray(memo, dtype=object)
    if shape.leak:
        dpd = np.where(y == 1, rng.integers(30, 181, n), np.where(rng.random(n) < 0.04, rng.integers(1, 30, n), 0))
        df[LEAK] = dpd.astype(float)
    df[TARGET] = y
    return df


def application_view(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The rows as known at application: a column recorded after the outcome is still 0."""
    out = df.iloc[rows].copy()
    if LEAK in out:
        out[LEAK] = 0.0
    return out


# ---------------------------------------------------------------- models
def _peer_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    X = df.drop(columns=[TARGET])
    cats = [c for c in X if not pd.api.types.is_numeric_dtype(X[c])]
    return X, cats


def run_optbinning(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    from optbinning import BinningProcess

    X, cats = _peer_frame(train)
    bp = BinningProcess(list(X.columns), categorical_variables=cats)
    bp.fit(X, train[TARGET].to_numpy())
    lr = LogisticRegression(max_iter=2000).fit(bp.transform(X, metric="woe"), train[TARGET])
    return lr.predict_proba(bp.transform(_peer_frame(test)[0], metric="woe"))[:, 1]


def _toad_ready(df: pd.DataFrame) -> pd.DataFrame:
    """toad's usual preparation: missing cells filled with a sentinel (its chi-merge cannot sort NaN),
    text as object; column labels as object (toad indexes them with numpy arrays)."""
    out = df.set_axis(pd.Index(list(df.columns), dtype=object), axis=1).copy()
    for c in out:
        if pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].fillna(-999.0)
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), "missing")
    return out


def run_toad(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    import toad

    train = _toad_ready(train)
    test = _toad_ready(test)
    kept = toad.selection.select(train, target=TARGET, empty=0.9, iv=0.02, corr=0.7)
    X, _ = _peer_frame(kept)
    comb = toad.transform.Combiner()
    comb.fit(X, train[TARGET], method="chi", min_samples=0.05)
    woe = toad.transform.WOETransformer()
    W = woe.fit_transform(comb.transform(X), train[TARGET])
    lr = LogisticRegression(max_iter=2000).fit(W, train[TARGET])
    return lr.predict_proba(woe.transform(comb.transform(test[X.columns])))[:, 1]


def _lgb_frames(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    X, cats = _peer_frame(train)
    Xt = _peer_frame(test)[0]
    X, Xt = X.copy(), Xt.copy()
    for c in cats:
        levels = pd.Index(sorted(X[c].dropna().unique()))
        X[c] = pd.Categorical(X[c], categories=levels)
        Xt[c] = pd.Categorical(Xt[c], categories=levels)
    return X, Xt


def run_lgb_default(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    import lightgbm as lgb

    X, Xt = _lgb_frames(train, test)
    model = lgb.LGBMClassifier(n_jobs=1, verbose=-1, random_state=0).fit(X, train[TARGET])
    return model.predict_proba(Xt)[:, 1]


LGB_GRID = [dict(num_leaves=nl, min_child_samples=mc, reg_lambda=rl)
            for nl in (4, 15, 31) for mc in (20, 100) for rl in (0.0, 5.0)]


def run_lgb_tuned(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Grid over leaves, minimum child samples and L2; rounds and the grid point by 3-fold lightgbm.cv on the training part."""
    import lightgbm as lgb

    X, Xt = _lgb_frames(train, test)
    y = train[TARGET].to_numpy()
    best = (np.inf, None, 0)
    for g in LGB_GRID:
        params = {"objective": "binary", "learning_rate": 0.05, "num_threads": 1, "verbosity": -1, "seed": 0,
                  "cat_smooth": 10, "min_data_per_group": 20, **g}
        res = lgb.cv(params, lgb.Dataset(X, y), num_boost_round=3000, nfold=3, stratified=True, seed=0,
                     callbacks=[lgb.early_stopping(100, verbose=False)])
        loss = res["valid binary_logloss-mean"]
        if min(loss) < best[0]:
            best = (min(loss), params, int(np.argmin(loss)) + 1)
    booster = lgb.train(best[1], lgb.Dataset(X, y), num_boost_round=best[2])
    return booster.predict(Xt)


@dataclass
class Scores:
    auc: list[float] = field(default_factory=list)
    ks: list[float] = field(default_factory=list)
    brier: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, y: np.ndarray, p: np.ndarray) -> None:
        self.auc.append(float(roc_auc_score(y, p)))
        self.ks.append(ks_statistic(y, p))
        self.brier.append(float(brier_score_loss(y, p)))


PEERS = {"optbinning": run_optbinning, "toad": run_toad, "lightgbm_default": run_lgb_default, "lightgbm_tuned": run_lgb_tuned}


def run_shape(name: str, shape: Shape, seed: int) -> dict[str, Scores]:
    df = make_book(shape, seed)
    y = df[TARGET].to_numpy()
    splits = list(StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    results = {m: Scores() for m in ("techscore", *PEERS)}
    cfg = TrainConfig(target=TARGET, seed=seed)
    chosen = []
    for rest, ho in splits:
        test = application_view(df, ho)
        # TechScore sees the book as the bank holds it, with the test rows as at application
        book = pd.concat([df.iloc[rest], test]).sort_index()
        pos = np.searchsorted(book.index.to_numpy(), df.index.to_numpy())
        t0 = time.perf_counter()
        oof, _, cv = out_of_fold(prepare_tabular(book, cfg, TabularConfig()), cfg, FOLDS, [(pos[rest], pos[ho])])
        results["techscore"].seconds += time.perf_counter() - t0
        results["techscore"].add(y[ho], oof[pos[ho]])
        chosen.append(cv["per_fold"][0]["chosen"])
        for peer, fn in PEERS.items():
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = fn(df.iloc[rest], test)
            results[peer].seconds += time.perf_counter() - t0
            results[peer].add(y[ho], p)
    print(f"\n## {name}: {shape.rows:,} rows, bad rate {y.mean():.2%}, columns {', '.join(c for c in df if c != TARGET)}")
    print(f"TechScore's choice per fold: {', '.join(chosen)}")
    print("| model | AUC | KS | Brier | seconds (5 folds) |\n|---|---|---|---|---|")
    for m, s in results.items():
        print(f"| {m} | {np.mean(s.auc):.4f} ± {np.std(s.auc, ddof=1):.4f} | {np.mean(s.ks):.4f} | {np.mean(s.brier):.5f} | {s.seconds:.1f} |")
    best_peer = max(PEERS, key=lambda m: np.mean(results[m].auc))
    margin = np.mean(results["techscore"].auc) - np.mean(results[best_peer].auc)
    print(f"TechScore − best peer ({best_peer}): AUC {margin:+.4f}, KS {np.mean(results['techscore'].ks) - np.mean(results[best_peer].ks):+.4f}, "
          f"Brier {np.mean(results['techscore'].brier) - np.mean(results[best_peer].brier):+.5f}")
    return results


def timing(rows: int, seed: int) -> None:
    """`techscore train --cv 5` on a book of `rows`, next to one plain LightGBM fit of the same rows."""
    import lightgbm as lgb

    df = make_book(Shape(rows, 0.10, 6, ((6, 0.5), (10, 0.4), (25, 0.4))), seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "book.csv"
        df.to_csv(src, index=False)
        exe = Path(sys.executable).with_name("techscore")
        t0 = time.perf_counter()
        subprocess.run([str(exe), "train", "--data", str(src), "--target", TARGET, "--cv", "5", "-o", str(Path(tmp) / "model")],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
        train_s = time.perf_counter() - t0
    X, _ = _lgb_frames(df, df.head(1))
    t0 = time.perf_counter()
    lgb.LGBMClassifier(n_jobs=1, verbose=-1).fit(X, df[TARGET])
    plain_s = time.perf_counter() - t0
    print(f"\n## timing, {rows:,}-row book: `techscore train --cv 5` {train_s:.1f} s (process start, CSV, outer 5-fold "
          f"selection and OOF grades, final fit, report statistics); one plain LightGBM fit {plain_s:.2f} s; ratio {train_s / plain_s:.0f}×")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--scale", type=float, default=1.0, help="rows × scale (development runs), tiny_1k is always 1,000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timing-rows", type=int, default=0)
    args = ap.parse_args()
    margins = {}
    for name in args.shapes.split(","):
        shape = SHAPES[name]
        if name != "tiny_1k":
            shape = Shape(**{**shape.__dict__, "rows": int(shape.rows * args.scale)})
        res = run_shape(name, shape, args.seed)
        best = max(PEERS, key=lambda m: np.mean(res[m].auc))
        margins[name] = (np.mean(res["techscore"].auc), best, np.mean(res[best].auc))
    print("\n## summary: TechScore vs the best peer on each book (mean 5-fold AUC)")
    print("| book | TechScore | best peer | peer AUC | margin |\n|---|---|---|---|---|")
    for name, (ts, best, pa) in margins.items():
        print(f"| {name} | {ts:.4f} | {best} | {pa:.4f} | {ts - pa:+.4f} |")
    if args.timing_rows:
        timing(args.timing_rows, args.seed)


if __name__ == "__main__":
    main()
