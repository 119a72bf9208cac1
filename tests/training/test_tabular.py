"""Generic tabular mode end to end on a loan book whose schema is not ours."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.tabular import TabularConfig
from models.bundle import load_bundle
from models.scoring import Scorer
from service.cli.main import app
from training.synthetic_tabular import generate_loan_book
from training.tabular import is_firm_profile_table, prepare_any
from training.train import TrainConfig, TrainingDataError, cross_validate, fit_prepared
from tests.answers_json import record


def test_firm_profiles_are_told_apart(book, portfolio):
    assert is_firm_profile_table(list(portfolio.columns)) and not is_firm_profile_table(list(book.columns))


def test_generic_model_is_useful_and_self_describing(book_model):
    bundle, manifest = load_bundle(book_model / "model")
    m = bundle.metrics
    assert m["holdout"]["auc"] > 0.7 and m["models"]["woe_logistic"]["auc"] > 0.7
    assert m["excluded_columns"]["loan_id"].startswith("identifier") and m["excluded_columns"]["application_date"].startswith("date")
    assert manifest["indicators"] == [c["name"] for c in bundle.extras["tabular"]["columns"]]
    mono = {r["feature"]: r["monotone"] for r in m["validation"]["monotonicity"]}
    assert mono["age"] and mono["duration_months"] and mono["checking_status"]


def test_score_and_explain_a_foreign_schema(book_model):
    bundle, _ = load_bundle(book_model / "model")
    scorer = Scorer(bundle)
    raw = generate_loan_book(300, seed=11)
    raw["credit_amount"] = raw["credit_amount"].astype(object)
    raw.loc[5, "credit_amount"] = "lots"
    checked = scorer.validate(raw)
    assert checked.rejects[["row", "field", "rule"]].values.tolist() == [[5, "credit_amount", "number"]]
    batch = scorer.score(checked.clean)
    frame = batch.to_frame()
    assert list(frame.columns[6:9]) == ["applicant_points", "loan_points", "clip_points"]
    cents = lambda a: np.rint(np.asarray(a) * 100).astype(np.int64)  # noqa: E731
    total = cents(batch.base_points) + cents(batch.dimension_points).sum(axis=1) + cents(batch.clip_points)
    assert np.array_equal(total, cents(batch.score))
    assert frame["firm_id"].iloc[0] == raw["loan_id"].iloc[0]
    assert (batch.ratings >= 0).all() and (batch.ratings <= 100).all() and batch.ratings.std() > 5
    np.testing.assert_array_equal(batch.stage_medians, np.tile(bundle.stage_medians["all"], (len(batch), 1)))
    rec = record(batch, 0)
    assert [d["key"] for d in rec["dimensions"]] == ["applicant", "loan"]
    names = {r["indicator"] for r in rec["reasons_down"] + rec["reasons_up"]}
    assert names and names <= set(bundle.feature_names)
    cat = next(r for r in rec["reasons_down"] + rec["reasons_up"] + [None] if r is None or r["indicator"] == "checking_status")
    if cat is not None:
        assert cat["category"] == raw["checking_status"].iloc[0]
    age = [r for r in rec["reasons_down"] + rec["reasons_up"] if r["indicator"] == "age"]
    if age:
        assert age[0]["label_zh"] == "年龄"


def test_cli_scores_reports_and_drifts_a_foreign_file(book_model, tmp_path):
    src = tmp_path / "new.csv"
    new = generate_loan_book(1500, seed=12)
    new["credit_amount"] = new["credit_amount"] * 3  # the bank now lends bigger tickets
    new.to_csv(src, index=False)
    runner = CliRunner()
    model = str(book_model / "model")
    out = tmp_path / "scored.csv"
    assert runner.invoke(app, ["score", str(src), "-o", str(out), "--model", model]).exit_code == 0
    assert len(pd.read_csv(out)) == 1500
    r = runner.invoke(app, ["report", "--model", model, "--data", str(src), "-o", str(tmp_path / "rep.html")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["drift", "--model", model, "--data", str(src), "-o", str(tmp_path / "drift.json")])
    assert r.exit_code == 0, r.output
    import json

    drift = json.loads((tmp_path / "drift.json").read_text())
    by = {row["feature"]: row["status"] for row in drift["features"]}
    assert by["credit_amount"] == "act" and by["age"] == "stable"


def test_cross_validation_reports_both_models(book):
    small = book.head(3000)
    cfg = TrainConfig(target="defaulted", seed=1, max_rounds=150, learning_rate=0.2, early_stopping_rounds=30, num_threads=1)
    cv = cross_validate(prepare_any(small, cfg, TabularConfig()), cfg, 3)
    assert len(cv["per_fold"]) == 3 and sum(f["n"] for f in cv["per_fold"]) == len(small)
    assert 0.65 < cv["lightgbm_additive_auc_mean"] < 0.95 and 0.65 < cv["woe_logistic_auc_mean"] < 0.95


def test_unusable_target_is_a_clear_error(book):
    raw = book.assign(defaulted=np.where(book["defaulted"] == 1, "bad", "good"))
    with pytest.raises(TrainingDataError, match="target_positive"):
        fit_prepared(prepare_any(raw, TrainConfig(target="defaulted")), TrainConfig(target="defaulted"))
