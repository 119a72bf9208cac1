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
    return train_model(portfolio, TrainConfig(seed=3))


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory):
    from training.train import write_training_output

    path = tmp_path_factory.mktemp("model")
    write_training_output(trained, path)
    return path


@pytest.fixture(scope="session")
def scorer(trained):
    from models.scoring import Scorer

    return Scorer(trained.bundle)
