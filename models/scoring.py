"""Scoring core: indicators → PD, score, grade, exact points, ratings, knock-outs and reasons.

Reasons compare the firm with the median firm of its stage (models.reasons); a missing value gets
the bank's conservative treatment and a "not provided" reason only; too little data in a
dimension makes the answer "insufficient data" (models.evidence)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from features.clean import CleanColumns
from features.indicators import transform_columns
from features.registry import DIMENSIONS, by_key
from features.stage import StageAssessment, assess_stage
from features.tabular import TabularSpec
from features.validate import ValidationResult, validate_frame
from models.bundle import BundleError, ModelBundle
from models.catalogue import KIND_TABULAR, Catalogue, catalogue_of
from models.decision import Recommendations, recommend
from models.evidence import DEFAULT_MIN_COVERAGE, STAGE_KEYS, Evidence, coverage, missing_fill
from models.explain import SMALL_BATCH, AdditiveTables
from models.reasons import KINDS
from models.knockouts import knockout_matrix
from models.policy import KnockOutRule, Policy, load_policy
from models.rules import positions
from models.scaling import ScoreScale, grade_of, published_grades

DIMENSION_KEYS: tuple[str, ...] = tuple(DIMENSIONS)
N_REASONS = 4


def result_columns(group_keys: tuple[str, ...]) -> tuple[str, ...]:
    """Columns of `ScoreBatch.to_frame()` for a model with these groups (dimensions)."""
    return (
        ("firm_id", "lifecycle_stage", "pd", "score", "grade", "base_points")
        + tuple(f"{d}_points" for d in group_keys)
        + ("clip_points",)
        + tuple(f"{d}_rating" for d in group_keys)
        + ("knockouts",)
        + tuple(f"reason_down_{i}" for i in range(1, N_REASONS + 1))
        + tuple(f"reason_up_{i}" for i in range(1, N_REASONS + 1))
        + ("model_version", "insufficient_data", "fields_to_collect", "stage_declared", "stage_conflict")
    )


RESULT_COLUMNS: tuple[str, ...] = result_columns(DIMENSION_KEYS)
REGISTRY_CATALOGUE = Catalogue.from_registry()


@dataclass
class ScoreBatch:
    """Scores of n firms; arrays are row-aligned with `index`."""

    index: pd.Index
    firm_id: np.ndarray
    stage: np.ndarray
    pd: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    base_points: np.ndarray  # (n,): the calibration's intercept depends on the firm's stage
    dimension_points: np.ndarray  # (n, 6), rounded to 0.01
    clip_points: np.ndarray
    ratings: np.ndarray  # (n, 6), 0–100
    values: np.ndarray  # (n, F) indicator values
    points: np.ndarray  # (n, F) indicator points (unrounded)
    knockouts: np.ndarray  # (n, K) bool
    reasons_down: np.ndarray  # (n, 4) indicator index or −1
    reasons_up: np.ndarray
    stage_medians: np.ndarray  # (n, F) reference median of each firm's stage
    model_version: str
    relative: np.ndarray | None = None  # (n, F) points against the stage-median firm (what reasons rank by)
    insufficient: np.ndarray | None = None  # (n,) bool: a dimension's data coverage is below the minimum
    coverage: np.ndarray | None = None  # (n, G) share of each dimension's indicators with a value
    stages: StageAssessment | None = None  # declared vs data stage, conflict, stricter stage for limits
    inputs: Mapping[str, np.ndarray] | None = field(default=None, repr=False)  # raw columns (not-provided vs not computable)
    explainer: "Explainer | None" = field(default=None, repr=False)
    knockout_rules: tuple[KnockOutRule, ...] = ()  # the policy's rules, columns of `knockouts`
    recommendations: Recommendations | None = None  # decision, limit, products (models.decision), set by Scorer
    catalogue: Catalogue = field(default=REGISTRY_CATALOGUE, repr=False)

    def __len__(self) -> int:
        return len(self.pd)

    def knockout_codes(self) -> np.ndarray:
        out = np.full(len(self), "", dtype=object)
        for k, ko in enumerate(self.knockout_rules):
            hit = self.knockouts[:, k]
            out[hit] = np.where(out[hit] == "", ko.code, out[hit] + ";" + ko.code)
        return out

    def _reason_cells(self, idx: np.ndarray, side: str) -> pa.Array:
        """Reason texts picked from the catalogue's cells by index (no per-row strings), the block of the
        reason's kind (models.reasons.KINDS) chosen per row."""
        block = len(self.catalogue.texts["D"])
        kind = self.reason_kinds(idx, side)
        pos = np.where(idx >= 0, idx + block * kind, -1)
        return self.catalogue.reason_cells.take(pa.array(pos % len(self.catalogue.reason_cells)))

    def reason_kinds(self, idx: np.ndarray, side: str) -> np.ndarray:
        """Position in KINDS of the reason at indicator idx (−1: none) of each row (idx (n,) or (n, slots)), vectorised."""
        rows = np.arange(len(self)).reshape((-1,) + (1,) * (idx.ndim - 1)) + np.zeros_like(idx)
        at = np.maximum(idx, 0)
        value = self.values[rows, at]
        missing = np.isnan(value) & (idx >= 0)
        if side == "up":
            kind = np.full(idx.shape, KINDS.index("U"))
        else:
            kind = np.full(idx.shape, KINDS.index("D"))
            if self.explainer is not None and self.explainer.peak_low is not None:
                low, high = self.explainer.peak_low[at], self.explainer.peak_high[at]
                peak = ~np.isnan(low)
                kind = np.where(peak & (value < low), KINDS.index("L"), np.where(peak & (value > high), KINDS.index("H"), kind))
        if missing.any():
            kind[missing] = np.where(self._inputs_missing(rows[missing], idx[missing]), KINDS.index("M"), KINDS.index("N"))
        return kind

    def _inputs_missing(self, rows: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """Whether some input field of indicator feats[k] is missing in row rows[k] (True without raw columns)."""
        out = np.ones(len(rows), dtype=bool)
        if self.inputs is None or self.explainer is None:
            return out
        for f in np.unique(feats):
            sel = feats == f
            fields = self.explainer.inputs[f]
            if not fields or any(name not in self.inputs for name in fields):
                continue
            hit = np.zeros(sel.sum(), dtype=bool)
            for name in fields:
                col = np.asarray(self.inputs[name])
                col = col.reshape(-1) if col.ndim else np.full(len(self), col)
                part = col[rows[sel]]
                hit |= np.isnan(part) if part.dtype.kind == "f" else np.asarray(pd.isna(part), dtype=bool)
            out[sel] = hit
        return out

    def fields_to_collect(self, i: int) -> list[str]:
        """Input fields of row i's indicators without a value, in dimensions below the minimum coverage."""
        if self.insufficient is None or not self.insufficient[i] or self.explainer is None:
            return []
        low = self.coverage[i] < self.explainer.min_coverage
        fields: dict[str, None] = {}
        for f, g in enumerate(self.explainer.group_of):
            if low[g] and self.values[i, f] != self.values[i, f]:
                for name in self.explainer.inputs[f]:
                    if self.inputs is None or name not in self.inputs or pd.isna(np.asarray(self.inputs[name]).reshape(-1)[i]):
                        fields[name] = None
        return list(fields)

    def columns(self) -> dict[str, Any]:
        """RESULT_COLUMNS (then RECOMMENDATION_COLUMNS) as numpy or Arrow arrays, one row per firm."""
        n = len(self)
        cols: dict[str, Any] = {
            "firm_id": _text(self.firm_id),
            "lifecycle_stage": _text(self.stage),
            "pd": self.pd,
            "score": self.score,
            "grade": _text(self.grade),
            "base_points": self.base_points,
        }
        for d, key in enumerate(self.catalogue.group_keys):
            cols[f"{key}_points"] = self.dimension_points[:, d]
        cols["clip_points"] = self.clip_points
        for d, key in enumerate(self.catalogue.group_keys):
            cols[f"{key}_rating"] = self.ratings[:, d]
        cols["knockouts"] = _text(self.knockout_codes())
        for r in range(N_REASONS):
            cols[f"reason_down_{r + 1}"] = self._reason_cells(self.reasons_down[:, r], "down")
        for r in range(N_REASONS):
            cols[f"reason_up_{r + 1}"] = self._reason_cells(self.reasons_up[:, r], "up")
        cols["model_version"] = pa.repeat(pa.scalar(self.model_version, pa.string()), n)
        insufficient = np.zeros(n, dtype=bool) if self.insufficient is None else self.insufficient
        cols["insufficient_data"] = insufficient.astype(np.int8)  # 0/1: reads back the same from CSV and the audit store
        collect = np.full(n, "", dtype=object)
        for i in np.flatnonzero(insufficient):  # rare rows only
            collect[i] = ";".join(self.fields_to_collect(i))
        cols["fields_to_collect"] = _text(collect)
        cols["stage_declared"] = _text(self.stages.declared if self.stages is not None else np.full(n, None, dtype=object))
        cols["stage_conflict"] = (self.stages.conflict if self.stages is not None else np.zeros(n, dtype=bool)).astype(np.int8)
        if self.recommendations is not None:
            cols |= self.recommendations.columns()
        return cols

    def to_table(self) -> pa.Table:
        """Flat Arrow table of `columns()` (CSV/Parquet output), built without pandas."""
        return pa.table(self.columns())

    def to_frame(self) -> pd.DataFrame:
        """`to_table()` as a DataFrame on this batch's index."""
        return self.to_table().to_pandas().set_axis(self.index)


def _text(values: np.ndarray) -> pa.Array:
    """Python strings (None for missing) as an Arrow string column."""
    return pa.array(values, type=pa.string())


def _sum_columns(m: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Per group, the sum of its columns of m (`groups[g]`: column indices, ascending), added from left
    to right in feature order: a row's sums never depend on how many rows share its batch (BLAS and
    pairwise summation change the rounding with the shape)."""
    out = np.zeros((m.shape[0], len(groups)))
    for g, cols in enumerate(groups):
        if not cols.size:
            continue
        if len(m) <= SMALL_BATCH:  # a few rows: one running sum per group beats a column addition per feature
            out[:, g] = np.add.accumulate(m[:, cols], axis=1)[:, -1]
        else:
            for f in cols:
                out[:, g] += m[:, f]
    return out


def _weighted(w: np.ndarray, per_stage: np.ndarray) -> np.ndarray:
    """Σ_s w[:, s] × per_stage[s], added column by column: a row's result never depends on its batch
    (a BLAS product may round differently with the shape)."""
    out = np.zeros(len(w))
    for s, v in enumerate(per_stage):
        out += w[:, s] * v
    return out


def _top_reasons(points: np.ndarray, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the N_REASONS indicators costing the most points (down) and earning the most (up),
    strongest first; −1 pads. A missing value is never an up reason.

    A few argmax passes beat a full argsort/argpartition over ~70 columns by an order of magnitude;
    both directions share them (the rows of −points above those of points).
    """
    signed = np.concatenate([-points, points if missing is None else np.where(missing, -np.inf, points)])
    rows = np.arange(len(signed))
    out = np.full((len(signed), N_REASONS), -1, dtype=np.int64)
    for r in range(min(N_REASONS, signed.shape[1])):
        idx = np.argmax(signed, axis=1)
        best = signed[rows, idx]
        out[:, r] = np.where(best > 0.005, idx, -1)  # a reason must move the score by at least 0.01 point
        signed[rows, idx] = -np.inf
    return out[: len(points)], out[len(points):]


@dataclass
class Explainer:
    """What reasons and evidence need from a bundle, per STAGE_KEYS stage: the median firm's contribution
    of each indicator, a missing value's contribution (the bank's treatment), single-peaked indicators'
    sound ranges, and each indicator's input fields and group."""

    median_contrib: np.ndarray  # (S, F) raw log-odds
    fill: np.ndarray | None  # (S, F) raw log-odds of a missing value; None: the learned effect (old bundles)
    peak_low: np.ndarray | None  # (F,) NaN where not single-peaked
    peak_high: np.ndarray | None
    inputs: list[tuple[str, ...]]
    group_of: np.ndarray  # (F,) group position
    min_coverage: float


class Scorer:
    """Scores clean profile frames with one bundle; cheap to call, built once per bundle."""

    def __init__(self, bundle: ModelBundle, policy: Policy | None = None, evidence: Evidence | None = None):
        self.catalogue = catalogue_of(bundle)
        if list(bundle.feature_names) != self.catalogue.keys or (
            self.catalogue.kind != KIND_TABULAR and self.catalogue.keys != list(REGISTRY_CATALOGUE.keys)
        ):
            raise BundleError("bundle was trained on a different indicator registry; retrain it")
        if self.catalogue.kind != KIND_TABULAR:
            changed = [f.code for f, now in zip(self.catalogue.features, REGISTRY_CATALOGUE.features)
                       if f.definition != now.definition]
            if changed:
                raise BundleError(f"bundle was trained on other definitions of indicators {', '.join(changed)} "
                                  "than this version computes; retrain it")
        if self.catalogue.kind != KIND_TABULAR:  # the registry's own texts (one shared object)
            self.catalogue = REGISTRY_CATALOGUE
        self.bundle = bundle
        self.policy = policy or load_policy()  # stage rules and knock-outs; $TECHSCORE_POLICY or the defaults
        self.version = bundle.version
        self.tabular = TabularSpec.from_dict(bundle.extras["tabular"]) if self.catalogue.kind == KIND_TABULAR else None
        # Column indices of each group's features, and of all features (the raw score's sum).
        self._groups = [np.flatnonzero(col) for col in self.catalogue.membership().T]
        self._all_features = [np.arange(len(self.catalogue.keys))]
        self.tables = scoring_tables(bundle)
        # Told the indicator rows and scores of every batch scored with this bundle (the service's drift window).
        self.listeners: list[Callable[[np.ndarray, np.ndarray], None]] = []
        self.scale = ScoreScale(**bundle.scale)
        self._published = published_grades(bundle.extras.get("grade_map"))  # grades merged where the book is thin
        a, b = bundle.calibration["a"], bundle.calibration["b"]
        by_stage = bundle.calibration.get("b_stage", {})
        self._a = a
        self._b_stage = np.array([by_stage.get(k, b) for k in STAGE_KEYS])  # intercept per stage key
        self.points_per_raw = -self.scale.factor * a
        self._base_by_stage = self.scale.offset - self.scale.factor * (a * self.tables.bias + self._b_stage)
        self.medians = {s: np.asarray(v, dtype=float) for s, v in bundle.stage_medians.items()}
        self.dim_ref = {s: np.sort(np.asarray(v, dtype=float), axis=0) for s, v in bundle.dimension_reference.items()}
        self.explainer = self._explainer(bundle, evidence or Evidence())

    def _explainer(self, bundle: ModelBundle, evidence: Evidence) -> Explainer:
        explain = bundle.extras.get("explain")
        n_feat = len(self.catalogue.keys)
        fill = None
        min_coverage = evidence.min_coverage if evidence.min_coverage is not None else DEFAULT_MIN_COVERAGE
        low = high = None
        if explain:
            quantile = evidence.missing_quantile if evidence.missing_quantile is not None else explain["missing_quantile"]
            fill = missing_fill(explain, quantile)
            if evidence.min_coverage is None:
                min_coverage = explain.get("min_coverage", DEFAULT_MIN_COVERAGE)
            optimum = explain.get("optimum") or [None] * n_feat
            low = np.array([np.nan if o is None else o[0] for o in optimum])
            high = np.array([np.nan if o is None else o[1] for o in optimum])
        medians = self._median_stack
        median_contrib = np.empty_like(medians)
        for f in range(n_feat):
            median_contrib[:, f] = self.tables.at(f, medians[:, f])
        if fill is not None:  # a stage without a median value (no firm had one): the missing value's
            median_contrib = np.where(np.isnan(medians), fill, median_contrib)
        inputs = [by_key(k).inputs if self.catalogue.kind != KIND_TABULAR else (k,) for k in self.catalogue.keys]
        group_of = np.array([self.catalogue.group_keys.index(f.group) for f in self.catalogue.features])
        return Explainer(median_contrib, fill, low, high, inputs, group_of, float(min_coverage))

    def validate(self, raw: pd.DataFrame, as_of_default: Any = None) -> ValidationResult:
        """Check raw rows against what this model reads (the firm-profile schema or the bank's own columns);
        `.clean` holds the valid rows as the clean columns `score` takes."""
        if self.tabular is not None:
            return self.tabular.validate(raw)
        return validate_frame(raw, as_of_default=as_of_default)

    def score(self, clean: CleanColumns, with_recommendation: bool = True) -> ScoreBatch:
        """Score clean columns (`features.clean.CleanColumns`: from `validate` / `features.validate.validate_frame`
        for files, `features.validate.profiles_to_columns` for the API, `features.tabular` in generic mode).

        `with_recommendation=False` skips the credit recommendation (searches that only need the grade).
        """
        if self.tabular is not None:
            if any(c.name not in clean for c in self.tabular.columns):  # firm profiles given to a bank-columns model
                raise BundleError(f"model {self.version} reads a bank's own columns, not firm profiles: "
                                  "score rows in its columns (POST /v1/scores/rows)")
            n = len(clean)
            return self.score_matrix(self.tabular.transform(clean), np.full(n, "all", dtype=object),
                                     np.zeros((n, 0), dtype=bool), clean.index, clean.firm_id)
        X = transform_columns(clean)
        stages = assess_stage(clean, self.policy.stage.rules())
        batch = self.score_matrix(X, stages.stage, knockout_matrix(clean, self.policy.knockouts), clean.index,
                                  clean.firm_id, weights=stages.weights, stages=stages, inputs=clean)
        if with_recommendation:
            batch.recommendations = recommend(batch, clean, self.policy)
        return batch

    def score_matrix(
        self, X: np.ndarray, stage: np.ndarray, knockouts: np.ndarray, index: pd.Index, firm_id: np.ndarray,
        weights: np.ndarray | None = None, stages: StageAssessment | None = None,
        inputs: Mapping[str, np.ndarray] | None = None,
    ) -> ScoreBatch:
        """Score an indicator matrix (n, F) with its stages and knock-out hits; `weights` (n, ≤ len(STAGE_KEYS)):
        soft stage weights that blend the stage parameters (one-hot on `stage` when not given)."""
        pos = self._stage_positions(stage)
        w = np.zeros((len(X), len(STAGE_KEYS)))
        if weights is None:
            w[np.arange(len(X)), pos] = 1.0
        else:
            w[:, : weights.shape[1]] = weights
        ex = self.explainer
        contrib = self.tables.contributions(X, None if ex.fill is None else (w, ex.fill))
        raw = self.tables.bias + _sum_columns(contrib, self._all_features)[:, 0]
        intercept = _weighted(w, self._b_stage)
        logit = self._a * raw + intercept
        pd_ = 1.0 / (1.0 + np.exp(-logit))
        points = np.ascontiguousarray(self.points_per_raw * contrib)  # row-major: the reason passes scan rows
        dim_cents = np.rint(_sum_columns(points, self._groups) * 100).astype(np.int64)
        base_cents = np.rint(_weighted(w, self._base_by_stage) * 100).astype(np.int64)
        unclipped = base_cents + dim_cents.sum(axis=1)
        lo, hi = int(self.scale.min_score * 100), int(self.scale.max_score * 100)
        score_cents = np.clip(unclipped, lo, hi)
        missing = np.isnan(X)
        # a reason's points: the firm's contribution minus the median firm's of its stage
        relative = points - self.points_per_raw * ex.median_contrib[pos]
        down, up = _top_reasons(relative, missing)
        cover = coverage(~missing, self._groups)
        insufficient = (cover < ex.min_coverage).any(axis=1)
        batch = ScoreBatch(
            index=index,
            firm_id=firm_id,
            stage=np.asarray(stage, dtype=object),
            pd=pd_,
            score=score_cents / 100.0,
            grade=grade_of(pd_, self._published),
            base_points=base_cents / 100.0,
            dimension_points=dim_cents / 100.0,
            clip_points=(score_cents - unclipped) / 100.0,
            ratings=self._ratings_at(dim_cents / 100.0, pos),
            values=X,
            points=points,
            knockouts=knockouts,
            reasons_down=down,
            reasons_up=up,
            stage_medians=self._median_stack[pos],
            model_version=self.version,
            relative=relative,
            insufficient=insufficient,
            coverage=cover,
            stages=stages,
            inputs=inputs,
            explainer=ex,
            knockout_rules=tuple(self.policy.knockouts) if knockouts.shape[1] else (),  # training and generic mode pass none
            catalogue=self.catalogue,
        )
        self.notify(batch.values, batch.score)
        return batch

    def notify(self, values: np.ndarray, score: np.ndarray) -> None:
        """Tell the listeners (the drift window) about scored firms: their indicator rows and scores; also
        called for firms this scorer's bundle scored in another process."""
        for listen in self.listeners:
            listen(values, score)

    def _reference_for(self, stage: str) -> str:
        return stage if stage in self.dim_ref else "all"

    def ratings(self, dim_points: np.ndarray, stage: np.ndarray) -> np.ndarray:
        """Percentile (mid-rank, 0–100) of each dimension's points among reference firms of the same stage."""
        return self._ratings_at(dim_points, self._stage_positions(stage))

    @staticmethod
    def _stage_positions(stage: np.ndarray) -> np.ndarray:
        """Position of each row's stage in STAGE_KEYS; a stage without a reference of its own counts as "all"."""
        return positions(stage, STAGE_KEYS, STAGE_KEYS.index("all"))

    def _ratings_at(self, dim_points: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """`ratings` for stage positions: one `searchsorted` per group for all rows, into the points of every
        stage's reference at once; the rating of a value equal to, or just below, each of those points is
        then looked up per stage."""
        keys, padded, at, below = self._rating_tables
        j = np.empty(dim_points.shape, dtype=np.intp)
        for g, key in enumerate(keys):
            j[:, g] = np.searchsorted(key, dim_points[:, g])
        np.minimum(j, padded.shape[1] - 1, out=j)  # NaN sorts past +inf: rated as above every firm
        groups, stages = np.arange(len(keys))[None, :], pos[:, None]
        return np.where(padded[groups, j] == dim_points, at[groups, stages, j], below[groups, stages, j])

    @cached_property
    def _rating_tables(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Per group: the distinct reference points of all stages then +inf (as a list, and padded with +inf
        to one matrix), and per group and stage the rating of a value equal to each and just below each."""
        refs = [self.dim_ref[self._reference_for(s)] for s in STAGE_KEYS]
        keys = [np.append(np.unique(np.concatenate([r[:, g] for r in refs])), np.inf) for g in range(refs[0].shape[1])]
        width = max(len(k) for k in keys)
        padded = np.full((len(keys), width), np.inf)
        at, below = np.full((2, len(keys), len(refs), width), 100.0)
        for g, key in enumerate(keys):
            padded[g, : len(key)] = key
            for k, ref in enumerate(refs):
                lo, hi = np.searchsorted(ref[:, g], key, side="left"), np.searchsorted(ref[:, g], key, side="right")
                at[g, k, : len(key)] = np.round(50.0 * (lo + hi) / len(ref), 1)
                below[g, k, : len(key)] = np.round(100.0 * lo / len(ref), 1)
        return keys, padded, at, below

    @cached_property
    def _median_stack(self) -> np.ndarray:
        """(stages, features): each STAGE_KEYS stage's reference medians (those of all firms when it has none)."""
        return np.array([self.medians.get(s, self.medians["all"]) for s in STAGE_KEYS])


def scoring_tables(bundle: ModelBundle) -> AdditiveTables:
    """The champion's lookup tables: the boosted model's, or the WoE scorecard's when it won."""
    stored = bundle.extras.get("scoring_tables")
    return AdditiveTables.from_dict(stored) if stored else bundle.tables()
