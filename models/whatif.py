"""What-if and the path to the next grade, both by exact re-scoring of changed profiles.

What-if: a profile plus changes (`+2`, `+20%`, `=registered_capital`, absolute values) → the old and
new score, grade and limit with the points moved per dimension; the changed profile is validated
and scored exactly like any submitted profile.

Next grade: the smallest set of lever changes (policy `next_grade.levers`: fields a firm can act
on, with realistic steps, each moving the way the model's monotone constraints reward) that
lifts the firm one grade. Every lever step is scored once in one vectorised call; the points
each step earns guide an exhaustive search over combinations of up to `max_changes` levers, and
the most promising combinations are re-scored exactly, also in one call per size.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import numpy as np
import pandas as pd
from pydantic import ValidationError

from features.clean import CleanColumns, iso_date
from features.schema import CROSS_RULES, FIELD_SPECS, FirmProfile, violations_from_error
from features.validate import profiles_to_columns
from models.changes import Change, ChangeError, apply_change, parse_change
from models.policy import Lever
from models.policy import HighTech
from models.rules import ENUM_ORDER, positions
from models.scaling import GRADE_UPPER_PD, GRADES
from models.scoring import ScoreBatch, Scorer

# Why a lever step is not offered (FEASIBLE: it is); texts in _WHY.
FEASIBLE, NOT_MOVED, OVER_CAP, SCHEMA_RULE, HIGH_TECH, NO_POINTS = range(6)
_WHY = {
    NOT_MOVED: ("该字段缺失或已到上限，无法调整(缺失不等于0)", "the field is missing or already at its limit (missing is not zero)"),
    OVER_CAP: ("一年内不可行：超过企业规模或在审申请所能支撑的幅度", "not feasible within 12 months: more than the firm's size or pending applications allow"),
    SCHEMA_RULE: ("调整后违反字段规则(如研发人员超过职工总数)", "the change would break a field rule (e.g. R&D staff above total staff)"),
    HIGH_TECH: ("其他调整后仍不满足高新技术企业认定条件(研发强度、高新收入占比≥60%、研发人员占比≥10%)",
                "high-tech status not proposed: the public criteria (R&D intensity, ≥ 60% high-tech revenue, "
                "≥ 10% R&D staff) do not hold after the other steps"),
    NO_POINTS: ("对该企业不增加分数", "earns no points for this firm"),
}
VERIFY_PER_SIZE = 96      # exact re-scorings per combination size (the estimate is additive, the truth not quite)
ESTIMATE_SLACK = 3.0      # points: combinations estimated this close to the target are verified too


class WhatIfError(ValueError):
    """The profile or a change is invalid; `violations` lists field, rule and message."""

    def __init__(self, message: str, violations: list[dict[str, Any]]):
        super().__init__(message)
        self.violations = violations


# ------------------------------------------------------------------------------------------
# Profiles in and out of clean columns
# ------------------------------------------------------------------------------------------
def validated(profile: Mapping[str, Any] | FirmProfile, context: str = "profile") -> FirmProfile:
    """FirmProfile from a mapping, or WhatIfError naming each field and rule broken."""
    if isinstance(profile, FirmProfile):
        return profile
    try:
        return FirmProfile.model_validate(dict(profile))
    except ValidationError as exc:
        viol = violations_from_error(exc)
        raise WhatIfError(f"{context}: " + "; ".join(v["message"] for v in viol), viol) from None


def _python(field: str, value: Any) -> Any:
    """One clean cell → the JSON-ready value a profile carries."""
    if value is None or pd.isna(value):
        return None
    kind = FIELD_SPECS[field].kind
    if kind == "date":  # a day number
        return iso_date(value)
    if kind == "integer":
        return int(value) if float(value).is_integer() else float(value)
    if kind == "bool":
        return bool(value)
    if kind == "number":
        return float(value)
    return value


def row_profile(clean: CleanColumns, i: int) -> dict[str, Any]:
    """Row i (position) of clean columns as a raw profile mapping."""
    return {f: _python(f, clean[f][i]) for f in FIELD_SPECS}


def _parse_changes(changes: Mapping[str, Any]) -> list[Change]:
    out, errors = [], []
    for name, spec in changes.items():
        try:
            out.append(parse_change(name, spec))
        except ChangeError as exc:
            errors.append({"field": name, "rule": "change", "value": spec, "message": str(exc)})
    if errors:
        raise WhatIfError("changes: " + "; ".join(e["message"] for e in errors), errors)
    if not out:
        raise WhatIfError("changes: give at least one change, e.g. invention_patents_granted=+2", [])
    return out


# ------------------------------------------------------------------------------------------
# What-if
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldMove:
    """A field's value before and after a change (JSON-ready cell values, `models.whatif._python`);
    `change` is the change as written (None for a lever's companion field)."""

    field: str
    before: Any
    after: Any
    change: str | None = None


@dataclass
class WhatIf:
    """The profile and the changed profile scored side by side: row 0 of `batch` before, row 1 after
    (the batch carries its recommendations)."""

    firm_id: str
    batch: ScoreBatch
    changes: list[FieldMove]
    changed_profile: dict[str, Any]
    before: int = 0
    after: int = 1


def what_if(scorer: Scorer, profile: Mapping[str, Any] | FirmProfile, changes: Mapping[str, Any],
            as_of_default: date | None = None) -> WhatIf:
    """Score the profile and the profile with `changes` side by side (changes as an officer types them)."""
    base = validated(profile)
    parsed = _parse_changes(changes)
    pair = profiles_to_columns([base, base], as_of_default)
    work = dict(pair.items())  # changed in place below, then clean columns again (derived values recomputed)
    second = np.array([False, True])
    for ch in parsed:
        if ch.kind in ("add", "scale", "shift") and pd.isna(work[ch.field][0]):
            msg = (f"{ch.field}: cannot apply {ch.text} to a missing value (missing is not zero); "
                   f"give an absolute value instead")
            raise WhatIfError(f"changes: {msg}", [{"field": ch.field, "rule": "change_on_missing",
                                                   "value": ch.text, "message": msg}])
        apply_change(work, ch, second)
    both = pair.replace(work)
    # The changed profile passes the same schema rules as any submitted one (bounds, cross-field rules).
    changed = row_profile(both, 1)
    validated(changed, "profile after the changes")
    batch = scorer.score(both)
    moves = [FieldMove(ch.field, _python(ch.field, both[ch.field][0]), _python(ch.field, both[ch.field][1]), ch.text)
             for ch in parsed]
    return WhatIf(base.firm_id, batch, moves, changed)


# ------------------------------------------------------------------------------------------
# Next grade
# ------------------------------------------------------------------------------------------
@dataclass
class _Option:
    """One lever at one step, applicable to this firm."""

    lever: int
    step: int
    gain: float  # exact points when applied alone (unclipped score)


Cols = dict[str, np.ndarray]  # a working copy of clean columns, changed in place by levers


def high_tech_criteria(cols: Mapping[str, np.ndarray], crit: HighTech) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                                np.ndarray]:
    """高新技术企业 criteria per row: (all hold, R&D intensity ok, high-tech revenue share ok, R&D staff ok).

    Missing inputs never meet a criterion (missing is not zero).
    """
    revenue = np.asarray(cols["revenue_y0"], dtype=float)
    with np.errstate(all="ignore"):
        intensity = np.where(revenue > 0, np.asarray(cols["rd_expense_y0"], dtype=float) / revenue, np.nan)
        hightech = np.where(revenue > 0, np.asarray(cols["hightech_revenue_y0"], dtype=float) / revenue, np.nan)
        staff = np.asarray(cols["staff_total"], dtype=float)
        rd_staff = np.where(staff > 0, np.asarray(cols["rd_staff"], dtype=float) / staff, np.nan)
    need = np.full(len(revenue), crit.intensity_above)
    for upto, share in reversed(crit.intensity_by_revenue):
        need = np.where(revenue <= upto, share, need)
    ok_i = intensity >= need
    ok_h = hightech >= crit.min_hightech_revenue_share
    ok_s = rd_staff >= crit.min_rd_staff_share
    return ok_i & ok_h & ok_s, ok_i, ok_h, ok_s


def _apply_lever(cols: Cols, lever: Lever, change: Change, rows: np.ndarray) -> None:
    delta = apply_change(cols, change, rows)
    for comp in lever.also:
        cols[comp.field] = cols[comp.field] + comp.factor * delta


def _violations(cols: Cols, fields: set[str]) -> np.ndarray:
    """Rows breaking a bound or a cross-field rule of a changed field (vectorised)."""
    bad = np.zeros(len(next(iter(cols.values()))), dtype=bool)
    for f in fields:
        spec = FIELD_SPECS[f]
        with np.errstate(invalid="ignore"):
            if spec.ge is not None:
                bad |= cols[f] < spec.ge
            if spec.le is not None:
                bad |= cols[f] > spec.le
    for rule in CROSS_RULES:
        if fields & set(rule.fields):
            bad |= rule.violated(cols)
    return bad


def _unclipped(batch: ScoreBatch) -> np.ndarray:
    return batch.score - batch.clip_points


def _moved(before: np.ndarray, after: np.ndarray, field: str, sign: int) -> np.ndarray:
    """Rows whose lever field moved the lever's way (missing values never move)."""
    if FIELD_SPECS[field].kind in ("number", "integer"):
        with np.errstate(invalid="ignore"):
            return np.sign(after - before) == sign
    return (after != before) & pd.notna(before)


@dataclass(frozen=True)
class LeverState:
    """A lever of the policy for this firm: used in the path, considered, or left out, and why (中文, English)."""

    field: str
    label_zh: str
    label_en: str
    status: str  # used | considered | left_out
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class PathStep:
    """One step of the path: the lever's step as written, every field it moves, the points it adds after
    the steps before it, and the grade after it."""

    field: str
    label_zh: str
    label_en: str
    change: str
    moves: list[FieldMove]
    points: float
    grade_after: str


@dataclass
class NextGrade:
    """The search's outcome for one firm: its current score, the target, the path found (or why none), the
    changed profile re-scored (`result`) and every lever's status; `message` in Chinese / English."""

    firm_id: str
    stage: str
    score: float
    grade: str
    pd: float
    knockouts: list[str]
    max_changes: int
    policy_version: str
    model_version: str
    reachable: bool = False
    target_grade: str | None = None
    target_pd_below: float | None = None
    points_needed: float | None = None
    candidates_scored: int = 0
    steps: list[PathStep] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    result: WhatIf | None = None
    levers: list[LeverState] = field(default_factory=list)
    message: str = ""


class NextGradeSearch:
    """Finds the smallest lever set lifting one firm a grade; built once per scorer."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self.levers = scorer.policy.next_grade.levers
        self.changes = [lv.changes for lv in self.levers]
        self.max_changes = scorer.policy.next_grade.max_changes
        self.fields = {lv.field for lv in self.levers} | {c.field for lv in self.levers for c in lv.also}

    def _frame(self, base: CleanColumns, plans: list[list[tuple[int, int]]]) -> tuple[CleanColumns, np.ndarray]:
        """One row per plan (a list of (lever, step)), levers applied in policy order; plus a validity mask."""
        out, why = self._frame_why(base, plans)
        return out, why == FEASIBLE

    def _frame_why(self, base: CleanColumns, plans: list[list[tuple[int, int]]]) -> tuple[CleanColumns, np.ndarray]:
        """`_frame` with, per plan, the first feasibility rule it breaks (FEASIBLE when none)."""
        repeated = base.take(np.zeros(len(plans), dtype=np.int64))
        out: Cols = dict(repeated.items())
        why = np.full(len(plans), FEASIBLE, dtype=np.int64)
        tier_before = out["qualification_tier"].copy() if "qualification_tier" in out else None
        for lv_idx, lever in enumerate(self.levers):
            for st_idx, change in enumerate(self.changes[lv_idx]):
                rows = np.array([(lv_idx, st_idx) in plan for plan in plans], dtype=bool)
                if rows.any():
                    before = out[lever.field]
                    _apply_lever(out, lever, change, rows)
                    moved = _moved(before, out[lever.field], lever.field, lever.sign)
                    why = np.where((why == FEASIBLE) & rows & ~moved, NOT_MOVED, why)
                    if lever.cap_by is not None:
                        why = np.where((why == FEASIBLE) & rows & ~self._within_cap(lever, before, out, base), OVER_CAP, why)
        why = np.where((why == FEASIBLE) & _violations(out, self.fields), SCHEMA_RULE, why)
        if tier_before is not None:
            why = np.where((why == FEASIBLE) & ~self._high_tech_ok(tier_before, out), HIGH_TECH, why)
        return repeated.replace(out), why

    @staticmethod
    def _within_cap(lever: Lever, before: np.ndarray, out: Cols, base: CleanColumns) -> np.ndarray:
        """The step moves the field by at most share × the firm's value of `cap_by.field` (at least `min`)."""
        cap = lever.cap_by
        assert cap is not None
        limit = np.maximum(cap.share * np.asarray(base[cap.field], dtype=float)[0], cap.min)
        with np.errstate(invalid="ignore"):
            return np.abs(out[lever.field] - before) <= limit + 1e-9  # a missing cap field is never within

    def _high_tech_ok(self, tier_before: np.ndarray, out: Cols) -> np.ndarray:
        """Rows that become a high-tech enterprise meet the public criteria with every other step applied."""
        order = ENUM_ORDER["qualification_tier"]
        hnte = order.index("hnte")
        was = positions(tier_before, order, -1)
        becomes = (positions(out["qualification_tier"], order, -1) >= hnte) & (was < hnte)
        if not becomes.any():
            return np.ones(len(was), dtype=bool)
        return ~becomes | high_tech_criteria(out, self.scorer.policy.next_grade.high_tech)[0]

    def _options(self, base: CleanColumns, base_points: float) -> tuple[list[_Option], int, dict[int, int]]:
        """Feasible single steps that earn points, and per lever why none of its steps is offered."""
        plans = [[(l, s)] for l, steps in enumerate(self.changes) for s in range(len(steps))]
        cols, why = self._frame_why(base, plans)
        gains = _unclipped(self.scorer.score(cols, with_recommendation=False)) - base_points
        why = np.where((why == FEASIBLE) & ~(gains > 0), NO_POINTS, why)
        opts = [_Option(p[0][0], p[0][1], float(g)) for p, g, w in zip(plans, gains, why) if w == FEASIBLE]
        left_out: dict[int, int] = {}
        for p, w in zip(plans, why):  # a lever is left out with the reason of its smallest step
            lever = p[0][0]
            if w != FEASIBLE and lever not in left_out:
                left_out[lever] = int(w)
        for o in opts:
            left_out.pop(o.lever, None)
        return opts, len(plans), left_out

    def lever_report(self, opts: list[_Option], left_out: dict[int, int], used: set[int]) -> list[LeverState]:
        """Every lever of the policy: used in the path, considered, or left out with the reason (中文 / English)."""
        out = []
        offered = {o.lever for o in opts}
        for k, lever in enumerate(self.levers):
            spec = FIELD_SPECS[lever.field]
            if k in used:
                status, zh, en = "used", "用于晋级路径", "used in the path"
            elif k in offered:
                status, zh, en = "considered", "可行，但路径不需要", "feasible, not needed for the path"
            else:
                status, (zh, en) = "left_out", _WHY[left_out.get(k, NO_POINTS)]
            out.append(LeverState(lever.field, spec.label_zh, spec.label_en, status, zh, en))
        return out

    @staticmethod
    def _base_columns(profile: Mapping[str, Any] | FirmProfile, as_of_default: date | None = None) -> CleanColumns:
        return profiles_to_columns([validated(profile)], as_of_default)

    def run(self, profile: Mapping[str, Any] | FirmProfile, as_of_default: date | None = None) -> NextGrade:
        base_profile = validated(profile)
        base = self._base_columns(base_profile, as_of_default)
        base_batch = self.scorer.score(base, with_recommendation=False)
        grade = base_batch.grade[0]
        g = GRADES.index(grade)
        out = NextGrade(firm_id=base_profile.firm_id, stage=base_batch.stage[0], score=float(base_batch.score[0]),
                        grade=grade, pd=float(base_batch.pd[0]),
                        knockouts=[k for k in base_batch.knockout_codes()[0].split(";") if k],
                        max_changes=self.max_changes, policy_version=self.scorer.policy.policy_version,
                        model_version=base_batch.model_version)
        if g == 0:
            out.message = "已是最高评级 / already at the best grade"
            return out
        bound = GRADE_UPPER_PD[g - 1]
        base_points = float(_unclipped(base_batch)[0])
        needed = float(self.scorer.scale.score_from_pd(bound)) - base_points
        out.target_grade, out.target_pd_below, out.points_needed = GRADES[g - 1], bound, round(needed, 2)
        opts, scored, left_out = self._options(base, base_points)
        found, scored_more = self._search(base, opts, bound, needed)
        out.candidates_scored = scored + scored_more
        if found is None:
            per_lever = sorted((max(o.gain for o in opts if o.lever == lv) for lv in {o.lever for o in opts}), reverse=True)
            best = sum(per_lever[: self.max_changes])
            out.levers = self.lever_report(opts, left_out, set())
            out.message = (f"{self.max_changes} 项可行调整内无法晋级：约可增加 {best:.1f} 分，需 {needed:.1f} 分 / "
                           f"no path within {self.max_changes} realistic changes: the levers add about "
                           f"{best:.1f} of the {needed:.1f} points needed")
            return out
        out.levers = self.lever_report(opts, left_out, {o.lever for o in found})
        self._path(out, base, base_profile, found, base_batch, as_of_default)
        return out

    def _search(self, base: CleanColumns, opts: list[_Option], bound: float, needed: float
                ) -> tuple[list[_Option] | None, int]:
        """Fewest levers first; within a size, least effort (smaller steps), then most points."""
        by_lever: dict[int, list[_Option]] = {}
        for o in opts:
            by_lever.setdefault(o.lever, []).append(o)
        levers = sorted(by_lever)
        scored = 0
        for k in range(1, min(self.max_changes, len(levers)) + 1):
            combos = self._ranked(levers, by_lever, k, needed)
            if not combos:
                continue
            combos = combos[:VERIFY_PER_SIZE]
            cols, ok = self._frame(base, [[(o.lever, o.step) for o in c] for c in combos])
            pd_ = self.scorer.score(cols, with_recommendation=False).pd
            scored += len(combos)
            hit = np.flatnonzero(ok & (pd_ < bound))
            if hit.size:
                return combos[hit[0]], scored
        return None, scored

    @staticmethod
    def _ranked(levers: list[int], by_lever: dict[int, list[_Option]], k: int, needed: float) -> list[list[_Option]]:
        """Combinations of k levers (one step each) whose summed single gains come near the target, best first."""
        best = {lv: max(o.gain for o in by_lever[lv]) for lv in levers}
        subsets = [s for s in itertools.combinations(levers, k) if sum(best[lv] for lv in s) >= needed - ESTIMATE_SLACK]
        ranked = []
        for s in subsets:
            for choice in itertools.product(*(by_lever[lv] for lv in s)):
                est = sum(o.gain for o in choice)
                if est >= needed - ESTIMATE_SLACK:
                    effort = sum(o.step + 1 for o in choice)
                    ranked.append((est < needed, effort, -est, list(choice)))
        ranked.sort(key=lambda r: r[:3])  # estimated to reach first, then least effort, then most points
        return [r[3] for r in ranked]

    def _path(self, out: NextGrade, base: CleanColumns, base_profile: FirmProfile, chosen: list[_Option],
              base_batch: ScoreBatch, as_of_default: date | None) -> None:
        """The chosen steps in order of points, each with the points it adds, and the exact re-scoring (into `out`)."""
        chosen = sorted(chosen, key=lambda o: -o.gain)
        prefixes = [[(o.lever, o.step) for o in chosen[: j + 1]] for j in range(len(chosen))]
        cols, _ = self._frame(base, prefixes)
        batch = self.scorer.score(cols, with_recommendation=False)
        scores = np.concatenate([[base_batch.score[0]], batch.score])
        steps = []
        for j, o in enumerate(chosen):
            lever = self.levers[o.lever]
            before = base if j == 0 else {f: v[j - 1: j] for f, v in cols.items()}
            moved = [lever.field] + [c.field for c in lever.also]
            pairs = [FieldMove(f, _python(f, before[f][0]), _python(f, cols[f][j])) for f in moved]
            steps.append(PathStep(lever.field, FIELD_SPECS[lever.field].label_zh, FIELD_SPECS[lever.field].label_en,
                                  lever.steps[o.step], [m for m in pairs if m.before != m.after],
                                  round(float(scores[j + 1] - scores[j]), 2), batch.grade[j]))
        final = {f: _python(f, cols[f][-1]) for f in sorted(self.fields)
                 if _python(f, base[f][0]) != _python(f, cols[f][-1])}
        result = what_if(self.scorer, base_profile, final, as_of_default)
        after = result.batch.grade[result.after]
        out.reachable = GRADES.index(after) < GRADES.index(base_batch.grade[0])
        out.steps, out.changes, out.result = steps, final, result
        out.message = (f"{len(steps)} 项调整可将评级从 {base_batch.grade[0]} 提升至 {after} / "
                       f"{len(steps)} change(s) lift the grade from {base_batch.grade[0]} to {after}")


def next_grade(scorer: Scorer, profile: Mapping[str, Any] | FirmProfile, as_of_default: date | None = None) -> NextGrade:
    """The smallest set of realistic changes lifting the firm at least one grade (see NextGradeSearch)."""
    return NextGradeSearch(scorer).run(profile, as_of_default)
