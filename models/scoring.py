"""Scoring core: indicators → PD, score, grade, exact points, ratings, knock-outs and reasons."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from features.indicators import frame_to_columns, transform_columns
from features.registry import DIMENSIONS
from features.stage import STAGES, derive_stage
from features.tabular import TabularSpec
from features.validate import ValidationResult, validate_frame
from models.bundle import BundleError, ModelBundle
from models.catalogue import KIND_TABULAR, Catalogue, catalogue_of
from models.decision import Recommendations, recommend
from models.explain import SMALL_BATCH, AdditiveTables
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
        + ("model_version",)
    )


RESULT_COLUMNS: tuple[str, ...] = result_columns(DIMENSION_KEYS)
REGISTRY_CATALOGUE = Catalogue.from_registry()
STAGE_KEYS: tuple[str, ...] = (*STAGES, "all")  # "all": generic-mode rows, compared with every training row


@dataclass
class ScoreBatch:
    """Scores of n firms; arrays are row-aligned with `index`."""

    index: pd.Index
    firm_id: np.ndarray
    stage: np.ndarray
    pd: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    base_points: float
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

    def _reason_cells(self, idx: np.ndarray, kind: str) -> pa.Array:
        """Reason texts picked from the catalogue's cells by index (no per-row strings); a down reason
        whose value is missing reads "not provided" (kind M)."""
        if kind == "D":
            rows = np.arange(len(self))
            missing = (idx >= 0) & np.isnan(self.values[rows, np.maximum(idx, 0)])
            idx = np.where(missing, idx + len(self.catalogue.texts["D"]), idx)  # into the M half
        else:  # up reasons are the U half: after D and M
            idx = np.where(idx >= 0, idx + 2 * len(self.catalogue.texts["D"]), -1)
        return self.catalogue.reason_cells.take(pa.array(idx % len(self.catalogue.reason_cells)))

    def columns(self) -> dict[str, Any]:
        """RESULT_COLUMNS (then RECOMMENDATION_COLUMNS) as numpy or Arrow arrays, one row per firm."""
        n = len(self)
        cols: dict[str, Any] = {
            "firm_id": _text(self.firm_id),
            "lifecycle_stage": _text(self.stage),
            "pd": self.pd,
            "score": self.score,
            "grade": _text(self.grade),
            "base_points": np.full(n, self.base_points),
        }
        for d, key in enumerate(self.catalogue.group_keys):
            cols[f"{key}_points"] = self.dimension_points[:, d]
        cols["clip_points"] = self.clip_points
        for d, key in enumerate(self.catalogue.group_keys):
            cols[f"{key}_rating"] = self.ratings[:, d]
        cols["knockouts"] = _text(self.knockout_codes())
        for r in range(N_REASONS):
            cols[f"reason_down_{r + 1}"] = self._reason_cells(self.reasons_down[:, r], "D")
        for r in range(N_REASONS):
            cols[f"reason_up_{r + 1}"] = self._reason_cells(self.reasons_up[:, r], "U")
        cols["model_version"] = pa.repeat(pa.scalar(self.model_version, pa.string()), n)
        if self.recommendations is not None:
            cols |= self.recommendations.columns()
        return cols

    def to_table(self) -> pa.Table:
        """Flat Arrow table of `columns()` (CSV/Parquet output), built without pandas."""
        return pa.table(self.columns())

    def to_frame(self) -> pd.DataFrame:
        """`to_table()` as a DataFrame on this batch's index."""
        return self.to_table().to_pandas().set_axis(self.index)

    @cached_property
    def _lists(self) -> dict[str, list[Any]]:
        """The arrays `record` reads, as Python lists made once per batch (one conversion per array
        instead of a numpy scalar per cell and firm)."""
        rows = np.arange(len(self))[:, None]
        out: dict[str, list[Any]] = {
            "pd": self.pd.tolist(), "score": self.score.tolist(), "clip": self.clip_points.tolist(),
            "points": self.dimension_points.tolist(), "ratings": self.ratings.tolist(),
            "knockouts": self.knockouts.tolist(),
        }
        for direction, idx in (("down", self.reasons_down), ("up", self.reasons_up)):
            at = np.maximum(idx, 0)  # −1 pads: any column, never read
            out[direction] = idx.tolist()
            out[f"{direction}_cells"] = np.stack([self.values[rows, at], self.stage_medians[rows, at],
                                                  self.points[rows, at]], axis=2).tolist()
        return out

    def _reasons(self, i: int, direction: str) -> list[dict[str, Any]]:
        """Row i's reasons down or up, strongest first."""
        lists, features = self._lists, self.catalogue.features
        templates = self.catalogue.reason_templates
        out = []
        for f, (value, median, points) in zip(lists[direction][i], lists[f"{direction}_cells"][i]):
            if f < 0:
                break
            missing = value != value  # NaN
            reason = templates["M" if direction == "down" and missing else direction[0].upper()][f].copy()
            reason["value"] = None if missing else value
            reason["stage_median"] = None if median != median else median
            reason["points"] = round(points, 2)
            categories = features[f].categories
            if categories:  # a categorical column: its value is the category's position
                reason["category"] = None if missing else categories[int(value)]
            out.append(reason)
        return out

    def record(self, i: int) -> dict[str, Any]:
        """Structured result of row i (the API's response body)."""
        lists = self._lists
        points, ratings = lists["points"][i], lists["ratings"][i]
        return {
            "firm_id": self.firm_id[i],
            "lifecycle_stage": self.stage[i],
            "pd": lists["pd"][i],
            "score": lists["score"][i],
            "grade": self.grade[i],
            "base_points": self.base_points,
            "dimensions": [
                {
                    "key": key,
                    "label_zh": label_zh,
                    "label_en": label_en,
                    "points": points[d],
                    "rating": ratings[d],
                }
                for d, (key, (label_zh, label_en)) in enumerate(self.catalogue.groups.items())
            ],
            "clip_points": lists["clip"][i],
            "knockouts": [
                {"code": ko.code, "rule": ko.rule, "text_zh": ko.text_zh, "text_en": ko.text_en}
                for ko, hit in zip(self.knockout_rules, lists["knockouts"][i])
                if hit
            ],
            "reasons_down": self._reasons(i, "down"),
            "reasons_up": self._reasons(i, "up"),
            "model_version": self.model_version,
        } | ({} if self.recommendations is None else {"recommendation": self.recommendations.record(i)})


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


