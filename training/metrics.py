"""Discrimination and calibration metrics for a PD model."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from models.scaling import GRADES


def ks_statistic(y: np.ndarray, pd_: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the largest gap between the TPR and FPR curves."""
    fpr, tpr, _ = roc_curve(y, pd_)
    return float(np.max(tpr - fpr))


def expected_calibration_error(y: np.ndarray, pd_: np.ndarray, bins: int = 10) -> float:
    """Count-weighted |mean PD − default rate| over equal-count PD bins."""
    order = np.argsort(pd_, kind="stable")
    err = 0.0
    for chunk in np.array_split(order, bins):
        if chunk.size:
            err += chunk.size * abs(pd_[chunk].mean() - y[chunk].mean())
    return float(err / len(y))


def grade_table(y: np.ndarray, pd_: np.ndarray, grades: np.ndarray) -> pd.DataFrame:
    """Count, default rate and mean PD per grade, best grade first."""
    df = pd.DataFrame({"grade": pd.Categorical(grades, categories=GRADES, ordered=True), "y": y, "pd": pd_})
    table = df.groupby("grade", observed=False).agg(count=("y", "size"), default_rate=("y", "mean"), mean_pd=("pd", "mean"))
    return table.reset_index()


def grade_rates_rise(table: pd.DataFrame, min_count: int = 100, min_expected_defaults: float = 0.0) -> bool:
    """Whether default rate rises grade by grade over grades with at least min_count firms
    (and, optionally, enough expected defaults for a rate to mean something)."""
    enough = (table["count"] >= min_count) & (table["count"] * table["mean_pd"] >= min_expected_defaults)
    rates = table.loc[enough, "default_rate"].to_numpy()
    return bool(np.all(np.diff(rates) > 0))


def classification_metrics(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """AUC, Gini, KS, Brier and ECE of PDs against outcomes."""
    auc = float(roc_auc_score(y, pd_))
    return {
        "auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, pd_),
        "brier": float(brier_score_loss(y, pd_)),
        "ece": expected_calibration_error(y, pd_),
        "default_rate": float(np.mean(y)),
        "mean_pd": float(np.mean(pd_)),
        "n": int(len(y)),
    }
