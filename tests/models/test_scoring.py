import numpy as np
import pytest

from features.clean import CleanColumns
from features.registry import INDICATORS
from features.validate import validate_frame
from models.decision import RECOMMENDATION_COLUMNS
from models.scaling import ScoreScale, grade_of
from models.scoring import DIMENSION_KEYS, N_REASONS, RESULT_COLUMNS
from tests.answers_json import record


@pytest.fixture(scope="module")
def batch(scorer, portfolio):
    clean = validate_frame(portfolio.head(3000)).frame
    return scorer.score(CleanColumns.from_frame(clean))


def test_points_add_up_exactly_to_the_score(batch):
    cents = lambda a: np.rint(np.asarray(a) * 100).astype(np.int64)  # noqa: E731
    total = cents(batch.base_points) + cents(batch.dimension_points).sum(axis=1) + cents(batch.clip_points)
    assert np.array_equal(total, cents(batch.score))
    assert batch.score.min() >= 300 and batch.score.max() <= 900


def test_dimension_points_are_the_sum_of_their_indicators(batch):
    for d, key in enumerate(DIMENSION_KEYS):
        cols = [i for i, ind in enumerate(INDICATORS) if ind.dimension == key]
        assert np.abs(batch.points[:, cols].sum(axis=1) - batch.dimension_points[:, d]).max() <= 0.005 + 1e-9


def test_score_and_grade_follow_the_pd(batch):
    scale = ScoreScale()
    unclipped = batch.score - batch.clip_points
    assert np.abs(scale.score_from_pd(batch.pd) - unclipped).max() < 0.05  # only cent rounding apart
    assert (grade_of(batch.pd) == batch.grade).all()


def test_indicator_points_are_the_shaped_curves_contributions(scorer, batch):
    # the booster's step functions are shaped into curves (training.shape); points are those curves'
    # contributions, a missing value's being the bank's conservative fill of the firm's stage
    w = np.zeros((200, scorer.explainer.fill.shape[0]))
    w[:, :3] = batch.stages.weights[:200]
    contrib = scorer.tables.contributions(batch.values[:200], (w, scorer.explainer.fill))
    np.testing.assert_allclose(batch.points[:200], scorer.points_per_raw * contrib, atol=1e-8)


def test_pd_is_monotone_along_every_constrained_indicator(scorer, batch):
    X = batch.values[:300]
    for f, ind in enumerate(INDICATORS):
        if ind.direction == 0:
            continue
        col = X[:, f][~np.isnan(X[:, f])]
        grid = np.unique(np.quantile(col, np.linspace(0, 1, 25))) if col.size else np.array([0.0])
        pds = []
        for v in grid:
            Xv = X.copy()
            Xv[:, f] = v
            raw = scorer.tables.raw_score(Xv)
            pds.append(raw)
        steps = np.diff(np.array(pds), axis=0) * ind.direction
        assert (steps >= -1e-12).all(), f"{ind.key} is not monotone in its declared direction"


def test_reasons_rank_by_points_against_the_stage_median(batch):
    # a reason's points: the firm's contribution minus the stage-median firm's
    for r in range(N_REASONS - 1):
        a, b = batch.reasons_down[:, r], batch.reasons_down[:, r + 1]
        rows = np.flatnonzero(b >= 0)
        assert (batch.relative[rows, a[rows]] <= batch.relative[rows, b[rows]]).all()
    used = batch.reasons_down[:, 0]
    rows = np.flatnonzero(used >= 0)
    assert (batch.relative[rows, used[rows]] < 0).all()
    used = batch.reasons_up[:, 0]
    rows = np.flatnonzero(used >= 0)
    assert (batch.relative[rows, used[rows]] > 0).all()


def test_ratings_are_percentiles_within_the_stage(batch):
    assert batch.ratings.min() >= 0 and batch.ratings.max() <= 100
    # within one stage, more dimension points never means a lower rating
    for s in np.unique(batch.stage):
        rows = batch.stage == s
        for d in range(len(DIMENSION_KEYS)):
            order = np.argsort(batch.dimension_points[rows, d], kind="stable")
            assert np.all(np.diff(batch.ratings[rows, d][order]) >= 0)


def test_rating_is_the_mid_rank_percentile_also_at_ties(scorer):
    """Hand-computed on a reference with ties: below all → 0, equal to a value held by k of n firms with
    c below → 100·(c + k/2)/n, between values → 100·c/n, above all → 100 (a batch of many rows)."""
    ref = scorer.dim_ref["growth"][:, 0]
    n, v = len(ref), ref[len(ref) // 2]
    below, ties = int((ref < v).sum()), int((ref == v).sum())
    gap = next(i for i in range(1, n) if ref[i] > ref[i - 1])  # ref[gap-1] < ref[gap]: a value strictly between
    x = np.array([ref[0] - 1, v, (ref[gap - 1] + ref[gap]) / 2, ref[-1] + 1] * 20)
    points = np.zeros((len(x), len(DIMENSION_KEYS)))
    points[:, 0] = x
    got = scorer.ratings(points, np.full(len(x), "growth", dtype=object))[:4, 0]
    assert got.tolist() == [0.0, round(100 * (below + ties / 2) / n, 1), round(100 * gap / n, 1), 100.0]


def test_result_frame_columns_and_record(batch):
    frame = batch.to_frame()
    assert tuple(frame.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    rec = record(batch, 0)
    assert rec["score"] == pytest.approx(rec["base_points"] + sum(d["points"] for d in rec["dimensions"]) + rec["clip_points"])
    for reason in rec["reasons_down"]:
        assert reason["points"] < 0 and reason["text_zh"] and reason["text_en"] and reason["code"][-1] in "DM"


def test_knockouts_are_reported_whatever_the_score(scorer, portfolio):
    clean = validate_frame(portfolio.head(50)).frame.copy()
    clean.loc[clean.index[0], "current_overdue"] = 1.0
    clean.loc[clean.index[1], "tax_grade"] = "D"
    frame = scorer.score(CleanColumns.from_frame(clean)).to_frame()
    assert "KO_OVERDUE" in frame["knockouts"].iloc[0]
    assert "KO_TAX_D" in frame["knockouts"].iloc[1]


def test_a_scored_batch_is_freed_as_soon_as_it_is_dropped(scorer, portfolio):
    """No reference cycle (batch ↔ recommendations): a server frees every request's batch at once
    instead of leaving thousands for the garbage collector, whose pauses then stall all requests."""
    import gc
    import weakref

    batch = scorer.score(validate_frame(portfolio.head(8)).clean)
    record(batch, 0)  # fills the per-batch caches too
    refs = [weakref.ref(batch), weakref.ref(batch.recommendations)]
    gc.disable()
    try:
        del batch
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()


def test_a_bundle_trained_on_other_indicator_definitions_is_refused_naming_them(trained):
    """An indicator redefined since training (its formula, inputs, direction or sound range) would get curves
    fitted to other values: scoring refuses the bundle and names the indicators, as it does for an old bundle
    that recorded no definitions."""
    import copy

    from models.bundle import BundleError
    from models.scoring import Scorer

    stale = copy.deepcopy(trained.bundle)
    features = stale.extras["catalogue"]["features"]
    rd02 = next(f for f in features if f["code"] == "RD02")
    rd02["definition"] = "0" * 16
    with pytest.raises(BundleError, match=r"indicators RD02 than"):
        Scorer(stale)
    for f in features:
        f.pop("definition")
    with pytest.raises(BundleError, match=r"indicators IP01, "):
        Scorer(stale)
