"""Response models of the API: the enforced shape of every answer `service.api.answers` builds (the request model is
FirmProfile). Field order is the order of the keys sent."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from models.scaling import GRADES
from service.api.decision_models import Answer, Recommendation
from service.api.errors import FieldError

Grade = Literal[GRADES]  # type: ignore[valid-type]


class DimensionResult(Answer):
    key: str = Field(description="Dimension key, e.g. tech_ip")
    label_zh: str
    label_en: str
    points: float = Field(description="Points this dimension adds to the score (sum of its indicators)")
    rating: float = Field(description="0–100 percentile of these points among reference firms of the same stage")


class KnockOutResult(Answer):
    code: str = Field(description="Stable knock-out code, e.g. KO_OVERDUE")
    rule: str
    text_zh: str
    text_en: str


class Reason(Answer):
    code: str = Field(description="Indicator code + D (worse than the stage median), U (better), M (not provided), "
                                  "N (not computable), L / H (below / above the sound range)")
    indicator: str
    dimension: str
    label_zh: str
    label_en: str
    value: float | None = Field(description="The firm's value in the field's unit (万元, %, 件 …; null when missing)")
    stage_median: float | None = Field(description="Median among reference firms of the same stage, same unit")
    points: float = Field(description="The firm's points minus the stage-median firm's for this indicator")
    text_zh: str
    text_en: str
    comparison: str | None = Field(default=None, description="higher / lower / equal than the stage median, or not_provided")
    unit: str | None = None
    value_text_zh: str | None = None
    stage_median_text_zh: str | None = None
    value_text_en: str | None = None
    stage_median_text_en: str | None = None
    category: str | None = Field(default=None, description="A bank's categorical column (generic mode): the firm's "
                                                          "category (absent for indicators)")


class CoverageShortfall(Answer):
    key: str = Field(description="Dimension key")
    label_zh: str
    label_en: str
    coverage: float = Field(description="Share of the dimension's indicators with a value, 0–1")


class InsufficientData(Answer):
    decision: Literal["refer: insufficient data"]
    min_coverage: float = Field(description="The minimum share of a dimension's indicators with a value")
    dimensions: list[CoverageShortfall] = Field(description="The dimensions below the minimum")
    fields_to_collect: list[str] = Field(description="Input fields to collect before scoring again")
    text_zh: str
    text_en: str


class StageCheck(Answer):
    declared: str | None = Field(description="The lifecycle stage declared in the profile (null: none)")
    from_data: str | None = Field(description="The stage the data shows (null: the data cannot tell)")
    used: str = Field(description="The stage the model reads")
    conflict: bool
    limit_stage: str = Field(description="The stage the limit's cap uses (the stricter one on a conflict)")
    text_zh: str | None = Field(default=None, description="Set on a conflict only")
    text_en: str | None = Field(default=None, description="Set on a conflict only")


class ScoreRecord(Answer):
    """One firm's score as the scoring core produces it."""
    firm_id: str
    lifecycle_stage: str
    pd: float = Field(description="Probability of default within 12 months")
    score: float = Field(description="base_points + Σ dimension points + clip_points, 300–900")
    grade: Grade = Field(description="AAA … C by PD")
    base_points: float
    dimensions: list[DimensionResult]
    clip_points: float = Field(description="Adjustment from clipping to 300–900 (0 inside the range)")
    knockouts: list[KnockOutResult] = Field(description="Policy declines that hold whatever the score")
    reasons_down: list[Reason] = Field(description="Up to 4 indicators costing the most points")
    reasons_up: list[Reason] = Field(description="Up to 4 indicators earning the most points")
    model_version: str
    insufficient_data: InsufficientData | None = Field(
        default=None, description="Set when a dimension's data coverage is below the minimum: the dimensions, the "
                                  "fields to collect; the decision is then refer (insufficient data)")
    stage_check: StageCheck | None = Field(
        default=None, description="Declared stage against the data's; on a conflict the stricter sets the limit")
    recommendation: Recommendation = Field(description="Decision, limit and its arithmetic, products (credit policy)")


