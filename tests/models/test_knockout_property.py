"""Property test: no firm whose credit record shows a knock-out fact is ever offered credit.

Thousands of generated firms get their credit record re-drawn at random over every combination of
days past due, loan class, overdue flag, enforcement and tax grade (coherent or not). Incoherent
records must be rejected by validation naming the rule; every accepted firm with a knock-out fact
(90+ days past due in 24 months, a loan currently overdue, enforcement listing, tax grade D, a
loan classed substandard or worse) must be declined (or be outside the product segment), whatever
its score or other fields say.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.clean import CleanColumns
from features.validate import validate_frame
from training.synthetic import generate

FIRMS = 5000


def _scramble(raw: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(raw)
    out = raw.copy()
    dpd = rng.choice([0, 1, 15, 29, 30, 60, 89, 90, 91, 180, 365, 730], n).astype(object)
    dpd[rng.random(n) < 0.1] = None
    cls = rng.choice(["normal", "special_mention", "substandard", "doubtful", "loss", ""], n)
    overdue = rng.choice(["1", "0", "", "是", "否"], n, p=[0.15, 0.6, 0.1, 0.05, 0.1])
    enforcement = rng.choice(["1", "0", ""], n, p=[0.05, 0.9, 0.05])
    tax = rng.choice(["A", "B", "M", "C", "D", ""], n, p=[0.3, 0.3, 0.15, 0.1, 0.1, 0.05])
    out["max_dpd_24m"], out["worst_loan_class"], out["current_overdue"] = dpd, cls, overdue
    out["enforcement_listed"], out["tax_grade"] = enforcement, tax
    return out


def knockout_facts(clean: pd.DataFrame) -> np.ndarray:
    """The facts domain brief §5 declines on, read straight from the clean frame (independent of the policy)."""
    return ((clean["max_dpd_24m"].to_numpy(float) >= 90) | (clean["current_overdue"].to_numpy(float) == 1)
            | (clean["enforcement_listed"].to_numpy(float) == 1) | (clean["tax_grade"] == "D").to_numpy(bool)
            | clean["worst_loan_class"].isin(["substandard", "doubtful", "loss"]).to_numpy(bool))


def test_no_knockout_bypass_over_thousands_of_firms(scorer):
    rng = np.random.default_rng(15)
    raw = _scramble(generate(FIRMS, seed=151), rng)
    checked = validate_frame(raw)
    clean = checked.frame
    # incoherent records are input errors, named by rule
    dpd = pd.to_numeric(raw["max_dpd_24m"], errors="coerce").to_numpy(float)
    incoherent = (dpd >= 90) & raw["worst_loan_class"].isin(["normal", "special_mention"]).to_numpy(bool)
    rejected = set(checked.rejects.loc[checked.rejects["rule"] == "dpd90_needs_substandard", "row"])
    assert incoherent.sum() > 500 and rejected == set(np.flatnonzero(incoherent))
    overdue = raw["current_overdue"].isin(["1", "是"]).to_numpy(bool) & (dpd == 0)
    assert set(np.flatnonzero(overdue)) == set(checked.rejects.loc[checked.rejects["rule"] == "overdue_needs_dpd", "row"])

    recs = scorer.score(CleanColumns.from_frame(clean)).recommendations
    facts = knockout_facts(clean)
    assert facts.sum() > 1000 and (~facts).sum() > 500
    bypass = facts & ~np.isin(recs.decision, ["decline", "outside_segment"])
    assert bypass.sum() == 0, clean.loc[bypass, ["max_dpd_24m", "worst_loan_class", "current_overdue"]].head()
    assert (recs.limit[facts] == 0).all() and not recs.products[facts].any()
    # … and the knock-outs decline nobody else: the grade decides for the rest
    assert (recs.decision[~facts] != "decline").any()
