"""Fit the champion model: indicators → additive LightGBM → Platt calibration → points bundle.

Every tree is constrained to split on a single indicator (LightGBM `interaction_constraints`),
so the model is a sum of one step function per indicator. That keeps attribution exact and
cheap (see models.explain) and makes every indicator's points curve readable as a scorecard.
Platt scaling acts on the raw log-odds, so points stay additive after calibration.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from features.indicators import IndicatorTransformer
from features.registry import INDICATORS, monotone_constraints
from features.stage import STAGES, derive_stage
from features.validate import validate_frame
from models.bundle import ModelBundle, save_bundle
from models.explain import AdditiveTables
from models.scaling import ScoreScale
from models.scoring import Scorer
from training.metrics import classification_metrics, grade_rates_rise, grade_table

REFERENCE_QUANTILES = np.linspace(0.0, 1.0, 1001)


class TrainingDataError(ValueError):
    """The training table cannot be used (no target, too few defaults …)."""


@dataclass
class TrainConfig:
    target: str = "default_12m"
    seed: int = 0
    valid_share: float = 0.15
    holdout_share: float = 0.15
    learning_rate: float = 0.08
    num_leaves: int = 6
    min_data_in_leaf: int = 80
    lambda_l2: float = 5.0
    max_rounds: int = 4000
    early_stopping_rounds: int = 150
    num_threads: int = 0
    scale: ScoreScale = field(default_factory=ScoreScale)


@dataclass
class TrainResult:
    bundle: ModelBundle
    metrics: dict[str, Any]
    grades: pd.DataFrame


def data_fingerprint(raw: pd.DataFrame) -> str:
    """sha256 of the training table's columns and cell values (order-sensitive)."""
    h = hashlib.sha256("\x1f".join(map(str, raw.columns)).encode())
    h.update(pd.util.hash_pandas_object(raw, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _labels(clean: pd.DataFrame, target: str) -> np.ndarray:
    if target not in clean:
        raise TrainingDataError(f"target column {target!r} not found in the training data")
    y = pd.to_numeric(clean[target], errors="coerce")
    bad = ~y.isin([0, 1])
    if bad.any():
        rows = clean.index[bad][:5].tolist()
        raise TrainingDataError(f"target {target!r} must be 0 or 1 on every row; rows {rows} are not")
    y = y.to_numpy(dtype=int)
    if y.sum() < 50:
        raise TrainingDataError(f"only {int(y.sum())} defaults in {target!r}: at least 50 are needed to fit and validate")
    return y


def _split(y: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.arange(len(y))
    rest, hold = train_test_split(idx, test_size=cfg.holdout_share, stratify=y, random_state=cfg.seed)
    valid_frac = cfg.valid_share / (1.0 - cfg.holdout_share)
    tr, va = train_test_split(rest, test_size=valid_frac, stratify=y[rest], random_state=cfg.seed + 1)
    return np.sort(tr), np.sort(va), np.sort(hold)


def lgb_params(cfg: TrainConfig, n_features: int) -> dict[str, Any]:
    """LightGBM parameters: monotone per the registry, one indicator per tree."""
    return {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "lambda_l2": cfg.lambda_l2,
        "monotone_constraints": monotone_constraints(),
        "monotone_constraints_method": "advanced",
        "interaction_constraints": [[i] for i in range(n_features)],
        "num_threads": cfg.num_threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }


def fit_booster(X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, cfg: TrainConfig) -> lgb.Booster:
    """Boost with early stopping on the validation split; keep only the best iteration."""
    names = [i.key for i in INDICATORS]
    dtrain = lgb.Dataset(X[tr], y[tr], feature_name=names, free_raw_data=False)
    dvalid = lgb.Dataset(X[va], y[va], reference=dtrain)
    booster = lgb.train(
        lgb_params(cfg, X.shape[1]),
        dtrain,
        num_boost_round=cfg.max_rounds,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def platt(raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """logit(PD) = a × raw + b, fitted by unpenalised logistic regression."""
    lr = LogisticRegression(C=1e12, solver="lbfgs", max_iter=1000)  # C so large it is unpenalised
    lr.fit(raw.reshape(-1, 1), y)
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def _stage_medians(X: np.ndarray, stage: np.ndarray) -> dict[str, list[float]]:
    out = {"all": np.nanmedian(X, axis=0)}
    for s in STAGES:
        if (stage == s).sum() >= 20:
            out[s] = np.nanmedian(X[stage == s], axis=0)
    return {s: [float(v) for v in m] for s, m in out.items()}


def _dimension_reference(dim_points: np.ndarray, stage: np.ndarray) -> dict[str, list[list[float]]]:
    out = {"all": np.quantile(dim_points, REFERENCE_QUANTILES, axis=0)}
    for s in STAGES:
        if (stage == s).sum() >= 20:
            out[s] = np.quantile(dim_points[stage == s], REFERENCE_QUANTILES, axis=0)
    return {s: q.round(4).tolist() for s, q in out.items()}


def _library_versions() -> dict[str, str]:
    libs = ("lightgbm", "scikit-learn", "pandas", "numpy", "pydantic")
    return {"python": platform.python_version(), **{lib: pkg_version(lib) for lib in libs}}


def train_model(raw: pd.DataFrame, cfg: TrainConfig | None = None) -> TrainResult:
    """Validate, featurise, fit, calibrate and evaluate; return a ready bundle and its metrics."""
    cfg = cfg or TrainConfig()
    started = time.perf_counter()
    checked = validate_frame(raw)
    clean = checked.clean
    y = _labels(clean, cfg.target)
    X = IndicatorTransformer().fit_transform(clean).to_numpy(dtype=float)
    stage = derive_stage(clean)
    tr, va, ho = _split(y, cfg)

    booster = fit_booster(X, y, tr, va, cfg)
    tables = AdditiveTables.from_booster(booster)
    additivity_error = float(np.max(np.abs(tables.raw_score(X[va]) - booster.predict(X[va], raw_score=True))))
    calibration = platt(tables.raw_score(X[va]), y[va])

    fingerprint = data_fingerprint(raw)
    created = datetime.now(timezone.utc)
    bundle = ModelBundle(
        version=f"{created:%Y%m%d.%H%M%S}-{fingerprint[:8]}",
        booster_model=booster.model_to_string(),
        feature_names=[i.key for i in INDICATORS],
        calibration=calibration,
        scale=cfg.scale.to_dict(),
        stage_medians=_stage_medians(X[tr], stage[tr]),
        dimension_reference={"all": [[0.0] * 6]},
        metrics={},
        data_fingerprint=fingerprint,
        created_at=created.isoformat(timespec="seconds"),
        library_versions=_library_versions(),
    )
    scorer = Scorer(bundle)
    empty_ko = np.zeros((len(tr), 0), dtype=bool)
    train_batch = scorer.score_matrix(X[tr], stage[tr], empty_ko, clean.index[tr], np.empty(len(tr), dtype=object))
    bundle.dimension_reference = _dimension_reference(train_batch.dimension_points, stage[tr])

    hold = Scorer(bundle).score_matrix(X[ho], stage[ho], empty_ko, clean.index[ho], np.empty(len(ho), dtype=object))
    grades = grade_table(y[ho], hold.pd, hold.grade)
    metrics: dict[str, Any] = {"holdout": classification_metrics(y[ho], hold.pd)}
    if "true_pd" in clean:
        true_pd = pd.to_numeric(clean["true_pd"], errors="coerce").to_numpy()
        metrics["oracle"] = classification_metrics(y[ho], true_pd[ho])
        metrics["auc_ratio_to_oracle"] = metrics["holdout"]["auc"] / metrics["oracle"]["auc"]
    metrics.update(
        grade_table=grades.astype(object).where(grades.notna(), None).to_dict(orient="records"),  # JSON has no NaN
        grade_default_rates_rise=grade_rates_rise(grades),
        rows={"input": checked.n_input, "rejected": int(checked.n_input - len(clean)), "train": len(tr), "valid": len(va), "holdout": len(ho)},
        trees=booster.num_trees(),
        additivity_max_error=additivity_error,
        calibration=calibration,
        seconds=round(time.perf_counter() - started, 2),
    )
    bundle.metrics = metrics
    return TrainResult(bundle, metrics, grades)


def write_training_output(result: TrainResult, directory: Path) -> dict[str, Any]:
    """Bundle + manifest + metrics.json in one directory."""
    manifest = save_bundle(result.bundle, directory)
    (Path(directory) / "metrics.json").write_text(json.dumps(result.metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest
