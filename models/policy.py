"""Credit policy: a versioned YAML file validated on load (stages, limits, products, knock-outs, levers).

The defaults (`policy_default.yaml`, domain brief §5) ship with the package; a bank points
`TECHSCORE_POLICY` (or `--policy`) at its own file. Every validation error names its key path
and the rule broken, e.g. `caps.startup: must be > 0`.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from features.indicators import prepare_columns
from features.registry import INDICATORS
from features.schema import FIELD_SPECS
from features.stage import STAGES, StageRules
from models.changes import Change, ChangeError, parse_change
from models.rules import ASSESSMENT_FIELDS, ENUM_ORDER, Condition
from models.scaling import GRADES

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy_default.yaml")
POLICY_ENV = "TECHSCORE_POLICY"
STAGE_NAMES = STAGES

# Never a lever for the next grade: who the firm is, its dates and request, its past (earlier
# years, multi-year histories) and its credit record. Tax grade is re-rated every year on current
# conduct and guarantees given to others can be released, so those two credit fields may move.
_HISTORY = frozenset({"revenue_y1", "revenue_y2", "rd_expense_y1", "rd_expense_y2", "net_assets_y1",
                      "insured_staff_prev", "founder_industry_years", "key_staff_turnover_12m", "ip_new_3y",
                      "tech_conversions_3y", "gov_grants_3y", "equity_raised_total", "equity_raised_2y",
                      "latest_round", "latest_round_date"})
_CREDIT_ACTIONABLE = frozenset({"tax_grade", "guarantees_outstanding"})


class PolicyError(ValueError):
    """The policy file is missing, not YAML, or breaks a rule; the message lists every problem."""


def never_actionable(field: str) -> bool:
    """True for fields a firm cannot change (identity, dates, request, history, past credit record)."""
    spec = FIELD_SPECS[field]
    return (spec.group in ("identity", "request") or spec.kind in ("date", "text") or field in _HISTORY
            or (spec.group == "credit" and field not in _CREDIT_ACTIONABLE))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageSection(_Section):
    startup_max_age_years: float = Field(gt=0)
    startup_max_revenue: float = Field(ge=0)
    mature_min_revenue: float = Field(gt=0)
    mature_min_age_years: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "StageSection":
        if self.mature_min_revenue < self.startup_max_revenue:
            raise ValueError("mature_min_revenue must be ≥ startup_max_revenue")
        if self.mature_min_age_years < self.startup_max_age_years:
            raise ValueError("mature_min_age_years must be ≥ startup_max_age_years")
        return self

    def rules(self) -> StageRules:
        return StageRules(**self.model_dump())


def _grade(v: str) -> str:
    if v not in GRADES:
        raise ValueError(f"{v!r} is not a grade ({', '.join(GRADES)})")
    return v


class DecisionSection(_Section):
    approve_min_grade: str
    refer_min_grade: str

    _grades = field_validator("approve_min_grade", "refer_min_grade")(_grade)

    @model_validator(mode="after")
    def _ordered(self) -> "DecisionSection":
        if GRADES.index(self.refer_min_grade) < GRADES.index(self.approve_min_grade):
            raise ValueError("refer_min_grade must not be better than approve_min_grade")
        return self


class _Factors(_Section):
    @model_validator(mode="after")
    def _non_increasing(self) -> "_Factors":
        for better, worse in zip(GRADES, GRADES[1:]):
            if getattr(self, worse) > getattr(self, better):
                raise ValueError(f"{worse}: factor {getattr(self, worse):g} must not exceed "
                                 f"the better grade {better}'s {getattr(self, better):g}")
        return self

    def at(self, grade_positions: np.ndarray) -> np.ndarray:
        """Factor of each grade given as its position in GRADES (len(GRADES), an unknown grade: 0)."""
        return np.array([getattr(self, g) for g in GRADES] + [0.0])[grade_positions]


# Grade factor per grade: one field per grade of models.scaling, each between 0 and 1.
GradeFactors = create_model("GradeFactors", __base__=_Factors,
                            **{g: (float, Field(ge=0, le=1)) for g in GRADES})  # type: ignore[call-overload]


class Caps(_Section):
    startup: float = Field(gt=0)
    growth: float = Field(gt=0)
    mature: float = Field(gt=0)


class StarSection(_Section):
    min_grade: str
    tiers: list[Literal["none", "tech_sme", "hnte", "srdi_provincial", "little_giant", "champion"]] = Field(min_length=1)
    cap: float = Field(gt=0)

    _grades = field_validator("min_grade")(_grade)


class LimitSection(_Section):
    round_down_to: float = Field(gt=0)


class WorkingCapital(_Section):
    turnover_default: float | None = Field(gt=0)
    use_observed_growth: bool
    expected_growth_default: float = Field(ge=0, le=1)
    expected_growth_max: float = Field(ge=0, le=2)
    # Conservative bases when the facts are not given (said in the answer): shares of the need itself,
    # so a strong firm is never zeroed by a balance-sheet guess.
    own_funds_share_of_need: float = Field(ge=0, lt=1)
    existing_loans_share_of_need: float = Field(ge=0, lt=1)
    share_of_revenue_fallback: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _growth(self) -> "WorkingCapital":
        if self.expected_growth_default > self.expected_growth_max:
            raise ValueError("expected_growth_default must be ≤ expected_growth_max")
        if self.own_funds_share_of_need + self.existing_loans_share_of_need >= 1:
            raise ValueError("own_funds_share_of_need + existing_loans_share_of_need must be < 1")
        return self


class StartupSection(_Section):
    equity_share: float = Field(gt=0, le=1)
    revenue_share: float = Field(gt=0, le=1)


class Sizing(_Section):
    """How each product and the alternative limit bases are sized (domain brief §5)."""

    ip_pledge_rate: float = Field(gt=0, le=1)
    ip_value_per_patent: float = Field(gt=0)      # proxy appraisal per granted invention patent
    ip_proxy_max_patents: int = Field(ge=1)       # the proxy counts at most this many patents
    round_share: float = Field(gt=0, le=1)
    round_amount_from_equity_2y: float = Field(gt=0, le=1)  # round amount unknown: this share of 2-year equity
    conversion_share: float = Field(gt=0, le=1)   # of the conversion contract value (else of 3-year grants)


_CODE = r"^[A-Z][A-Z0-9_]*$"


ProductSizing = Literal["limit", "ip_pledge", "conversion", "round_share"]


class Product(_Section):
    code: str = Field(pattern=_CODE)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    sizing: ProductSizing            # limit: the firm's limit; else the product's own basis (policy `sizing`)
    cap: float | None = Field(None, gt=0)  # the product's own cap (else the firm's cap)
    all_of: list[Condition] = []
    any_of: list[Condition] = []

    @model_validator(mode="after")
    def _has_rule(self) -> "Product":
        if not self.all_of and not self.any_of:
            raise ValueError("a product needs at least one condition in all_of or any_of")
        return self


class JointLoan(_Section):
    code: str = Field(pattern=_CODE)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    single_bank_appetite: float = Field(gt=0)
    min_banks: int = Field(ge=2)
    caps: Caps                         # joint-loan caps by stage, above the single-bank caps
    startup_first_loan_max_lenders: int = Field(ge=0)  # a startup's joint loan is a first loan


class KnockOutRule(_Section):
    code: str = Field(pattern=r"^KO_[A-Z0-9_]+$")
    text_zh: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    any_of: list[Condition] = Field(min_length=1)

    @field_validator("any_of")
    @classmethod
    def _profile_only(cls, conds: list[Condition]) -> list[Condition]:
        for c in conds:
            if c.field in ASSESSMENT_FIELDS:
                raise ValueError(f"knock-outs test the profile only, not {c.field!r} (they hold whatever the score)")
        return conds

    @property
    def rule(self) -> str:
        return " or ".join(c.describe() for c in self.any_of)


class SegmentRule(KnockOutRule):
    """A firm is outside the product segment when any condition holds (checked before the score counts)."""

    code: str = Field(pattern=r"^SEG_[A-Z0-9_]+$")


class Companion(_Section):
    field: str
    factor: float

    @model_validator(mode="after")
    def _numeric(self) -> "Companion":
        spec = FIELD_SPECS.get(self.field)
        if spec is None or spec.kind not in ("number", "integer") or spec.group in ("identity", "request"):
            raise ValueError(f"{self.field!r} must be a numeric profile field")
        if self.factor == 0:
            raise ValueError("factor must not be 0")
        return self


class CapBy(_Section):
    field: str
    share: float = Field(gt=0)
    min: float = Field(0, ge=0)

    @field_validator("field")
    @classmethod
    def _numeric(cls, v: str) -> str:
        spec = FIELD_SPECS.get(v)
        if spec is None or spec.kind not in ("number", "integer"):
            raise ValueError(f"{v!r} must be a numeric profile field")
        return v


class HighTech(_Section):
    """高新技术企业 criteria (public): a path proposes the status only when they hold after its other steps."""

    intensity_by_revenue: list[tuple[float, float]] = Field(min_length=1)  # (revenue up to, min R&D intensity)
    intensity_above: float = Field(gt=0, lt=1)                             # above the last band
    min_hightech_revenue_share: float = Field(gt=0, le=1)
    min_rd_staff_share: float = Field(gt=0, le=1)


class Lever(_Section):
    """A field a firm can change, with the steps it may realistically take."""

    field: str
    steps: list[str] = Field(min_length=1)
    also: list[Companion] = []
    direction: Literal["up", "down"] | None = None
    # Feasibility within 12 months: the step moves the field by at most share × `cap_by.field` (at least
    # `min`); a firm whose cap_by field is missing is not offered the lever (missing is not zero).
    cap_by: CapBy | None = None

    @model_validator(mode="after")
    def _check(self) -> "Lever":
        if self.field not in FIELD_SPECS:
            raise ValueError(f"unknown field {self.field!r}")
        if never_actionable(self.field):
            raise ValueError(f"{self.field} cannot be a lever: it is identity, a date, history or past credit record")
        spec = FIELD_SPECS[self.field]
        if spec.kind not in ("number", "integer") and self.field not in ENUM_ORDER:
            raise ValueError(f"{self.field} is a {spec.kind}; levers move numbers or ordered enums")
        if self.also and spec.kind not in ("number", "integer"):
            raise ValueError("`also` needs a numeric lever field")
        if any(c.field == self.field for c in self.also):
            raise ValueError("`also` must not repeat the lever's own field")
        signs = {c.sign for c in self.changes} - {0}
        if len(signs) > 1:
            raise ValueError("steps must all move the field the same way")
        declared = {"up": 1, "down": -1}.get(self.direction or "")
        if signs and declared is not None and signs != {declared}:
            raise ValueError(f"direction {self.direction} disagrees with the signs of the steps")
        if not signs and declared is None:
            raise ValueError("set `direction: up|down` when no step is signed (+N, −N%)")
        _check_monotone(self.field, self.sign)
        return self

    @property
    def changes(self) -> tuple[Change, ...]:
        out = []
        for i, step in enumerate(self.steps):
            try:
                out.append(parse_change(self.field, step))
            except ChangeError as exc:
                raise ValueError(f"steps[{i}]: {exc}") from None
        return tuple(out)

    @property
    def sign(self) -> int:
        """+1 when the lever raises the field (or its enum level), −1 when it lowers it."""
        signs = {c.sign for c in self.changes} - {0}
        return signs.pop() if signs else {"up": 1, "down": -1}[self.direction or "up"]


def _check_monotone(field: str, sign: int) -> None:
    """The lever must lower risk on every monotone indicator computed from its field alone."""
    if field in ENUM_ORDER:
        order = ENUM_ORDER[field]
        probe = np.array(order[1:3] if sign > 0 else order[2:0:-1], dtype=object)
    else:
        probe = np.array([1.0, 2.0] if sign > 0 else [2.0, 1.0])
    cols = prepare_columns({field: probe}, n=2)
    for ind in INDICATORS:
        if ind.inputs == (field,) and ind.direction != 0:
            with np.errstate(all="ignore"):
                v = ind.fn(cols)
            if (v[1] - v[0]) * ind.direction > 0:
                way = "up" if sign > 0 else "down"
                raise ValueError(f"moving {field} {way} raises risk on indicator {ind.key} "
                                 f"(monotone direction {ind.direction:+d}); a lever must lower risk")


class NextGrade(_Section):
    max_changes: int = Field(ge=1, le=6)
    high_tech: HighTech
    levers: list[Lever] = Field(min_length=1)

    @field_validator("levers")
    @classmethod
    def _unique(cls, levers: list[Lever]) -> list[Lever]:
        seen = [lv.field for lv in levers]
        dup = {f for f in seen if seen.count(f) > 1}
        if dup:
            raise ValueError(f"a field may be one lever only: {', '.join(sorted(dup))}")
        return levers


class Policy(_Section):
    """A bank's credit policy (see policy_default.yaml for every key and its meaning)."""

    policy_version: str = Field(min_length=1)
    description: str = ""
    stage: StageSection
    decision: DecisionSection
    grade_factors: GradeFactors
    caps: Caps
    star: StarSection
    limit: LimitSection
    working_capital: WorkingCapital
    startup: StartupSection
    sizing: Sizing
    products: list[Product]
    joint_loan: JointLoan
    segment: list[SegmentRule]
    knockouts: list[KnockOutRule]
    next_grade: NextGrade

    @model_validator(mode="after")
    def _cross(self) -> "Policy":
        jc = self.joint_loan.caps
        biggest = max(self.caps.startup, self.caps.growth, self.caps.mature, jc.startup, jc.growth, jc.mature)
        if self.star.cap < biggest:
            raise ValueError(f"star.cap: must be ≥ the largest stage cap, joint caps included ({biggest:g})")
        if self.joint_loan.single_bank_appetite % self.limit.round_down_to:
            raise ValueError("joint_loan.single_bank_appetite: must be a multiple of limit.round_down_to")
        codes = [p.code for p in self.products] + [self.joint_loan.code]
        if len(set(codes)) != len(codes):
            raise ValueError("products: product codes (joint_loan.code included) must be unique")
        ko = [k.code for k in self.knockouts]
        if len(set(ko)) != len(ko):
            raise ValueError("knockouts: codes must be unique")
        seg = [k.code for k in self.segment]
        if len(set(seg)) != len(seg):
            raise ValueError("segment: codes must be unique")
        for stage in STAGE_NAMES:
            if getattr(self.joint_loan.caps, stage) < getattr(self.caps, stage):
                raise ValueError(f"joint_loan.caps.{stage}: must be ≥ caps.{stage}")
        return self

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (first 16 hex) of the validated content: two files with the same rules match."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


