"""A bank's own loan book: champion, WoE challenger or their blend, tuned and chosen by cross-validation.

`fit_book(prep, cfg, folds)` is generic mode's training:

1. `select_and_fit(prep, rows)` works on the given rows only. For each of a few regularisation
   settings sized to the book (learning rate, minimum leaf size, number of bins, categorical
   smoothing) it runs an inner K-fold: the category order is refitted on each inner training
   part, the boosted model is early-stopped on the inner test part and the number of rounds is the
   one best on average over the folds (as lightgbm.cv does). The inner out-of-fold log-odds of
   the boosted model and of the WoE scorecard give three candidates — champion, challenger, and
   their blend (weights by logistic regression, cross-fitted over the inner folds) — and the best
   inner out-of-fold AUC over settings × candidates wins. The winner is refitted on all the rows
   and calibrated on its inner out-of-fold log-odds; the result is one additive table in
   logit(PD), so points and reasons stay exact.
2. An outer K-fold repeats step 1 on each training part and predicts its test part: every row of
   the book gets an out-of-fold PD. Grades, calibration, the validation statistics and the
   release verdict (training.release) come from those PDs, not from a thin holdout.
3. Step 1 on the whole book gives the served model.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.model_selection import StratifiedKFold

from features.columns import rank_auc
from models.bundle import ModelBundle
from models.catalogue import Catalogue
from models.drift import DriftReference
from models.explain import AdditiveTables
from models.scaling import ScoreScale, grade_of, published_grades
from models.scoring import Scorer
from training import challenger as woe
from training.blend import combine, cross_fitted_mix, mix_weight
from training.metrics import classification_metrics, grade_table, ks_statistic
from training.release import band_table, merge_grades, verdict
from training.tabular import BookPrepared
from training.train import (TrainConfig, TrainResult, _dimension_reference, _library_versions, _stage_medians,
                            lgb_params, platt)
from training.validation import evaluate

SMALL_BOOK = 2000  # rows up to which a book gets the conservative settings
CHAMPION, BLEND = "lightgbm_additive", "blend"
KINDS = (CHAMPION, woe.NAME, BLEND)
INNER_FOLDS = 3
WOE_MIN_IV = 0.02  # the scorecard leaves out columns with less information value ("unpredictive")
INNER_PATIENCE = 60  # rounds without improvement before an inner fold stops boosting


@dataclass(frozen=True)
class Setting:
    """The regularisation that matters on a small book."""

    learning_rate: float
    min_data_in_leaf: int
    max_bin: int
    smoothing: float
    num_leaves: int = 6
    monotone: bool = True  # numeric columns without a configured direction get the training rows' trend
    woe_bins: int = 10  # the challenger's initial quantile bins


def candidate_settings(n_rows: int, defaults: int) -> list[Setting]:
    """A few settings sized to the rows that will be fitted. A book is small when it has at most
    SMALL_BOOK rows, or so few defaults that it holds as little information as one (10 × defaults
    ≤ SMALL_BOOK): small books get slow learning, large leaves, coarse bins, heavy smoothing of
    category rates and monotone trends, so no candidate can memorise a thousand loans."""
    if min(n_rows, 10 * defaults) <= SMALL_BOOK:
        leaf = max(25, n_rows // 30)
        return [Setting(0.03, leaf, 15, 50.0, 4, True, 10), Setting(0.03, 2 * leaf, 7, 100.0, 3, True, 5),
                Setting(0.05, leaf, 31, 20.0, 4, False, 10)]
    leaf = int(np.clip(n_rows // 200, 40, 300))
    return [Setting(0.05, leaf, 63, 20.0, 6, True, 10), Setting(0.1, leaf, 255, 10.0, 6, False, 10),
            Setting(0.05, 3 * leaf, 31, 50.0, 6, True, 8), Setting(0.1, max(20, leaf // 2), 127, 5.0, 6, False, 10)]


def _params(cfg: TrainConfig, s: Setting, n_features: int, directions: list[int]) -> dict[str, Any]:
    tuned = replace(cfg, learning_rate=s.learning_rate, min_data_in_leaf=s.min_data_in_leaf, num_leaves=s.num_leaves)
    return {**lgb_params(tuned, n_features, directions), "max_bin": s.max_bin, "metric": "binary_logloss"}


def _calibrated(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    c = platt(z, y)
    return c["a"] * z + c["b"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class Features:
    """featurise(rows, setting) once per (rows, smoothing, monotone): the inner folds reuse them across settings."""

    def __init__(self, prep: BookPrepared):
        self.prep = prep
        self._cache: dict[tuple[bytes, float, bool], tuple[np.ndarray, Catalogue, dict[str, Any]]] = {}

    def __call__(self, rows: np.ndarray, s: Setting) -> tuple[np.ndarray, Catalogue, dict[str, Any]]:
        rows = np.sort(rows)
        key = (rows.tobytes(), s.smoothing, s.monotone)
        if key not in self._cache:
            assert self.prep.featurise_with is not None
            self._cache[key] = self.prep.featurise_with(rows, s.smoothing, s.monotone)
        return self._cache[key]


@dataclass
class Choice:
    """What inner cross-validation chose, with the inner out-of-fold evidence."""

    setting: Setting
    rounds: int
    kind: str
    auc: dict[str, float]  # inner OOF AUC per candidate kind, for the chosen setting
    champ_oof: np.ndarray  # inner OOF log-odds (raw) of the boosted model, on the fitted rows
    woe_oof: np.ndarray
    y: np.ndarray
    tried: list[dict[str, Any]]
    alpha: float | None = None  # the champion's share in the blend (set when refitted)


@dataclass
class FittedBook:
    """The chosen model refitted on the rows, as logit(PD) tables, plus every candidate's tables."""

    choice: Choice
    X: np.ndarray
    catalogue: Catalogue
    extras: dict[str, Any]
    booster: lgb.Booster
    card: woe.WoeScorecard
    tables: dict[str, AdditiveTables]  # per kind, each in logit(PD)

    @property
    def chosen(self) -> AdditiveTables:
        return self.tables[self.choice.kind]