def _top_reasons(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the N_REASONS indicators costing the most points (down) and earning the most (up),
    strongest first; −1 pads.

    A few argmax passes beat a full argsort/argpartition over ~70 columns by an order of magnitude;
    both directions share them (the rows of −points above those of points).
    """
    signed = np.concatenate([-points, points])
    rows = np.arange(len(signed))
    out = np.full((len(signed), N_REASONS), -1, dtype=np.int64)
    for r in range(min(N_REASONS, signed.shape[1])):
        idx = np.argmax(signed, axis=1)
        best = signed[rows, idx]
        out[:, r] = np.where(best > 0.005, idx, -1)  # a reason must move the score by at least 0.01 point
        signed[rows, idx] = -np.inf
    return out[: len(points)], out[len(points):]


class Scorer:
    """Scores clean profile frames with one bundle; cheap to call, built once per bundle."""

    def __init__(self, bundle: ModelBundle, policy: Policy | None = None):
        self.catalogue = catalogue_of(bundle)
        if list(bundle.feature_names) != self.catalogue.keys or (
            self.catalogue.kind != KIND_TABULAR and self.catalogue.keys != list(REGISTRY_CATALOGUE.keys)
        ):
            raise BundleError("bundle was trained on a different indicator registry; retrain it")
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
        # Called with every ScoreBatch this scorer produces (e.g. the service's drift window).
        self.listeners: list[Callable[[ScoreBatch], None]] = []
        self.scale = ScoreScale(**bundle.scale)
        self._published = published_grades(bundle.extras.get("grade_map"))  # grades merged where the book is thin
        a, b = bundle.calibration["a"], bundle.calibration["b"]
        self._a, self._b = a, b
        self.points_per_raw = -self.scale.factor * a
        self.base_points = round(self.scale.offset - self.scale.factor * (a * self.tables.bias + b), 2)
        self.medians = {s: np.asarray(v, dtype=float) for s, v in bundle.stage_medians.items()}
        self.dim_ref = {s: np.sort(np.asarray(v, dtype=float), axis=0) for s, v in bundle.dimension_reference.items()}

    def validate(self, raw: pd.DataFrame, as_of_default: Any = None) -> ValidationResult:
        """Check raw rows against what this model reads: the firm-profile schema or the bank's own columns."""
        if self.tabular is not None:
            return self.tabular.validate(raw)
        return validate_frame(raw, as_of_default=as_of_default)

    def score_frame(self, clean: pd.DataFrame) -> ScoreBatch:
        """Score a clean frame (see features.validate, or features.tabular in generic mode)."""
        if self.tabular is not None:
            n = len(clean)
            return self.score_matrix(self.tabular.transform(clean), np.full(n, "all", dtype=object),
                                     np.zeros((n, 0), dtype=bool), clean.index, self.tabular.row_ids(clean))
        X = transform_columns(frame_to_columns(clean))
        firm_id = clean["firm_id"].to_numpy(dtype=object) if "firm_id" in clean else np.full(len(clean), None, dtype=object)
        stage = derive_stage(clean, self.policy.stage.rules())
        batch = self.score_matrix(X, stage, knockout_matrix(clean, self.policy.knockouts), clean.index, firm_id)
        batch.recommendations = recommend(batch, clean, self.policy)
        return batch

    def score_columns(self, cols: Mapping[str, np.ndarray], with_recommendation: bool = True) -> ScoreBatch:
        """Score clean columns (`features.validate.profiles_to_columns`) without building a DataFrame.

        `with_recommendation=False` skips the credit recommendation (searches that only need the grade).
        """
        if self.tabular is not None:
            raise BundleError(f"model {self.version} reads a bank's own columns, not firm profiles: score rows with score_frame (POST /v1/scores/rows)")
        firm_id = np.asarray(cols["firm_id"], dtype=object)
        X = transform_columns(cols)
        stage = derive_stage(cols, self.policy.stage.rules())
        batch = self.score_matrix(X, stage, knockout_matrix(cols, self.policy.knockouts), pd.RangeIndex(len(firm_id)), firm_id)
        if with_recommendation:
            batch.recommendations = recommend(batch, cols, self.policy)
        return batch

    def score_matrix(
        self, X: np.ndarray, stage: np.ndarray, knockouts: np.ndarray, index: pd.Index, firm_id: np.ndarray
    ) -> ScoreBatch:
        """Score an indicator matrix (n, F) with its stages and knock-out hits."""
        contrib = self.tables.contributions(X)
        raw = self.tables.bias + _sum_columns(contrib, self._all_features)[:, 0]
        logit = self._a * raw + self._b
        pd_ = 1.0 / (1.0 + np.exp(-logit))
        points = np.ascontiguousarray(self.points_per_raw * contrib)  # row-major: the reason passes scan rows
        dim_cents = np.rint(_sum_columns(points, self._groups) * 100).astype(np.int64)
        base_cents = int(round(self.base_points * 100))
        unclipped = base_cents + dim_cents.sum(axis=1)
        lo, hi = int(self.scale.min_score * 100), int(self.scale.max_score * 100)
        score_cents = np.clip(unclipped, lo, hi)
        pos = self._stage_positions(stage)
        down, up = _top_reasons(points)
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
            knockout_rules=tuple(self.policy.knockouts) if knockouts.shape[1] else (),  # training and generic mode pass none
            catalogue=self.catalogue,
        )
        for listen in self.listeners:
            listen(batch)
        return batch

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
