"""Fit the champion model: indicators → additive LightGBM → Platt calibration → points bundle.

Every tree is constrained to split on a single indicator (LightGBM `interaction_constraints`),
so the model is a sum of one step function per indicator. That keeps attribution exact and
cheap (see models.explain) and makes every indicator's points curve readable as a scorecard.
Platt scaling acts on the raw log-odds, so points stay additive after calibration.

Every fit also trains the WoE scorecard challenger (training.challenger) on the same split and
stores the holdout validation statistics (training.validation) and the drift reference bins
(models.drift) in the bundle. `fit_prepared` serves both the firm-profile pipeline and the
generic tabular mode (training.tabular); `cross_validate` gives K-fold AUC/KS of both models.
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
from typing import Any, Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.transformer import IndicatorTransformer
from features.registry import monotone_constraints
from features.stage import STAGES, derive_stage
from features.validate import validate_frame
from models.bundle import ModelBundle, save_bundle
from models.catalogue import Catalogue
from models.drift import DriftReference
from models.explain import AdditiveTables
from models.scaling import ScoreScale
from models.scoring import Scorer
from training import challenger as woe
from training.metrics import classification_metrics, grade_rates_rise, grade_table, ks_statistic
from training.validation import evaluate

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
    # One thread by default: with ~70 features and one-feature trees, OpenMP synchronisation costs
    # more than a second core gives, and collapses under CPU contention (bench: 14.7 s on 1 thread
    # vs 144 s on 2 for 100k firms on a busy 2-core machine).
    num_threads: int = 1
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


def lgb_params(cfg: TrainConfig, n_features: int, constraints: list[int] | None = None) -> dict[str, Any]:
    """LightGBM parameters: monotone per the registry (or the given directions), one indicator per tree."""
    return {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "lambda_l2": cfg.lambda_l2,
        "monotone_constraints": monotone_constraints() if constraints is None else constraints,
        "monotone_constraints_method": "advanced",
        "interaction_constraints": [[i] for i in range(n_features)],
        "num_threads": cfg.num_threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }


def fit_booster(X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, cfg: TrainConfig,
                catalogue: Catalogue | None = None) -> lgb.Booster:
    """Boost with early stopping on the validation split; keep only the best iteration."""
    catalogue = catalogue or Catalogue.from_registry()
    dtrain = lgb.Dataset(X[tr], y[tr], feature_name=catalogue.keys, free_raw_data=False)
    dvalid = lgb.Dataset(X[va], y[va], reference=dtrain)
    booster = lgb.train(
        lgb_params(cfg, X.shape[1], catalogue.directions()),
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


Featurise = Callable[[np.ndarray], tuple[np.ndarray, Catalogue, dict[str, Any]]]


@dataclass
class Prepared:
    """Labelled rows ready to fit; `featurise(train_rows)` gives the feature matrix of every row,
    its catalogue and bundle extras, learning anything it learns from the training rows only."""

    y: np.ndarray
    stage: np.ndarray
    index: pd.Index
    n_input: int
    fingerprint: str
    featurise: Featurise
    true_pd: np.ndarray | None = None


def prepare_profiles(raw: pd.DataFrame, cfg: TrainConfig) -> Prepared:
    """Firm-profile tables: schema validation, then the registry's indicators."""
    checked = validate_frame(raw)
    clean = checked.clean
    y = _labels(clean, cfg.target)
    X = IndicatorTransformer().fit_transform(clean).to_numpy(dtype=float)
    true_pd = pd.to_numeric(clean["true_pd"], errors="coerce").to_numpy() if "true_pd" in clean else None
    return Prepared(y, derive_stage(clean), clean.index, checked.n_input, data_fingerprint(raw),
                    lambda _rows: (X, Catalogue.from_registry(), {}), true_pd)


def pd_of(tables: AdditiveTables, calibration: dict[str, float], X: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(calibration["a"] * tables.raw_score(X) + calibration["b"])))


def train_model(raw: pd.DataFrame, cfg: TrainConfig | None = None) -> TrainResult:
    """Validate, featurise, fit, calibrate and evaluate; return a ready bundle and its metrics."""
    cfg = cfg or TrainConfig()
    return fit_prepared(prepare_profiles(raw, cfg), cfg)


