"""Grades the data supports and the release verdict of a bank's own model.

Grades come from out-of-fold PDs over the whole book (every row scored by a model that never
saw it). Adjacent grades are merged, best first, until each published band holds enough
expected defaults for its binomial test to mean something; a merged band is published under
its worst grade's label (conservative, and the credit policy's grade names still apply). Each
band is tested one-sided: H0 "the band's true default rate ≤ its mean PD"; a rejection means
the band's PD is too optimistic. With several bands, some would fail a 5% test by chance alone
(six honest bands: one chance in four), so a band fails when its Holm-adjusted p-value (family-wise
5% over the bands) is below 5%; a band below 5% only on its own is a note to watch. The verdict is `ready` only when no band is rejected, the ECE
is within the bank's bound and at least MIN_BANDS bands remain.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest

from models.scaling import GRADES, GRADE_UPPER_PD
from training.validation import CONFIDENCE, wilson

MIN_EXPECTED_DEFAULTS = 5.0  # expected defaults (Σ PD) a band needs for its binomial test to have power
MIN_BAND_COUNT = 30
MIN_BANDS = 3  # fewer bands than this is no rating scale


def merge_grades(y: np.ndarray, pd_: np.ndarray, grade: np.ndarray) -> dict[str, str]:
    """Grade → published grade: bands of adjacent grades, each with ≥ MIN_EXPECTED_DEFAULTS expected
    defaults and ≥ MIN_BAND_COUNT rows (a short last band joins the one before); label = worst grade."""
    count = np.array([(grade == g).sum() for g in GRADES])
    expected = np.array([pd_[grade == g].sum() for g in GRADES])
    bands: list[list[str]] = []
    current: list[str] = []
    n = e = 0.0
    for g, c, x in zip(GRADES, count, expected):
        current.append(g)
        n, e = n + c, e + x
        if n >= MIN_BAND_COUNT and e >= MIN_EXPECTED_DEFAULTS:
            bands.append(current)
            current, n, e = [], 0.0, 0.0
    if current:
        if bands:
            bands[-1].extend(current)
        else:
            bands.append(current)
    return {g: band[-1] for band in bands for g in band}


def band_table(y: np.ndarray, pd_: np.ndarray, grade: np.ndarray, grade_map: dict[str, str]) -> list[dict[str, Any]]:
    """Per published band: grades, PD range, count, defaults, observed rate with its 95% Wilson
    interval, mean PD and the one-sided binomial test of the rate against the mean PD."""
    published = np.vectorize(grade_map.get, otypes=[object])(grade) if len(grade) else grade
    rows = []
    for label in dict.fromkeys(grade_map.values()):
        members = [g for g in GRADES if grade_map[g] == label]
        lo = 0.0 if members[0] == GRADES[0] else GRADE_UPPER_PD[GRADES.index(members[0]) - 1]
        hi = GRADE_UPPER_PD[GRADES.index(members[-1])]
        mask = published == label
        n, k = int(mask.sum()), int(y[mask].sum())
        row: dict[str, Any] = {"grade": label, "grades": members, "pd_from": lo, "pd_to": hi, "count": n, "defaults": k}
        if n:
            m = float(pd_[mask].mean())
            ci = wilson(k, n)
            p = float(binomtest(k, n, m, alternative="greater").pvalue)
            row.update(default_rate=round(k / n, 6), ci_low=round(float(ci[0]), 6), ci_high=round(float(ci[1]), 6),
                       mean_pd=round(m, 6), p_value=round(p, 6))
        else:
            row.update(default_rate=None, ci_low=None, ci_high=None, mean_pd=None, p_value=None)
        rows.append(row)
    tested = [r for r in rows if r["p_value"] is not None]
    for r, adj in zip(tested, holm([r["p_value"] for r in tested])):
        r["p_holm"] = round(adj, 6)
    for r in rows:
        r.setdefault("p_holm", None)
        r["rejected"] = r["p_holm"] is not None and r["p_holm"] < 1 - CONFIDENCE
    return rows


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the tests), in the input order."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def verdict(bands: list[dict[str, Any]], ece: float, max_ece: float, defaults: int) -> dict[str, Any]:
    """`release: ready | not_ready` with the reasons (what blocks) and notes (what was adjusted)."""
    reasons, notes = [], []
    for b in bands:
        if b["p_value"] is None or b["p_value"] >= 1 - CONFIDENCE:
            continue
        text = (f"grade {b['grade']}: observed default rate {b['default_rate']:.2%} (95% CI {b['ci_low']:.2%}–{b['ci_high']:.2%}, "
                f"{b['defaults']} of {b['count']}) is above its mean PD {b['mean_pd']:.2%} (one-sided binomial p = {b['p_value']:.4f}, "
                f"Holm-adjusted over {sum(x['p_value'] is not None for x in bands)} grades {b['p_holm']:.4f})")
        (reasons if b["rejected"] else notes).append(text if b["rejected"] else f"watch {text}")
    if ece > max_ece:
        reasons.append(f"expected calibration error {ece:.4f} is above the bound {max_ece:.4f}")
    used = [b for b in bands if b["count"]]
    if len(used) < MIN_BANDS:
        reasons.append(f"too few defaults ({defaults}) to support a rating scale: {len(used)} grade band(s), at least {MIN_BANDS} needed")
    if len(bands) < len(GRADES):
        merged = "; ".join(f"{'+'.join(b['grades'])} → {b['grade']}" for b in bands if len(b["grades"]) > 1)
        notes.append(f"{defaults} defaults support {len(bands)} grades, not {len(GRADES)}: merged {merged}")
    return {"release": "not_ready" if reasons else "ready", "reasons": reasons, "notes": notes,
            "max_ece": max_ece, "ece": round(float(ece), 6)}
