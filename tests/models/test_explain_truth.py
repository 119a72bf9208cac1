"""Property tests over thousands of generated firms (issue 14): every sentence told is true.

Seeded generation (fresh firms, not the training portfolio), scored by the session's model.
"""
from __future__ import annotations

import numpy as np
import pytest

from features.clean import CleanColumns
from features.registry import INDICATORS
from features.schema import FIELD_SPECS
from features.stage import STAGES
from features.validate import profiles_to_columns, validate_frame
from models.policy import load_policy
from models.reasons import KINDS, contradicts
from training.metrics import expected_calibration_error
from training.synthetic import generate, true_pd_of
from tests.answers_json import record

FIRMS = 3000


@pytest.fixture(scope="module")
def fresh():
    raw = generate(FIRMS, seed=41)
    clean = validate_frame(raw).frame
    return raw.loc[clean.index], clean


@pytest.fixture(scope="module")
def batch(scorer, fresh):
    return scorer.score(CleanColumns.from_frame(fresh[1]))


def _optimum(batch, f):
    ex = batch.explainer
    return None if ex.peak_low is None or np.isnan(ex.peak_low[f]) else (ex.peak_low[f], ex.peak_high[f])


def test_no_reason_contradicts_the_firms_own_data(batch):
    shown = bad = 0
    for side, idx in (("down", batch.reasons_down), ("up", batch.reasons_up)):
        for r in range(idx.shape[1]):
            col = idx[:, r]
            kinds = batch.reason_kinds(col, side)
            for i in np.flatnonzero(col >= 0):
                f = col[i]
                shown += 1
                bad += contradicts(KINDS[kinds[i]], INDICATORS[f].direction, batch.values[i, f],
                                   batch.stage_medians[i, f], _optimum(batch, f))
    assert shown > FIRMS  # thousands of reasons were checked
    assert bad == 0


def test_missing_values_never_earn_an_up_reason(batch):
    up = batch.reasons_up
    rows, slots = np.nonzero(up >= 0)
    assert not np.isnan(batch.values[rows, up[rows, slots]]).any()
    # away from the stage rules' thresholds (weights one-hot), a missing value never beats the median firm
    missing = np.isnan(batch.values) & (batch.stages.weights.max(axis=1) == 1.0)[:, None]
    assert (batch.relative[missing] <= 1e-9).all()


def test_a_profile_with_only_an_id_is_insufficient_data_not_a_grade(scorer):
    from features.schema import FirmProfile

    cols = profiles_to_columns([FirmProfile(firm_id="91440300MA5DK7QX24")])
    batch = scorer.score(cols)
    rec = record(batch, 0)
    assert rec["reasons_up"] == []
    assert all(r["code"].endswith("M") for r in rec["reasons_down"])
    assert rec["insufficient_data"]["decision"] == "refer: insufficient data"
    assert "revenue_y0" in rec["insufficient_data"]["fields_to_collect"]
    assert rec["recommendation"]["decision"] == "refer"
    assert "refer: insufficient data" in rec["recommendation"]["decision_rule"]


def _improve(cols, lever, spec):
    x = cols[lever.field]
    if lever.sign > 0:
        return np.where((x == 0) & (spec.kind == "integer"), 1.0, x * 1.1)
    return x * 0.9


def _one_level_better(cols, field):
    """An enum field one level towards lower risk (unknown values and the best level stay)."""
    from models.reasons import _ENUM_LEVELS

    ind = next(i for i in INDICATORS if i.inputs == (field,))
    levels = _ENUM_LEVELS[field]
    names = np.array(sorted(levels, key=levels.get), dtype=object)
    code = np.array([levels.get(v, -99) if isinstance(v, str) else -99 for v in cols[field]])
    new = code - ind.direction
    ok = (code >= 0) & (new >= 0) & (new < len(names))
    return np.where(ok, names[np.clip(new, 0, len(names) - 1)], cols[field])


def _sound_ratio(field):
    """The single-peaked ratio indicator with a declared sound range that the field is the numerator of."""
    for f, ind in enumerate(INDICATORS):
        if ind.sound is not None and getattr(ind.fn, "kind", "") == "ratio" and ind.fn.fields[0] == field:
            return f, ind.fn.fields[1]
    return None


@pytest.fixture(scope="module")
def lever_base(scorer, fresh):
    cols = CleanColumns.from_frame(fresh[1])
    return cols, scorer.score(cols, with_recommendation=False).score