def _inner_cv(feats: Features, y: np.ndarray, rows: np.ndarray, s: Setting, cfg: TrainConfig,
              folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[int, np.ndarray, np.ndarray]:
    """(rounds best on average, inner OOF raw log-odds of the boosted model and of the WoE card) for one setting."""
    curves, fitted = [], []
    for itr, ite in folds:
        X, cat, _ = feats(rows[itr], s)
        ev: dict[str, Any] = {}
        dtrain = lgb.Dataset(X[rows[itr]], y[rows[itr]], free_raw_data=False)
        dvalid = lgb.Dataset(X[rows[ite]], y[rows[ite]], reference=dtrain)
        booster = lgb.train(_params(cfg, s, X.shape[1], cat.directions()), dtrain, num_boost_round=cfg.max_rounds,
                            valid_sets=[dvalid], callbacks=[lgb.early_stopping(INNER_PATIENCE, verbose=False),
                                                            lgb.record_evaluation(ev)])
        curves.append(np.asarray(ev["valid_0"]["binary_logloss"]))
        fitted.append((booster, X, cat))
    longest = max(c.size for c in curves)
    padded = np.vstack([np.pad(c, (0, longest - c.size), mode="edge") for c in curves])  # a stopped fold stays at its last loss
    rounds = int(np.argmin(padded.mean(axis=0))) + 1
    champ, card_oof = np.empty(len(rows)), np.empty(len(rows))
    for (itr, ite), (booster, X, cat) in zip(folds, fitted):
        champ[ite] = booster.predict(X[rows[ite]], raw_score=True, num_iteration=rounds)
        card_oof[ite] = woe.fit_challenger(X, y, rows[itr], cat.directions(), s.woe_bins, WOE_MIN_IV).tables().raw_score(X[rows[ite]])
    return rounds, champ, card_oof


def choose(feats: Features, y: np.ndarray, rows: np.ndarray, cfg: TrainConfig) -> Choice:
    """Inner K-fold on `rows` only: the best setting × candidate by out-of-fold AUC."""
    k = INNER_FOLDS
    inner = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.seed + 7).split(np.zeros(len(rows)), y[rows]))
    fold_of = np.empty(len(rows), dtype=int)
    for f, (_, ite) in enumerate(inner):
        fold_of[ite] = f
    yr = y[rows]
    best: Choice | None = None
    tried = []
    for s in candidate_settings(int(len(rows) * (k - 1) / k), int(yr.sum() * (k - 1) / k)):
        rounds, champ, card = _inner_cv(feats, y, rows, s, cfg, inner)
        blended = cross_fitted_mix(_calibrated(champ, yr), _calibrated(card, yr), yr, fold_of)
        auc = {CHAMPION: float(rank_auc(yr, champ)), woe.NAME: float(rank_auc(yr, card)),
               BLEND: float(rank_auc(yr, blended))}
        kind = max(auc, key=auc.__getitem__)
        tried.append({**asdict(s), "rounds": rounds, **{f"auc_{n}": round(v, 6) for n, v in auc.items()}})
        if best is None or auc[kind] > best.auc[best.kind]:
            best = Choice(s, rounds, kind, auc, champ_oof=champ, woe_oof=card, y=yr, tried=tried)
    assert best is not None
    return best


