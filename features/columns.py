"""Column screening of a bank's own table: what a modeller would leave out, and why.

Three rules that the type inference of `features.tabular` applies before a column becomes a
feature:
- free text: sentences (several words per cell, many distinct values) carry no category a
  model can learn from a few thousand rows; kept as a category they only add noise;
- identifiers: text whose distinct values are a large share of the rows (each value seen once
  or twice) cannot generalise to new loans;
- leakage suspects: a column that on its own separates defaults from non-defaults almost
  perfectly (single-column AUC ≥ LEAKAGE_AUC on the training rows) is almost always recorded
  after the outcome (collections, write-off, recovery); it is excluded with a warning unless
  the config keeps it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

LEAKAGE_AUC = 0.95  # a credit variable alone rarely passes 0.85; a leak is near 1
TEXT_MIN_WORDS = 3.0  # median words per cell from which a column reads as sentences
TEXT_MIN_CHARS = 25.0  # … or median characters per cell
TEXT_MIN_DISTINCT = 20  # a short list of long labels is still a category
ID_DISTINCT_SHARE = 0.5  # distinct values / present cells above which text is an identifier
ID_MIN_DISTINCT = 50


def text_reason(present: pd.Series) -> str | None:
    """Why a text column is free text or an identifier, or None when it is a usable category."""
    txt = present.astype(str).str.strip()
    n_unique = txt.nunique()
    if n_unique >= TEXT_MIN_DISTINCT:
        words = txt.str.split().str.len()
        if words.median() >= TEXT_MIN_WORDS or txt.str.len().median() >= TEXT_MIN_CHARS:
            return f"free text ({n_unique} distinct values, median {words.median():.0f} words per cell)"
    if n_unique >= ID_MIN_DISTINCT and n_unique / len(txt) > ID_DISTINCT_SHARE:
        return f"identifier ({n_unique} distinct values in {len(txt)} rows)"
    return None


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann–Whitney rank sum (ties count half), without scikit-learn's per-call
    checks, which cost more than the sum itself when model selection calls it thousands of times."""
    from scipy.stats import rankdata

    y = np.asarray(y)
    pos = int(y.sum())
    neg = len(y) - pos
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def single_column_auc(x: np.ndarray, y: np.ndarray) -> float:
    """How well one column alone orders the outcome: max(AUC, 1 − AUC), missing cells placed
    below or above every value, whichever separates better (a leak often shows as missingness)."""
    if y.min() == y.max():
        return 0.5
    nan = np.isnan(x)
    finite = x[~nan]
    if finite.size == 0:
        return 0.5
    lo, hi = finite.min() - 1.0, finite.max() + 1.0
    best = 0.5
    for fill in ((lo, hi) if nan.any() else (lo,)):
        auc = rank_auc(y, np.where(nan, fill, x))
        best = max(best, auc, 1.0 - auc)
    return best
