"""Response models of the credit recommendation, what-if and next-grade: the enforced shape of the answers
`service.api.answers` builds from models.decision / models.whatif (field order is the order of the keys sent)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.scaling import GRADES

Grade = Literal[GRADES]  # type: ignore[valid-type]


class Answer(BaseModel):
    """A response model: what is sent holds exactly the keys declared (an undeclared key is a contract breach)."""
    model_config = ConfigDict(extra="forbid")


class LimitStep(Answer):
    key: str = Field(description="Step id, e.g. working_capital_need, grade_factor, cap, limit")
    label_en: str
    label_zh: str
    value: float | None = Field(description="The step's figure (万元, a share or a factor)")
    rule: str = Field(description="The formula or policy key that produced it")


class ProductResult(Answer):
    code: str = Field(description="Product code from the policy, e.g. IP_PLEDGE")
    name_zh: str
    name_en: str
    limit: float = Field(description="The product's own limit, 万元 (> 0: a product is listed only with a limit)")
    sizing: str = Field(description="How the product's limit was sized")
    rules: list[str] = Field(description="The conditions that made the firm eligible, with the firm's value")


class JointShare(Answer):
    bank: int
    role: Literal["lead", "participant"]
    amount: float = Field(description="万元")
    share: float = Field(description="Share of the limit, 0–1")


class JointLoanPlan(Answer):
    banks: int = Field(description="Suggested number of banks: ⌈limit / single-bank appetite⌉, at least min_banks")
    kind: Literal["first_loan", "cap_lift", "star", "appetite_split"]
    single_bank_appetite: float
    single_bank_cap: float
    joint_cap: float
    reason_zh: str
    reason_en: str
    shares: list[JointShare]


class SegmentHit(Answer):
    code: str = Field(description="Segment rule code, e.g. SEG_STAFF")
    rule: str
    text_zh: str
    text_en: str
    values: dict[str, Any] = Field(description="The firm's values the rule read")


class Assumption(Answer):
    code: str = Field(description="own_funds, loans_share, loans_none, ip_proxy, round_proxy, grants_proxy")
    text_zh: str
    text_en: str


class Recommendation(Answer):
    """What to offer: decision, limit with its arithmetic, products, and a joint-loan split above one bank's appetite."""
    decision: Literal["approve", "refer", "decline", "outside_segment"]
    decision_rule: str = Field(description="The rule that set the decision (segment, knock-out, grade band or limit), 中文 / English")
    decision_rule_zh: str = Field(description="决定所依据的规则（中文）")
    decision_rule_en: str = Field(description="The rule that set the decision, in English")
    segment: list[SegmentHit] = Field(description="Segment rules the firm falls foul of (outside_segment)")
    limit: float = Field(description="Suggested limit, 万元 (0 when declined or outside the segment)")
    unit: str
    limit_basis: Literal["working_capital", "revenue_share", "equity", "ip_pledge", "tech_transfer", "none"]
    limit_basis_zh: str
    limit_basis_en: str
    limit_steps: list[LimitStep] = Field(description="The arithmetic, step by step")
    assumptions: list[Assumption] = Field(description="Conservative bases used because a fact was not given")
    products: list[ProductResult]
    joint_loan: JointLoanPlan | None
    policy_version: str
    policy_fingerprint: str = Field(description="sha256 prefix of the validated policy content")


class FieldChange(Answer):
    model_config = ConfigDict(populate_by_name=True)
    field: str
    change: str | None = Field(None, description="The change as written, e.g. +20%")
    from_: Any = Field(alias="from")
    to: Any


class Side(Answer):
    score: float
    grade: Grade
    pd: float
    decision: str
    limit: float
    products: list[str]
    knockouts: list[str]
    recommendation: Recommendation


class DimensionMove(Answer):
    key: str
    label_zh: str
    label_en: str
    before: float
    after: float
    points: float = Field(description="Points moved (after − before)")


class IndicatorMove(Answer):
    code: str
    indicator: str
    dimension: str
    label_zh: str
    label_en: str
    before: float | None
    after: float | None
    points: float


class WhatIfResult(Answer):
    before: Side
    after: Side
    score_change: float = Field(description="= Σ dimension points moved + clip_points_change")
    clip_points_change: float
    dimensions: list[DimensionMove]
    indicators: list[IndicatorMove] = Field(description="Indicators whose points moved, largest first")
    model_version: str
    policy_version: str
    firm_id: str
    changes: list[FieldChange]
    changed_profile: dict[str, Any]


class WhatIfRequest(BaseModel):
    """A firm profile and the changes to try, e.g. {"invention_patents_granted": "+2", "rd_expense_y0": "+20%"}."""
    model_config = ConfigDict(extra="forbid")
    profile: dict[str, Any] = Field(description="A firm profile (schema FirmProfile)")
    changes: dict[str, str | float | int | bool] = Field(
        min_length=1, description="field → change: +N, −N, +N%, −N%, =other_field, or an absolute value")


class NextGradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: dict[str, Any] = Field(description="A firm profile (schema FirmProfile)")


class Current(Answer):
    score: float
    grade: Grade
    pd: float


class NextGradeStep(Answer):
    field: str
    label_zh: str
    label_en: str
    change: str = Field(description="The lever's step, e.g. +2 or +20%")
    changes: list[FieldChange] = Field(description="Every field the step moves (a lever may move companions)")
    points: float = Field(description="Points this step adds, applied after the steps before it")
    grade_after: Grade


class LeverStatus(Answer):
    field: str
    label_zh: str
    label_en: str
    status: Literal["used", "considered", "left_out"]
    reason_zh: str
    reason_en: str


class NextGradeResult(Answer):
    firm_id: str
    lifecycle_stage: str
    current: Current
    knockouts: list[str] = Field(description="Knock-outs stay whatever the grade: the decision stays decline")
    max_changes: int
    policy_version: str
    model_version: str
    reachable: bool
    target_grade: Grade | None
    target_pd_below: float | None
    points_needed: float | None
    candidates_scored: int
    steps: list[NextGradeStep]
    changes: dict[str, Any] = Field(description="Final values of every changed field (replay with what-if)")
    result: WhatIfResult | None = Field(description="The changed profile re-scored beside the current one")
    levers: list[LeverStatus] = Field(description="Every lever of the policy: used, considered, or left out and why")
    message: str = Field(description="中文 / English")
