"""Validation statistics a model risk committee reads: one dict, stored in metrics.json and drawn by the report.

Everything is computed from outcomes, PDs, scores and points of one sample (the training
holdout, or a file the validator brings), so the report needs no raw rows from training.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score, roc_curve

from models.catalogue import Catalogue
from models.drift import DriftReference
from models.explain import AdditiveTables
from models.scaling import GRADES
from training.metrics import classification_metrics, ks_statistic

N_BOOT = 200
CURVE_POINTS = 201
SCORE_BIN = 20  # points per bar of the score distribution
CONFIDENCE = 0.95


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


def bootstrap_ci(y: np.ndarray, pd_: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Percentile bootstrap 95% intervals of AUC and KS (resampling rows with replacement)."""
    rng = np.random.default_rng(seed)
    aucs, kss = [], []
    n = len(y)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        aucs.append(roc_auc_score(y[idx], pd_[idx]))
        kss.append(ks_statistic(y[idx], pd_[idx]))
    q = [(1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100]
    a, k = np.percentile(aucs, q), np.percentile(kss, q)
    return {"n_boot": len(aucs), "auc_low": _r(a[0]), "auc_high": _r(a[1]), "ks_low": _r(k[0]), "ks_high": _r(k[1])}


def roc_points(y: np.ndarray, pd_: np.ndarray) -> dict[str, list[float]]:
    """ROC curve thinned to at most CURVE_POINTS points (interpolated on an FPR grid)."""
    fpr, tpr, _ = roc_curve(y, pd_)
    grid = np.linspace(0, 1, CURVE_POINTS)
    return {"fpr": grid.round(4).tolist(), "tpr": np.interp(grid, fpr, tpr).round(6).tolist()}


def ks_curve(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """Cumulative share of bads and goods at or below each score: the KS and where it is reached
    from every distinct score, the curve thinned to a quantile grid for the figure."""
    s_bad, s_good = np.sort(score[y == 1]), np.sort(score[y == 0])

    def cum(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.searchsorted(s_bad, points, side="right") / max(len(s_bad), 1),
                np.searchsorted(s_good, points, side="right") / max(len(s_good), 1))

    every = np.unique(score)
    cb_all, cg_all = cum(every)
    at = int(np.argmax(cb_all - cg_all))
    grid = np.unique(np.quantile(score, np.linspace(0, 1, CURVE_POINTS)))
    cb, cg = cum(grid)
    return {"score": grid.round(2).tolist(), "cum_bad": cb.round(6).tolist(), "cum_good": cg.round(6).tolist(),
            "ks": _r(cb_all[at] - cg_all[at]), "ks_score": _r(every[at], 2)}


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(int(k), int(n)).proportion_ci(CONFIDENCE, method="wilson")
    return ci.low, ci.high


def calibration_deciles(y: np.ndarray, pd_: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Equal-count PD bins: mean PD vs observed default rate with a Wilson 95% interval."""
    order = np.argsort(pd_, kind="stable")
    out = []
    for d, chunk in enumerate(np.array_split(order, bins), start=1):
        if not chunk.size:
            continue
        k = int(y[chunk].sum())
        lo, hi = wilson(k, chunk.size)
        out.append({"decile": d, "n": int(chunk.size), "defaults": k, "mean_pd": _r(pd_[chunk].mean()),
                    "default_rate": _r(k / chunk.size), "ci_low": _r(lo), "ci_high": _r(hi)})
    return out


def score_histogram(score: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """Counts per SCORE_BIN-point bar, split by outcome when known."""
    lo = np.floor(score.min() / SCORE_BIN) * SCORE_BIN
    hi = np.floor(score.max() / SCORE_BIN) * SCORE_BIN + SCORE_BIN
    edges = np.arange(lo, hi + SCORE_BIN / 2, SCORE_BIN)
    out: dict[str, Any] = {"edges": edges.tolist()}
    if y is None:
        out["all"] = np.histogram(score, edges)[0].tolist()
    else:
        out["good"] = np.histogram(score[y == 0], edges)[0].tolist()
        out["bad"] = np.histogram(score[y == 1], edges)[0].tolist()
    return out


def grade_tests(y: np.ndarray, pd_: np.ndarray, grade: np.ndarray) -> list[dict[str, Any]]:
    """Per grade: count, defaults, default rate, mean PD and the one-sided binomial p-value of
    H0 "true default rate ≤ mean PD" (a small p-value says the grade's PD is too optimistic)."""
    out = []
    for g in GRADES:
        rows = grade == g
        n = int(rows.sum())
        if not n:
            out.append({"grade": g, "count": 0, "defaults": 0, "default_rate": None, "mean_pd": None, "p_value": None, "rejected": False})
            continue
        k, m = int(y[rows].sum()), float(pd_[rows].mean())
        p = binomtest(k, n, m, alternative="greater").pvalue
        out.append({"grade": g, "count": n, "defaults": k, "default_rate": _r(k / n), "mean_pd": _r(m),
                    "p_value": _r(p), "rejected": bool(p < 1 - CONFIDENCE)})
    return out


def importance(points: np.ndarray, cat: Catalogue) -> dict[str, Any]:
    """Mean |points| per feature and per group (dimension), largest first."""
    per = np.abs(points).mean(axis=0)
    groups = np.abs(points @ cat.membership()).mean(axis=0)
    feats = sorted(({"feature": f.key, "group": f.group, "mean_abs_points": _r(v, 4)} for f, v in zip(cat.features, per)),
                   key=lambda r: -r["mean_abs_points"])
    return {"features": feats,
            "groups": [{"group": g, "label_en": cat.groups[g][1], "mean_abs_points": _r(v, 4)} for g, v in zip(cat.group_keys, groups)]}


def monotonicity(tables: AdditiveTables, cat: Catalogue) -> list[dict[str, Any]]:
    """For each constrained feature: does its lookup-table curve move only in the declared direction?"""
    out = []
    for j, f in enumerate(cat.features):
        if f.direction == 0:
            continue
        _, values = tables.curve(j)
        steps = np.diff(values) * f.direction  # raw log-odds must not fall where risk should rise
        worst = float(steps.min()) if steps.size else 0.0
        out.append({"feature": f.key, "direction": f.direction, "intervals": int(values.size),
                    "monotone": bool(worst >= -1e-12), "worst_step": _r(min(worst, 0.0), 9)})
    return out


def sample_description(y: np.ndarray | None, pd_: np.ndarray, stage: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(len(pd_)), "mean_pd": _r(pd_.mean())}
    if y is not None:
        out.update(defaults=int(y.sum()), default_rate=_r(y.mean()))
    if stage is not None:
        vals, counts = np.unique(np.asarray(stage, dtype=str), return_counts=True)
        out["stages"] = {str(v): int(c) for v, c in zip(vals, counts)}
    return out


def evaluate(*, y: np.ndarray | None, pd_: np.ndarray, score: np.ndarray, grade: np.ndarray, points: np.ndarray,
             X: np.ndarray, stage: np.ndarray | None, catalogue: Catalogue, reference: DriftReference,
             champion_tables: AdditiveTables, challenger_pd: np.ndarray | None, seed: int = 0,
             names: tuple[str, str] = ("champion", "challenger")) -> dict[str, Any]:
    """Every number the validation report shows, for one sample; outcome sections need y."""
    out: dict[str, Any] = {
        "champion_name": names[0],
        "challenger_name": names[1],
        "sample": sample_description(y, pd_, stage),
        "score_distribution": score_histogram(score, y),
        "importance": importance(points, catalogue),
        "monotonicity": monotonicity(champion_tables, catalogue),
        "psi": reference.compare(X, score),
    }
    if y is None or y.min() == y.max():
        return out
    champion = {k: _r(v) if isinstance(v, float) else v for k, v in classification_metrics(y, pd_).items()}
    out.update(
        champion=champion,
        bootstrap=bootstrap_ci(y, pd_, seed=seed),
        roc=roc_points(y, pd_),
        ks_curve=ks_curve(y, score),
        calibration=calibration_deciles(y, pd_),
        grades=grade_tests(y, pd_, grade),
    )
    if challenger_pd is not None:
        out["challenger"] = {k: _r(v) if isinstance(v, float) else v for k, v in classification_metrics(y, challenger_pd).items()}
        out["challenger_roc"] = roc_points(y, challenger_pd)
    return out