class AuditIdentity(Answer):
    assessment_id: str = Field(description="Id of the audit record (GET /v1/assessments/{id})")
    assessed_at: str = Field(description="UTC time the assessment was made and recorded (ISO 8601)")


class Assessment(ScoreRecord, AuditIdentity):
    """A recorded assessment: its audit identity (first), then the score."""


class BatchItem(Answer):
    index: int = Field(description="Position of the firm in the submitted array")
    ok: bool
    assessment: Assessment | None = None
    errors: list[FieldError] | None = Field(None, description="Field errors (same shape as a 422's errors)")


class BatchResult(Answer):
    scored: int
    rejected: int
    results: list[BatchItem]


class UploadRef(BaseModel):
    """Where a CSV row's assessment came from."""
    id: str = Field(description="Id of the stored upload")
    row: int = Field(description="0-based data row of the file (the `row` column of the scored CSV)")
    file_sha256: str = Field(description="sha256 of the file as uploaded")
    mapping: str | None = Field(None, description="The column mapping (YAML) the upload was read with; empty if none")
    sheet: str | None = Field(None, description="The Excel sheet read, empty for the first or a CSV")
    normalised: str | None = Field(None, description="JSON: cells each normalisation changed (e.g. thousands_separator)")


class StoredAssessment(BaseModel):
    """An audit record: the answer exactly as it was returned, the input, and who asked.

    A CSV row's `input` is the file's cells (header → text) and its `output` the row of the scored CSV."""
    assessment_id: str
    assessed_at: str
    firm_id: str | None
    key_id: str
    channel: Literal["single", "batch", "csv", "rows"]
    model_version: str
    input: dict[str, Any]
    output: dict[str, Any]
    upload: UploadRef | None = Field(None, description="CSV rows only: the upload and row")


class AssessmentSummary(BaseModel):
    assessment_id: str
    assessed_at: str
    channel: str
    model_version: str
    score: float | None
    grade: str | None


class AssessmentHistory(BaseModel):
    firm_id: str
    assessments: list[AssessmentSummary]


class IndicatorInfo(BaseModel):
    key: str
    code: str
    dimension: str
    label_zh: str
    label_en: str
    unit: str
    direction: int = Field(description="+1 higher value raises default risk, −1 lowers it, 0 unconstrained")
    formula: str


class ModelInfo(BaseModel):
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    dimensions: list[dict[str, str]]
    indicators: list[IndicatorInfo]


class ReloadRequest(BaseModel):
    model_dir: str | None = Field(None, max_length=1024,
                                  description="Bundle directory relative to the models root; the configured one when omitted")
    override_not_ready: bool = Field(False, description="Serve the bundle even if its release verdict is not_ready (recorded)")


class Health(BaseModel):
    status: str
    model_version: str | None = None
    detail: str | None = None


class RowAssessment(Assessment):
    """A row scored by POST /v1/scores/rows: a generic-mode model may have no id column and no credit policy."""
    firm_id: str | None  # type: ignore[assignment]
    recommendation: Recommendation | None = None  # type: ignore[assignment]


class RowError(Answer):
    field: str = Field(description="Column name ('' for the row as a whole)")
    rule: str = Field(description="Rule code, e.g. required, type:number, le:1e+08, type:scalar")
    value: Any = Field(None, description="The value submitted")
    problem: str = Field(description="中文 / English explanation")


class RowItem(Answer):
    index: int = Field(description="Position of the row in the submitted array")
    ok: bool = Field(description="True when the row was scored (then `assessment` is set, else `errors`)")
    assessment: RowAssessment | None = None
    errors: list[RowError] | None = None


class RowsResult(Answer):
    scored: int
    rejected: int
    results: list[RowItem]


class RecentAssessment(AssessmentSummary):
    firm_id: str | None
    name: str | None