def test_improving_an_actionable_field_never_lowers_the_score(scorer, lever_base):
    """Every next-grade lever, on every fresh firm (no exclusions), moved its favourable way: a count or
    amount 10% (0 → 1 for a count), an enum one level. R&D spend, the numerator of the single-peaked R&D
    intensity, moves towards the intensity's sound range by 1%, 10% and 30% (pre-revenue spend counts as
    above it, as RD12 reads it); a firm inside the range has no better direction."""
    cols, base = lever_base
    ex = scorer.explainer
    checked, moved = set(), 0
    for lever in load_policy().next_grade.levers:
        spec = FIELD_SPECS[lever.field]
        sound = _sound_ratio(lever.field)
        if spec.kind == "enum":
            moves = [_one_level_better(cols, lever.field)]
        elif sound is not None:
            f, denominator = sound
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = cols[lever.field] / cols[denominator]  # a zero denominator: +inf, above the range
            sign = np.where(ratio < ex.peak_low[f], 1.0, np.where(ratio > ex.peak_high[f], -1.0, 0.0))
            sign = np.where(np.isnan(ratio), 0.0, sign)
            assert (sign > 0).sum() > 200 and (sign < 0).sum() > 200
            moves = [cols[lever.field] * (1.0 + step * sign) for step in (0.01, 0.1, 0.3)]
        else:
            moves = [_improve(cols, lever, spec)]
        for new in moves:
            after = scorer.score(cols.replace({lever.field: new}), with_recommendation=False).score
            fell = after < base - 1e-9
            assert not fell.any(), (f"{lever.field}: the score fell for {fell.sum()} firms, by up to "
                                    f"{np.nanmax(np.where(fell, base - after, 0)):.3f}")
            moved += int((np.nan_to_num(after) != np.nan_to_num(base)).sum())
        checked.add(lever.field)
    assert checked == {lv.field for lv in load_policy().next_grade.levers}
    assert moved > FIRMS  # the moves changed thousands of scores


def test_r_and_d_spend_inside_its_declared_sound_range_leaves_the_score_unchanged(scorer, lever_base):
    """Every indicator fed by R&D spend is flat on the declared sound range of its intensity (RD01 lowest
    there, the others reward spend only up to its low end and weigh it only beyond its high end)."""
    cols, base = lever_base
    f, denominator = _sound_ratio("rd_expense_y0")
    lo, hi = INDICATORS[f].sound
    ex = scorer.explainer
    assert ex.peak_low[f] <= lo and ex.peak_high[f] >= hi  # the reported sound range covers the declared one
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cols["rd_expense_y0"] / cols[denominator]
    inside = (ratio >= lo) & (ratio * 1.2 <= hi)
    assert inside.sum() > 100
    changed = cols.replace({"rd_expense_y0": np.where(inside, cols["rd_expense_y0"] * 1.2, cols["rd_expense_y0"])})
    after = scorer.score(changed, with_recommendation=False).score
    np.testing.assert_allclose(after[inside], base[inside], rtol=0, atol=1e-9)


def test_curves_keep_their_declared_shape(scorer):
    for f, ind in enumerate(INDICATORS):
        _, levels = scorer.tables.curve(f)
        steps = np.diff(levels)
        if ind.direction:
            assert (steps * ind.direction >= -1e-12).all(), ind.key
        else:  # single-peaked: log-odds fall to the sound range, then rise
            p = int(np.argmin(levels))
            assert (steps[:p] <= 1e-12).all() and (steps[p:] >= -1e-12).all(), ind.key


@pytest.mark.slow
def test_a_one_percent_change_of_one_input_moves_the_score_by_at_most_3_points(scorer, fresh):
    clean = fresh[1].iloc[:800]
    cols = CleanColumns.from_frame(clean)
    base = scorer.score(cols, with_recommendation=False).score
    used = {f for ind in INDICATORS for f in ind.inputs}
    worst = 0.0
    for field in (f for f, s in FIELD_SPECS.items() if s.kind in ("number", "integer") and f in used):
        for factor in (0.99, 1.01):
            changed = cols.replace({field: cols[field] * factor})
            moved = np.abs(scorer.score(changed, with_recommendation=False).score - base)
            worst = max(worst, float(np.nanmax(moved)))
    assert worst <= 3.0


def test_each_stage_is_calibrated_against_the_true_pd(batch, fresh):
    """ECE per stage against the known true PD (noise-free, unlike outcomes on a few thousand firms)."""
    true_pd = true_pd_of(fresh[0])
    for s in STAGES:
        m = batch.stage == s
        assert m.sum() > 200
        assert expected_calibration_error(true_pd[m], batch.pd[m]) <= 0.01, s


def test_a_declared_stage_the_data_contradicts_is_flagged_and_the_stricter_sets_the_cap(scorer):
    from features.schema import FirmProfile

    firm = FirmProfile(firm_id="91440300MA5DK7QX24", lifecycle_stage="mature", founded_on="2021-06-01",
                       as_of="2026-06-30", revenue_y0=170)
    batch = scorer.score(profiles_to_columns([firm]))
    rec = record(batch, 0)
    assert rec["stage_check"]["conflict"] and rec["stage_check"]["limit_stage"] == "startup"
    assert rec["lifecycle_stage"] == "startup"
    assert batch.recommendations.cap[0] <= load_policy().caps.startup


def test_file_reason_cells_say_what_the_api_record_says(batch):
    """Every firm: the CSV/Parquet reason columns carry the same reason codes, in the same order, as the
    API record (a mix-up of the up/down side once gave every up reason its 'worse than median' text)."""
    table = batch.to_table()
    slots = sum(1 for c in table.column_names if c.startswith("reason_up_"))
    for i in range(len(batch)):
        rec = record(batch, i)
        for side in ("down", "up"):
            codes = [r["code"] for r in rec[f"reasons_{side}"]][:slots]
            cells = [table.column(f"reason_{side}_{k + 1}")[i].as_py() for k in range(len(codes))]
            assert [c.split(" ", 1)[0] if c else c for c in cells] == codes, (i, side, cells, codes)
