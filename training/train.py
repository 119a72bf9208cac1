"""Fit the champion model: indicators → additive LightGBM → Platt calibration → points bundle.

Every tree is constrained to split on a single indicator (LightGBM `interaction_constraints`),
so the model is a sum of one step function per indicator. That keeps attribution exact and
cheap (see models.explain) and makes every indicator's points curve readable as a scorecard.
training.shape then makes each curve monotone in its declared direction (or single-peaked) and
continuous. Missing values get the bank's conservative treatment (a stage's lower-quartile
points or worse) before calibration. Calibration is Platt scaling on the raw log-odds with one
slope and an intercept per lifecycle stage (blended near the stage rules' thresholds), so points
stay additive and every stage is calibrated on its own.

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
import warnings
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

from features.indicators import transform_columns
from features.transformer import IndicatorTransformer
from features.registry import by_key, monotone_constraints
from features.stage import STAGES, assess_stage
from features.validate import validate_frame
from models.bundle import ModelBundle, save_bundle
from models.catalogue import Catalogue
from models.drift import DriftReference
from models.explain import AdditiveTables, CurveTables
from models.scaling import ScoreScale
from models.evidence import STAGE_KEYS, missing_fill
from models.scoring import Scorer
from training import challenger as woe
from training.metrics import classification_metrics, expected_calibration_error, grade_rates_rise, grade_table, ks_statistic
from training.shape import SENSITIVITY_ROWS, input_sensitivity, shape_of, shape_tables
from training.validation import evaluate

REFERENCE_QUANTILES = np.linspace(0.0, 1.0, 1001)
# Quantiles of each indicator's contributions per stage, kept in the bundle so a bank can pick its
# missing-value treatment (a quantile up to the median) when scoring, without retraining.
MISSING_GRID = np.round(np.linspace(0.0, 0.5, 11), 2)
MIN_STAGE_ROWS = 20  # a stage with fewer training rows is described by all rows
STAGE_PRIOR_SD = 0.15  # prior spread of a stage intercept around the pooled one (logit units)


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
    # Each tree sees this share of the indicators: weak but real effects (a state-fund backer, the
    # funding round) get their turn instead of being crowded out by correlated strong ones.
    feature_fraction: float = 0.5
    # Missing data: an indicator without a value gets at most the points of this quantile of its
    # stage's firms (0.25: the lower quartile; 0: the stage's worst), or the learned effect if worse.
    missing_quantile: float = 0.25
    # Insufficient data: below this share of a dimension's indicators with a value, the answer is
    # "refer: insufficient data" with the fields to collect.
    min_coverage: float = 0.25
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
        "feature_fraction": cfg.feature_fraction,
        "num_threads": cfg.num_threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }


def fit_booster(X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, cfg: TrainConfig,
                catalogue: Catalogue | None = None) -> lgb.Booster:
    # single-peaked indicators are fitted unconstrained and shaped afterwards (training.shape)
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


def _stage_rows(stage: np.ndarray) -> dict[str, np.ndarray]:
    """Row mask per stage key with enough rows ("all" always)."""
    out = {"all": np.ones(len(stage), dtype=bool)}
    for s in STAGES:
        rows = stage == s
        if rows.sum() >= MIN_STAGE_ROWS:
            out[s] = rows
    return out


def _lower_median(X: np.ndarray) -> np.ndarray:
    """Per column, the lower median of the known values: a value some firm really has (an enum level, a
    count), so a reason can show it in the field's unit; NaN for a column without values."""
    out = np.full(X.shape[1], np.nan)
    for f in range(X.shape[1]):
        col = X[:, f][~np.isnan(X[:, f])]
        if col.size:
            out[f] = np.partition(col, (col.size - 1) // 2)[(col.size - 1) // 2]
    return out


def _stage_medians(X: np.ndarray, stage: np.ndarray) -> dict[str, list[float]]:
    return {s: [float(v) for v in _lower_median(X[rows])] for s, rows in _stage_rows(stage).items()}


def _contribution_quantiles(tables: CurveTables, X: np.ndarray, stage: np.ndarray) -> dict[str, list[list[float]]]:
    """Per stage key, the contribution at each MISSING_GRID quantile of points, over firms that have a value."""
    contrib = tables.contributions(X)
    contrib[np.isnan(X)] = np.nan
    out = {}
    for s, rows in _stage_rows(stage).items():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an indicator no firm of the stage has: NaN
            # points fall as the contribution (log-odds of default) rises: the points' quantile q
            # is the contributions' quantile 1 − q
            q = np.nanquantile(contrib[rows], 1.0 - MISSING_GRID, axis=0)
        out[s] = np.where(np.isnan(q), tables.missing[None, :], q).tolist()
    return out


def stage_weights(prep_weights: np.ndarray | None, stage: np.ndarray) -> np.ndarray:
    """(n, len(STAGE_KEYS)) weights: the soft firm-profile stage weights, or "all" for generic rows."""
    out = np.zeros((len(stage), len(STAGE_KEYS)))
    if prep_weights is None:
        out[:, STAGE_KEYS.index("all")] = 1.0
    else:
        out[:, : prep_weights.shape[1]] = prep_weights
    return out


def calibrate_by_stage(raw: np.ndarray, y: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """logit(PD) = a × raw + Σ_s w_s b_s: one slope, one intercept per stage key (those with at least
    MIN_STAGE_ROWS weight and 5 defaults; the others take the pooled intercept). Each stage intercept has a
    normal prior around the pooled one (sd STAGE_PRIOR_SD): a stage's ~80 validation defaults alone move its
    intercept by ±0.1 on noise, which showed as a mature ECE of 0.0145 on the default model's holdout."""
    from scipy.optimize import minimize
    from scipy.special import expit

    pooled = platt(raw, y)
    strong = (weights.sum(axis=0) >= MIN_STAGE_ROWS) & ((weights * y[:, None]).sum(axis=0) >= 5)
    Z = np.column_stack([raw, weights[:, strong]])
    beta0 = np.concatenate([[pooled["a"]], np.full(strong.sum(), pooled["b"])])
    offset = weights[:, ~strong].sum(axis=1) * pooled["b"]

    prior = np.concatenate([[0.0], np.full(strong.sum(), 1.0 / (2.0 * STAGE_PRIOR_SD ** 2))])

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = offset + Z @ beta
        shift = beta - beta0  # the intercepts' distance from the pooled one (the slope is not penalised)
        return (float(np.sum(np.logaddexp(0.0, eta) - y * eta) + np.sum(prior * shift ** 2)),
                Z.T @ (expit(eta) - y) + 2.0 * prior * shift)

    beta = minimize(loss, beta0, jac=True, method="L-BFGS-B").x
    b = np.full(len(STAGE_KEYS), pooled["b"])
    b[strong] = beta[1:]
    return {"a": float(beta[0]), "b": float(pooled["b"]), "b_stage": dict(zip(STAGE_KEYS, map(float, b)))}


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
    its catalogue and bundle extras, learning anything it learns from the training rows only.
    `weights`: soft lifecycle-stage weights (firm profiles; None in generic mode)."""

    y: np.ndarray
    stage: np.ndarray
    index: pd.Index
    n_input: int
    fingerprint: str
    featurise: Featurise
    true_pd: np.ndarray | None = None
    weights: np.ndarray | None = None
    # training rows → (indicator values, how far a 1% change of one input moves each indicator) of a
    # sample of them, to bound the curves' slopes (firm profiles; None in generic mode)
    sensitivity: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


def prepare_profiles(raw: pd.DataFrame, cfg: TrainConfig) -> Prepared:
    """Firm-profile tables: schema validation, then the registry's indicators."""
    checked = validate_frame(raw)
    clean = checked.frame
    y = _labels(clean, cfg.target)
    X = IndicatorTransformer().fit_transform(clean).to_numpy(dtype=float)
    true_pd = pd.to_numeric(clean["true_pd"], errors="coerce").to_numpy() if "true_pd" in clean else None
    cols = checked.clean
    stages = assess_stage(cols)

    def sensitivity(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pick = np.sort(np.random.default_rng(cfg.seed).choice(rows, min(len(rows), SENSITIVITY_ROWS), replace=False))
        sample = {k: np.asarray(v)[pick] for k, v in cols.items()}
        base = transform_columns(sample)
        return base, input_sensitivity(sample, base)

    return Prepared(y, stages.stage, clean.index, checked.n_input, data_fingerprint(raw),
                    lambda _rows: (X, Catalogue.from_registry(), {}), true_pd, stages.weights, sensitivity)


def finish_tables(tables: AdditiveTables, X: np.ndarray, tr: np.ndarray, stage: np.ndarray, catalogue: Catalogue,
                  cfg: TrainConfig, sensitivity: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[CurveTables, dict[str, Any]]:
    """Shaped curves (training.shape) and what explanations need: per stage, the median value of each
    indicator and quantiles of its contributions (the missing-value treatment), the shapes and optima."""
    shapes = [shape_of(f.direction, catalogue.kind == "firm_profile") for f in catalogue.features]
    # declared sound ranges (registry indicators) fix where single-peaked curves are lowest
    sounds = [by_key(f.key).sound if catalogue.kind == "firm_profile" else None for f in catalogue.features]
    curves, report = shape_tables(tables, X[tr], shapes, sensitivity=sensitivity, sounds=sounds)
    explain = {"missing_quantile": cfg.missing_quantile, "min_coverage": cfg.min_coverage,
               "missing_grid": MISSING_GRID.tolist(), **report.to_dict(),
               "contribution_quantiles": _contribution_quantiles(curves, X[tr], stage[tr]),
               "learned_missing": curves.missing.tolist()}
    return curves, explain


def stage_metrics(y: np.ndarray, pd_: np.ndarray, stage: np.ndarray, true_pd: np.ndarray | None) -> dict[str, Any]:
    """AUC, ECE, mean PD and default rate per stage (and, when the true PD is known, the oracle's AUC and
    the true PD's own ECE on the same rows: the sampling noise floor of an ECE on that many firms)."""
    out = {}
    for s in STAGES:
        m = stage == s
        if m.sum() < 50 or y[m].min() == y[m].max():
            continue
        row = classification_metrics(y[m], pd_[m])
        if true_pd is not None:
            row["oracle_auc"] = float(roc_auc_score(y[m], true_pd[m]))
            row["auc_ratio_to_oracle"] = row["auc"] / row["oracle_auc"]
            row["mean_true_pd"] = float(np.mean(true_pd[m]))
            row["oracle_ece"] = float(expected_calibration_error(y[m], true_pd[m]))
        out[s] = row
    return out


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
    weights = stage_weights(prep.weights, stage)

    booster = fit_booster(X, y, tr, va, cfg, catalogue)
    step_tables = AdditiveTables.from_booster(booster)
    card = woe.fit_challenger(X, y, tr, catalogue.directions())
    raw_candidates = {"lightgbm_additive": (step_tables, platt(step_tables.raw_score(X[va]), y[va])),
                      woe.NAME: (card.tables(), {"a": 1.0, "b": 0.0})}
    models = {name: classification_metrics(y[ho], pd_of(t, c, X[ho])) for name, (t, c) in raw_candidates.items()}
    # The champion is the better holdout AUC; a tie keeps the boosted model.
    champion = woe.NAME if models[woe.NAME]["auc"] > models["lightgbm_additive"]["auc"] else "lightgbm_additive"
    other = woe.NAME if champion == "lightgbm_additive" else "lightgbm_additive"
    candidates = {other: raw_candidates[other]}
    sensitivity = prep.sensitivity(tr) if prep.sensitivity is not None else None
    tables, explain = finish_tables(raw_candidates[champion][0], X, tr, stage, catalogue, cfg, sensitivity)
    fill = (weights[va], missing_fill(explain, cfg.missing_quantile))
    calibration = calibrate_by_stage(tables.raw_score(X[va], fill), y[va], weights[va])
    candidates[champion] = (tables, calibration)
    explain["stage_calibration"] = calibration["b_stage"]

    fingerprint = prep.fingerprint
    created = datetime.now(timezone.utc)
    extras = {**extras, "catalogue": catalogue.to_dict(), "champion": champion,
              "challenger": {"name": other, "tables": candidates[other][0].to_dict(), "calibration": candidates[other][1],
                             "woe_features": card.summary(catalogue.keys)}}
    extras["scoring_tables"] = candidates[champion][0].to_dict()  # scoring never needs LightGBM itself
    extras["explain"] = explain
    bundle = ModelBundle(
        version=f"{created:%Y%m%d.%H%M%S}-{fingerprint[:8]}",
        booster_model=booster.model_to_string(),
        feature_names=catalogue.keys,
        calibration=calibration,
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
    train_batch = scorer.score_matrix(X[tr], stage[tr], empty_ko, prep.index[tr], np.empty(len(tr), dtype=object),
                                      weights=weights[tr])
    bundle.dimension_reference = _dimension_reference(train_batch.dimension_points, stage[tr])
    reference = DriftReference.fit(X[tr], train_batch.score, catalogue.keys)
    bundle.extras["drift_reference"] = reference.to_dict()

    scorer = Scorer(bundle)
    hold = scorer.score_matrix(X[ho], stage[ho], np.zeros((len(ho), 0), dtype=bool), prep.index[ho],
                               np.empty(len(ho), dtype=object), weights=weights[ho])
    sums = hold.base_points + hold.dimension_points.sum(axis=1) + hold.clip_points
    grades = grade_table(y[ho], hold.pd, hold.grade)
    metrics: dict[str, Any] = {"holdout": classification_metrics(y[ho], hold.pd), "champion": champion, "models": models}
    if prep.true_pd is not None:
        metrics["oracle"] = classification_metrics(y[ho], prep.true_pd[ho])
        metrics["auc_ratio_to_oracle"] = metrics["holdout"]["auc"] / metrics["oracle"]["auc"]
    metrics["by_stage"] = stage_metrics(y[ho], hold.pd, stage[ho], None if prep.true_pd is None else prep.true_pd[ho])
    metrics.update(
        grade_table=grades.astype(object).where(grades.notna(), None).to_dict(orient="records"),  # JSON has no NaN
        grade_default_rates_rise=grade_rates_rise(grades),
        rows={"input": prep.n_input, "rejected": int(prep.n_input - len(y)), "train": len(tr), "valid": len(va), "holdout": len(ho)},
        trees=booster.num_trees(),
        # base + Σ dimension points + clip = score, in cents: exact by construction
        additivity_max_error=float(np.max(np.abs(sums - hold.score))) if len(ho) else 0.0,
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