def fit_prepared(prep: Prepared, cfg: TrainConfig) -> TrainResult:
    """Fit champion and challenger on one split, pick the champion, evaluate on the holdout."""
    started = time.perf_counter()
    y, stage = prep.y, prep.stage
    tr, va, ho = _split(y, cfg)
    X, catalogue, extras = prep.featurise(tr)

    booster = fit_booster(X, y, tr, va, cfg, catalogue)
    tables = AdditiveTables.from_booster(booster)
    additivity_error = float(np.max(np.abs(tables.raw_score(X[va]) - booster.predict(X[va], raw_score=True))))
    calibration = platt(tables.raw_score(X[va]), y[va])
    card = woe.fit_challenger(X, y, tr, catalogue.directions())
    candidates = {"lightgbm_additive": (tables, calibration), woe.NAME: (card.tables(), {"a": 1.0, "b": 0.0})}
    models = {name: classification_metrics(y[ho], pd_of(t, c, X[ho])) for name, (t, c) in candidates.items()}
    # The champion is the better holdout AUC; a tie keeps the boosted model.
    champion = woe.NAME if models[woe.NAME]["auc"] > models["lightgbm_additive"]["auc"] else "lightgbm_additive"
    other = woe.NAME if champion == "lightgbm_additive" else "lightgbm_additive"

    fingerprint = prep.fingerprint
    created = datetime.now(timezone.utc)
    extras = {**extras, "catalogue": catalogue.to_dict(), "champion": champion,
              "challenger": {"name": other, "tables": candidates[other][0].to_dict(), "calibration": candidates[other][1],
                             "woe_features": card.summary(catalogue.keys)}}
    extras["scoring_tables"] = candidates[champion][0].to_dict()  # scoring never needs LightGBM itself
    bundle = ModelBundle(
        version=f"{created:%Y%m%d.%H%M%S}-{fingerprint[:8]}",
        booster_model=booster.model_to_string(),
        feature_names=catalogue.keys,
        calibration=calibration if champion != woe.NAME else {"a": 1.0, "b": 0.0},
        scale=cfg.scale.to_dict(),
        stage_medians=_stage_medians(X[tr], stage[tr]),
        dimension_reference={"all": [[0.0] * len(catalogue.groups)]},
        metrics={},
        data_fingerprint=fingerprint,
        created_at=created.isoformat(timespec="seconds"),
        library_versions=_library_versions(),
        extras=extras,
    )
    scorer = Scorer(bundle)
    empty_ko = np.zeros((len(tr), 0), dtype=bool)
    train_batch = scorer.score_matrix(X[tr], stage[tr], empty_ko, prep.index[tr], np.empty(len(tr), dtype=object))
    bundle.dimension_reference = _dimension_reference(train_batch.dimension_points, stage[tr])
    reference = DriftReference.fit(X[tr], train_batch.score, catalogue.keys)
    bundle.extras["drift_reference"] = reference.to_dict()

    scorer = Scorer(bundle)
    hold = scorer.score_matrix(X[ho], stage[ho], np.zeros((len(ho), 0), dtype=bool), prep.index[ho], np.empty(len(ho), dtype=object))
    grades = grade_table(y[ho], hold.pd, hold.grade)
    metrics: dict[str, Any] = {"holdout": classification_metrics(y[ho], hold.pd), "champion": champion, "models": models}
    if prep.true_pd is not None:
        metrics["oracle"] = classification_metrics(y[ho], prep.true_pd[ho])
        metrics["auc_ratio_to_oracle"] = metrics["holdout"]["auc"] / metrics["oracle"]["auc"]
    metrics.update(
        grade_table=grades.astype(object).where(grades.notna(), None).to_dict(orient="records"),  # JSON has no NaN
        grade_default_rates_rise=grade_rates_rise(grades),
        rows={"input": prep.n_input, "rejected": int(prep.n_input - len(y)), "train": len(tr), "valid": len(va), "holdout": len(ho)},
        trees=booster.num_trees(),
        additivity_max_error=additivity_error,
        calibration=bundle.calibration,
        validation=evaluate(y=y[ho], pd_=hold.pd, score=hold.score, grade=hold.grade, points=hold.points, X=X[ho],
                            stage=stage[ho], catalogue=catalogue, reference=reference, champion_tables=scorer.tables,
                            challenger_pd=pd_of(*candidates[other], X[ho]), seed=cfg.seed, names=(champion, other)),
    )
    if "tabular" in extras:
        metrics["excluded_columns"] = extras["tabular"]["excluded"]
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    bundle.metrics = metrics
    return TrainResult(bundle, metrics, grades)


def cross_validate(prep: Prepared, cfg: TrainConfig, folds: int) -> dict[str, Any]:
    """K-fold AUC and KS of champion (boosted) and challenger (WoE); each fold's test part is
    its holdout, the rest is split into training and early-stopping/calibration rows as usual."""
    started = time.perf_counter()
    y = prep.y
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg.seed)
    valid_frac = cfg.valid_share / (1.0 - cfg.holdout_share)
    per_fold = []
    for k, (rest, ho) in enumerate(kfold.split(np.zeros(len(y)), y)):
        tr, va = train_test_split(rest, test_size=valid_frac, stratify=y[rest], random_state=cfg.seed + k)
        tr, va = np.sort(tr), np.sort(va)
        X, catalogue, _ = prep.featurise(tr)
        tables = AdditiveTables.from_booster(fit_booster(X, y, tr, va, cfg, catalogue))
        champ = pd_of(tables, platt(tables.raw_score(X[va]), y[va]), X[ho])
        chall = woe.fit_challenger(X, y, tr, catalogue.directions()).predict_pd(X[ho])
        per_fold.append({"fold": k + 1, "n": int(len(ho)),
                         "lightgbm_additive": {"auc": float(roc_auc_score(y[ho], champ)), "ks": ks_statistic(y[ho], champ)},
                         woe.NAME: {"auc": float(roc_auc_score(y[ho], chall)), "ks": ks_statistic(y[ho], chall)}})
    summary = {}
    for name in ("lightgbm_additive", woe.NAME):
        for m in ("auc", "ks"):
            vals = np.array([f[name][m] for f in per_fold])
            summary[f"{name}_{m}_mean"] = float(vals.mean())
            summary[f"{name}_{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    return {"folds": folds, "per_fold": per_fold, **summary, "seconds": round(time.perf_counter() - started, 2)}


def write_training_output(result: TrainResult, directory: Path) -> dict[str, Any]:
    """Bundle + manifest + metrics.json in one directory."""
    manifest = save_bundle(result.bundle, directory)
    (Path(directory) / "metrics.json").write_text(json.dumps(result.metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest
