"""A bank's own book: blend tables, column screening, grades the data supports, release verdict and its gate."""
import json

import numpy as np
import pandas as pd
import pytest

from features.tabular import TabularConfig, TabularSpec, infer_kind
from models.bundle import load_bundle
from models.explain import AdditiveTables
from models.scaling import grade_of, published_grades
from training.blend import combine
from training.release import band_table, merge_grades, verdict


def test_blend_of_two_additive_models_is_one_exact_table():
    a = AdditiveTables(0.5, [np.array([1.0, 3.0]), np.array([0.0])], [np.array([1.0, 2.0, 4.0]), np.array([-1.0, 1.0])], np.array([0.3, 0.0]))
    b = AdditiveTables(-0.2, [np.array([2.0]), np.array([])], [np.array([10.0, 20.0]), np.array([5.0])], np.array([-1.0, 2.0]))
    t = combine([(a, 0.5), (b, 0.1)], intercept=1.0)
    assert t.breaks[0].tolist() == [1.0, 2.0, 3.0]
    # x0 ≤ 1: 0.5·1 + 0.1·10; (1, 2]: 0.5·2 + 0.1·10; (2, 3]: 0.5·2 + 0.1·20; > 3: 0.5·4 + 0.1·20
    assert t.values[0].tolist() == pytest.approx([1.5, 2.0, 3.0, 4.0])
    assert t.missing.tolist() == pytest.approx([0.05, 0.2]) and t.bias == pytest.approx(1.0 + 0.25 - 0.02)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 5, (500, 2))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:4, 0] = [1.0, 2.0, 3.0, np.nan]  # exactly on the breaks: x ≤ break goes left in both models
    np.testing.assert_allclose(t.raw_score(X), 1.0 + 0.5 * a.raw_score(X) + 0.1 * b.raw_score(X), atol=1e-12)


def test_thin_grades_are_merged_into_bands_with_enough_expected_defaults():
    # 1,000 rows per grade at the grade's PD bound's midpoint: expected defaults per grade are
    # 0.5, 1.75, 3.75, 7.5, 15, … → AAA+AA+A reach 6.0 ≥ 5 together; BBB on has ≥ 5 alone.
    mids = [0.0005, 0.00175, 0.00375, 0.0075, 0.015, 0.03, 0.06, 0.115, 0.3]
    pd_ = np.repeat(mids, 1000)
    grade = grade_of(pd_)
    y = np.zeros(len(pd_), dtype=int)
    gmap = merge_grades(y, pd_, grade)
    assert [gmap[g] for g in ("AAA", "AA", "A")] == ["A"] * 3
    assert [gmap[g] for g in ("BBB", "BB", "B", "CCC", "CC", "C")] == ["BBB", "BB", "B", "CCC", "CC", "C"]
    assert grade_of(np.array([0.0001, 0.03]), published_grades(gmap)).tolist() == ["A", "B"]
    gmap = merge_grades(y[:4000], pd_[:4000] * 0.5, grade[:4000])  # expected 0.25+0.875+1.875+3.75 = 6.75 by BBB
    assert set(gmap.values()) == {"C"}  # the empty grades after BBB join the last band: one band, labelled by its worst grade


