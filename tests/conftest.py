"""Shared fixtures: one small synthetic portfolio and one model trained on it per session."""
from __future__ import annotations

import pytest

from training.synthetic import generate
from training.train import TrainConfig, train_model

PORTFOLIO_ROWS = 30_000


@pytest.fixture(scope="session")
def portfolio():
    return generate(PORTFOLIO_ROWS, seed=3)


@pytest.fixture(scope="session")
def trained(portfolio):
    # one LightGBM thread: same model, and 3× faster than every core when the CI machine is busy
    return train_model(portfolio, TrainConfig(seed=3, num_threads=1))


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory):
    from training.train import write_training_output

    path = tmp_path_factory.mktemp("model")
    write_training_output(trained, path)
    _trust(path, tmp_path_factory)
    return path


def _trust(path, tmp_path_factory):
    """Register a test bundle in the session's trusted-bundles file (which every Settings of this run reads)."""
    import os

    from models.trust import trust_bundle

    registry = str(tmp_path_factory.getbasetemp() / "trusted_bundles.json")
    os.environ["TECHSCORE_TRUSTED_BUNDLES_FILE"] = registry
    trust_bundle(registry, path)


@pytest.fixture(scope="session")
def scorer(trained):
    from models.scoring import Scorer

    return Scorer(trained.bundle)


# ---- generic tabular mode: a loan book whose schema is not ours, trained through the CLI ----
CONFIG = """
target_positive: 1
groups:
  applicant: {label_zh: 申请人, label_en: Applicant}
  loan: {label_zh: 贷款, label_en: Loan}
columns:
  age: {direction: -1, group: applicant, label_zh: 年龄, label_en: Age}
  monthly_income: {direction: -1, group: applicant}
  housing: {group: applicant}
  checking_status: {group: applicant}
  credit_history: {group: applicant}
  existing_credits: {group: applicant}
  duration_months: {direction: 1, group: loan}
  credit_amount: {group: loan}
  purpose: {group: loan}
  installment_rate: {group: loan}
"""


@pytest.fixture(scope="session")
def book():
    from training.synthetic_tabular import generate_loan_book

    return generate_loan_book(6000, seed=4)


@pytest.fixture(scope="session")
def book_model(book, tmp_path_factory):
    from typer.testing import CliRunner

    from service.cli.main import app

    d = tmp_path_factory.mktemp("book")
    src, cfg = d / "book.csv", d / "cols.yaml"
    book.to_csv(src, index=False)
    cfg.write_text(CONFIG, encoding="utf-8")
    args = ["train", "--data", str(src), "--target", "defaulted", "--config", str(cfg), "-o", str(d / "model"), "--seed", "2", "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    _trust(d / "model", tmp_path_factory)
    return d