def select_and_fit(prep: BookPrepared, rows: np.ndarray, cfg: TrainConfig, feats: Features | None = None) -> FittedBook:
    """Choose by inner cross-validation on `rows`, then refit the choice on all of `rows`."""
    feats = feats or Features(prep)
    y = prep.y
    rows = np.sort(rows)
    c = choose(feats, y, rows, cfg)
    X, cat, extras = feats(rows, c.setting)
    booster = lgb.train(_params(cfg, c.setting, X.shape[1], cat.directions()),
                        lgb.Dataset(X[rows], y[rows], feature_name=cat.keys, free_raw_data=False), num_boost_round=c.rounds)
    card = woe.fit_challenger(X, y, rows, cat.directions(), c.setting.woe_bins, WOE_MIN_IV)
    boosted, scorecard = AdditiveTables.from_booster(booster), card.tables()
    # Every candidate is calibrated on its inner out-of-fold log-odds (Platt), the blend after mixing.
    pc, pw = platt(c.champ_oof, c.y), platt(c.woe_oof, c.y)
    zc, zw = pc["a"] * c.champ_oof + pc["b"], pw["a"] * c.woe_oof + pw["b"]
    alpha = mix_weight(zc, zw, c.y)
    pm = platt(alpha * zc + (1 - alpha) * zw, c.y)
    tables = {CHAMPION: combine([(boosted, pc["a"])], pc["b"]), woe.NAME: combine([(scorecard, pw["a"])], pw["b"])}
    if pc["a"] > 0 and pw["a"] > 0 and pm["a"] > 0:  # positive weights: every monotone feature stays monotone
        wc, ww = pm["a"] * alpha * pc["a"], pm["a"] * (1 - alpha) * pw["a"]
        tables[BLEND] = combine([(boosted, wc), (scorecard, ww)], pm["a"] * (alpha * pc["b"] + (1 - alpha) * pw["b"]) + pm["b"])
    elif c.kind == BLEND:
        c.kind = CHAMPION
    c.alpha = alpha
    return FittedBook(c, X, cat, extras, booster, card, tables)


def _fold_metrics(y: np.ndarray, fb: FittedBook, ho: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(len(ho)), "chosen": fb.choice.kind, "setting": asdict(fb.choice.setting),
                           "rounds": fb.choice.rounds}
    for kind, t in fb.tables.items():
        p = _sigmoid(t.raw_score(fb.X[ho]))
        out[kind] = {"auc": float(rank_auc(y[ho], p)), "ks": ks_statistic(y[ho], p)}
    out["selected"] = dict(out[fb.choice.kind])  # the chosen kind's tables are among fb.tables
    return out