def test_band_test_and_release_verdict():
    # 2,000 loans at PD 0.4% (grade A; 8 expected defaults, so AAA+AA+A form one band), 1,000 at 5%, 1,000 at 20%
    pd_ = np.r_[np.full(2000, 0.004), np.full(1000, 0.05), np.full(1000, 0.2)]
    y = np.zeros(len(pd_), dtype=int)
    y[:20] = 1  # 1.0% observed against 0.4%: one-sided P(X ≥ 20 | n = 2000, p = 0.004) < 0.001
    y[2000:2050] = 1  # exactly the PD
    y[3000:3200] = 1
    grade = grade_of(pd_)
    gmap = merge_grades(y, pd_, grade)
    bands = band_table(y, pd_, grade, gmap)
    by = {b["grade"]: b for b in bands}
    assert list(by) == ["A", "CCC", "C"]
    assert by["A"]["grades"] == ["AAA", "AA", "A"] and by["CCC"]["grades"] == ["BBB", "BB", "B", "CCC"] and by["C"]["grades"] == ["CC", "C"]
    a = by["A"]
    assert (a["count"], a["defaults"], a["default_rate"], a["mean_pd"]) == (2000, 20, 0.01, 0.004)
    assert a["rejected"] and a["p_value"] < 0.001 and a["ci_low"] < 0.01 < a["ci_high"]
    assert not by["CCC"]["rejected"] and not by["C"]["rejected"]
    v = verdict(bands, ece=0.01, max_ece=0.03, defaults=int(y.sum()))
    assert v["release"] == "not_ready" and len(v["reasons"]) == 1 and v["reasons"][0].startswith("grade A:")
    assert "merged AAA+AA+A → A; BBB+BB+B+CCC → CCC; CC+C → C" in v["notes"][0]
    y[:20] = 0
    y[:8] = 1  # now exactly the PD
    fine = band_table(y, pd_, grade, gmap)
    assert verdict(fine, ece=0.01, max_ece=0.03, defaults=int(y.sum()))["release"] == "ready"
    hot = verdict(fine, ece=0.05, max_ece=0.03, defaults=int(y.sum()))
    assert hot["release"] == "not_ready" and hot["reasons"] == ["expected calibration error 0.0500 is above the bound 0.0300"]
    two = verdict(fine[:2], ece=0.01, max_ece=0.03, defaults=58)
    assert two["release"] == "not_ready" and two["reasons"][0].startswith("too few defaults (58)")


def _memo(rng, n):
    heads = ["customer called about", "branch noted", "RM visit re", "file note on"]
    topics = [f"document {k}" for k in range(8)]
    tails = ["pending", "closed", "escalated"]
    return [f"{rng.choice(heads)} {rng.choice(topics)}, {rng.choice(tails)}" for _ in range(n)]


def test_free_text_identifiers_and_leakage_are_excluded_with_the_reason():
    rng = np.random.default_rng(5)
    n = 3000
    y = (rng.random(n) < 0.15).astype(int)
    raw = pd.DataFrame({
        "memo": _memo(rng, n),
        "ref": rng.choice(np.arange(10_000_000, 99_999_999), n, replace=False),
        "customer": [f"K{v}" for v in rng.integers(0, 2000, n)],
        "region": rng.choice(["north", "south", "east"], n),
        "income": rng.normal(100, 20, n),
        "dpd_after": np.where(y == 1, rng.integers(30, 180, n), 0).astype(float),
        "y": y,
    })
    assert infer_kind("memo", raw["memo"])[1].startswith("free text")
    assert infer_kind("ref", raw["ref"])[1].startswith("identifier")
    assert infer_kind("customer", raw["customer"])[1].startswith("identifier")
    assert infer_kind("region", raw["region"])[0] == "categorical"
    spec = TabularSpec.fit(raw, y, np.arange(2000), "y")
    assert spec.feature_names == ["region", "income"]
    assert spec.excluded["dpd_after"].startswith("leakage suspect: alone it predicts the target with AUC 1.000")
    kept = TabularSpec.fit(raw, y, np.arange(2000), "y", TabularConfig(keep=["dpd_after"]))
    assert kept.feature_names == ["region", "income", "dpd_after"]


def test_dates_become_ages_only_when_configured():
    raw = pd.DataFrame({"opened": ["2020-01-01", "2018-07-02", "bad", None] + ["2019-05-05"] * 116,
                        "applied": ["2022-01-01", "2022-07-02", "2022-01-01", "2022-01-01"] + ["2021-05-05"] * 116,
                        "amount": np.random.default_rng(0).normal(size=120), "y": np.random.default_rng(1).integers(0, 2, 120)})
    y = raw["y"].to_numpy()
    plain = TabularSpec.fit(raw, y, np.arange(120), "y")
    assert "opened" not in plain.feature_names and plain.excluded["opened"].startswith("date")
    cfg = TabularConfig.model_validate({"columns": {"opened": {"type": "date_age", "age_from": "applied", "direction": -1}}})
    spec = TabularSpec.fit(raw, y, np.arange(120), "y", cfg)
    checked = spec.validate(raw.head(4))
    assert checked.rejects[["row", "field", "rule"]].values.tolist() == [[2, "opened", "date"]]
    ages = spec.transform(checked.frame)[:, spec.feature_names.index("opened")]
    assert ages[:2].tolist() == pytest.approx([731 / 365.25, 1461 / 365.25]) and np.isnan(ages[2])