_MESSAGES = {
    "missing": "is required", "extra_forbidden": "unknown key", "float_parsing": "must be a number",
    "float_type": "must be a number", "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number", "string_type": "must be text", "list_type": "must be a list",
    "dict_type": "must be a mapping", "model_type": "must be a mapping", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "string_pattern_mismatch": "has the wrong format",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: dict[str, Any]) -> str:
    t, ctx = err["type"], err.get("ctx") or {}
    bounds = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
    if t in bounds:
        limit = next(iter(v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le")))
        return f"must be {bounds[t]} {limit:g}"
    if t == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {err.get('input')!r}"
    if t in ("too_short", "string_too_short"):
        return "must not be empty"
    if t == "value_error":
        return err["msg"].removeprefix("Value error, ")
    return _MESSAGES.get(t, err["msg"])


def format_errors(exc: ValidationError) -> list[str]:
    """One line per problem: 'key.path: rule'."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        path = _path(loc)
        lines.append(f"{path}: {_message(err)}" if path else _message(err))
    return lines


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """Validate an already-parsed YAML document."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: the policy must be a YAML mapping of keys")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: invalid policy\n  " + "\n  ".join(format_errors(exc))) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at `path`, else at $TECHSCORE_POLICY, else the packaged defaults."""
    chosen = path or os.environ.get(POLICY_ENV) or None
    if chosen is None:
        return default_policy()
    return _read(Path(chosen))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return _read(DEFAULT_POLICY_PATH)


def _read(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_policy(data, str(path))