def out_of_fold(prep: BookPrepared, cfg: TrainConfig, folds: int,
                splits: list[tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Every row's PD from a model selected and fitted without it (and from the boosted model and
    the scorecard of that fold); per-fold metrics of every candidate."""
    y = prep.y
    oof = np.empty(len(y))
    by_kind = {CHAMPION: np.empty(len(y)), woe.NAME: np.empty(len(y))}
    per_fold = []
    if splits is None:
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg.seed).split(np.zeros(len(y)), y))
    for k, (rest, ho) in enumerate(splits):
        fb = select_and_fit(prep, rest, cfg)
        oof[ho] = _sigmoid(fb.chosen.raw_score(fb.X[ho]))
        for kind, out in by_kind.items():
            out[ho] = _sigmoid(fb.tables[kind].raw_score(fb.X[ho]))
        per_fold.append({"fold": k + 1, **_fold_metrics(y, fb, ho)})
    summary: dict[str, Any] = {"folds": folds, "per_fold": per_fold}
    for name in (*KINDS, "selected"):
        for m in ("auc", "ks"):
            vals = np.array([f[name][m] for f in per_fold if name in f])
            if vals.size:
                summary[f"{name}_{m}_mean"] = float(vals.mean())
                summary[f"{name}_{m}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return oof, by_kind, summary


def fit_book(prep: BookPrepared, cfg: TrainConfig, folds: int = 5) -> TrainResult:
    """Out-of-fold evaluation over the whole book, then the served model fitted on all of it."""
    started = time.perf_counter()
    y, stage = prep.y, prep.stage
    oof, oof_by_kind, cv = out_of_fold(prep, cfg, folds)
    cv["seconds"] = round(time.perf_counter() - started, 2)
    fb = select_and_fit(prep, np.arange(len(y)), cfg)
    champion = fb.choice.kind
    other = woe.NAME if champion != woe.NAME else CHAMPION
    X, catalogue = fb.X, fb.catalogue
    created = datetime.now(timezone.utc)
    scale = ScoreScale(**cfg.scale.to_dict())

    grade_oof = grade_of(oof)
    grade_map = merge_grades(y, oof, grade_oof)
    bands = band_table(y, oof, grade_oof, grade_map)
    oof_metrics = classification_metrics(y, oof)
    release = verdict(bands, oof_metrics["ece"], prep.config.max_ece, int(y.sum()))

    extras = {**fb.extras, "catalogue": catalogue.to_dict(), "champion": champion,
              "challenger": {"name": other, "tables": fb.tables[other].to_dict(), "calibration": {"a": 1.0, "b": 0.0},
                             "woe_features": fb.card.summary(catalogue.keys)},
              "scoring_tables": fb.chosen.to_dict(), "grade_map": grade_map}
    bundle = ModelBundle(
        version=f"{created:%Y%m%d.%H%M%S}-{prep.fingerprint[:8]}", booster_model=fb.booster.model_to_string(),
        feature_names=catalogue.keys, calibration={"a": 1.0, "b": 0.0}, scale=cfg.scale.to_dict(),
        stage_medians=_stage_medians(X, stage), dimension_reference={"all": [[0.0] * len(catalogue.groups)]}, metrics={},
        data_fingerprint=prep.fingerprint, created_at=created.isoformat(timespec="seconds"),
        library_versions=_library_versions(), extras=extras)
    scorer = Scorer(bundle)
    fitted = scorer.score_matrix(X, stage, np.zeros((len(y), 0), dtype=bool), prep.index, np.empty(len(y), dtype=object))
    bundle.dimension_reference = _dimension_reference(fitted.dimension_points, stage)
    reference = DriftReference.fit(X, fitted.score, catalogue.keys)
    bundle.extras["drift_reference"] = reference.to_dict()

    # The validation statistics are the out-of-fold ones; points (importance) and PSI describe the served model.
    score_oof = np.clip(np.round(scale.score_from_pd(oof), 2), scale.min_score, scale.max_score)
    published = grade_of(oof, published_grades(grade_map))
    grades = grade_table(y, oof, published)
    # out of fold over the whole book: each fold's boosted model, its scorecard, and its selected model
    models = {**{k: classification_metrics(y, p) for k, p in oof_by_kind.items()}, "selected": oof_metrics}
    challenger_oof = oof_by_kind[other]
    metrics: dict[str, Any] = {
        "evaluation": f"out-of-fold over the whole book ({folds} folds, model chosen and fitted inside each fold)",
        "holdout": oof_metrics, "champion": champion, "models": models, "cv": cv,
        "selection": {"kind": champion, "setting": asdict(fb.choice.setting), "rounds": fb.choice.rounds,
                      "blend_champion_share": fb.choice.alpha,
                      "inner_auc": {k: round(v, 6) for k, v in fb.choice.auc.items()}, "tried": fb.choice.tried},
        "grade_table": grades.astype(object).where(grades.notna(), None).to_dict(orient="records"),
        "grade_bands": bands, "grade_map": grade_map, "release": release,
        "rows": {"input": prep.n_input, "rejected": int(prep.n_input - len(y)), "train": len(y), "valid": 0, "holdout": len(y)},
        "trees": fb.booster.num_trees(),
        "additivity_max_error": float(np.max(np.abs(AdditiveTables.from_booster(fb.booster).raw_score(X[:1000])
                                                    - fb.booster.predict(X[:1000], raw_score=True)))),
        "calibration": {"method": "Platt scaling of inner out-of-fold log-odds" + (" after the blend's mix" if champion == BLEND else ""),
                        "served_tables_are": "logit(PD)"},
        "validation": evaluate(y=y, pd_=oof, score=score_oof, grade=published, points=fitted.points, X=X, stage=stage,
                               catalogue=catalogue, reference=reference, champion_tables=scorer.tables,
                               challenger_pd=challenger_oof, seed=cfg.seed, names=(champion, other)),
        "excluded_columns": fb.extras["tabular"]["excluded"],
    }
    metrics["validation"]["grades"] = bands
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    bundle.metrics = metrics
    return TrainResult(bundle, metrics, grades)