@pytest.fixture(scope="module")
def small_book():
    from training.synthetic_tabular import generate_loan_book

    raw = generate_loan_book(1200, seed=21)
    rng = np.random.default_rng(21)
    raw["officer_memo"] = _memo(rng, len(raw))
    return raw


@pytest.fixture(scope="module")
def small_model(small_book, tmp_path_factory):
    from training.book import fit_book
    from training.tabular import prepare_any
    from training.train import TrainConfig, write_training_output

    cfg = TrainConfig(target="defaulted", seed=3)
    result = fit_book(prepare_any(small_book, cfg, TabularConfig()), cfg, folds=3)
    out = tmp_path_factory.mktemp("small") / "model"
    write_training_output(result, out)
    return result, out


def test_small_book_is_tuned_chosen_and_graded_out_of_fold(small_book, small_model):
    result, out = small_model
    m = result.metrics
    assert m["excluded_columns"]["officer_memo"].startswith("free text")
    sel = m["selection"]
    assert sel["kind"] in ("lightgbm_additive", "woe_logistic", "blend")
    assert len(sel["tried"]) == 3 and all(t["learning_rate"] <= 0.05 and t["max_bin"] <= 31 for t in sel["tried"])  # small-book settings
    assert sel["inner_auc"][sel["kind"]] == max(sel["inner_auc"].values())
    assert [f["n"] for f in m["cv"]["per_fold"]] == [400, 400, 400]
    assert sum(b["count"] for b in m["grade_bands"]) == len(small_book) and m["holdout"]["n"] == len(small_book)
    assert sum(b["defaults"] for b in m["grade_bands"]) == int(small_book["defaulted"].sum())
    assert m["release"]["release"] in ("ready", "not_ready")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["release"] == m["release"]
    assert json.loads((out / "metrics.json").read_text())["release"] == m["release"]
    # served grades are the published bands
    from models.scoring import Scorer

    bundle, _ = load_bundle(out)
    scorer = Scorer(bundle)
    batch = scorer.score(scorer.validate(small_book.head(200)).clean)
    assert set(batch.grade) <= set(m["grade_map"].values())
    # points stay exact for the served (possibly blended) model
    cents = lambda a: np.rint(np.asarray(a) * 100).astype(np.int64)  # noqa: E731
    total = cents(batch.base_points) + cents(batch.dimension_points).sum(axis=1) + cents(batch.clip_points)
    assert np.array_equal(total, cents(batch.score))


def test_blend_is_monotone_where_both_models_are():
    from training.blend import combine as comb

    up = AdditiveTables(0.0, [np.array([1.0, 2.0])], [np.array([0.0, 0.5, 0.9])], np.array([0.0]))
    up2 = AdditiveTables(0.0, [np.array([1.5])], [np.array([-0.2, 0.4])], np.array([0.1]))
    v = comb([(up, 0.7), (up2, 0.4)]).values[0]
    assert np.all(np.diff(v) >= 0)


def test_auto_direction_takes_only_clear_trends_of_unconfigured_columns():
    rng = np.random.default_rng(8)
    n = 2000
    risk = rng.normal(size=n)
    noise = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.2 * risk)))).astype(int)
    raw = pd.DataFrame({"risk": risk, "safe": -risk + rng.normal(size=n), "noise": noise, "y": y})
    rows = np.arange(n)
    spec = TabularSpec.fit(raw, y, rows, "y", auto_direction=True)
    assert {c.name: c.direction for c in spec.columns} == {"risk": 1, "safe": -1, "noise": 0}
    assert {c.direction for c in TabularSpec.fit(raw, y, rows, "y").columns} == {0}
    cfg = TabularConfig.model_validate({"columns": {"risk": {"direction": 0}}})
    assert TabularSpec.fit(raw, y, rows, "y", cfg, auto_direction=True).columns[0].direction == 0  # configured wins
