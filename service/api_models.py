"""Response models of the API, mirroring `models.scoring.ScoreBatch.record` (the request model is FirmProfile)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from models.scaling import GRADES
from service.decision_models import Recommendation
from service.errors import FieldError

Grade = Literal[GRADES]  # type: ignore[valid-type]


class DimensionResult(BaseModel):
    key: str = Field(description="Dimension key, e.g. tech_ip")
    label_zh: str
    label_en: str
    points: float = Field(description="Points this dimension adds to the score (sum of its indicators)")
    rating: float = Field(description="0–100 percentile of these points among reference firms of the same stage")


class KnockOutResult(BaseModel):
    code: str = Field(description="Stable knock-out code, e.g. KO_OVERDUE")
    rule: str
    text_zh: str
    text_en: str


class Reason(BaseModel):
    code: str = Field(description="Indicator code + D (costs points), U (earns points) or M (missing)")
    indicator: str
    dimension: str
    label_zh: str
    label_en: str
    value: float | None = Field(description="The firm's indicator value (null when missing)")
    stage_median: float | None = Field(description="Median of the indicator among reference firms of the same stage")
    points: float
    text_zh: str
    text_en: str


class ScoreRecord(BaseModel):
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
    recommendation: Recommendation = Field(description="Decision, limit and its arithmetic, products (credit policy)")


class Assessment(ScoreRecord):
    """A recorded assessment: the score plus its audit identity."""
    assessment_id: str = Field(description="Id of the audit record (GET /v1/assessments/{id})")
    assessed_at: str = Field(description="UTC time the assessment was made and recorded (ISO 8601)")


class BatchItem(BaseModel):
    index: int = Field(description="Position of the firm in the submitted array")
    ok: bool
    assessment: Assessment | None = None
    errors: list[FieldError] | None = Field(None, description="Field errors (same shape as a 422's errors)")


class BatchResult(BaseModel):
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
    channel: Literal["single", "batch", "csv"]
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
    model_dir: str | None = Field(None, description="Bundle directory; the configured one when omitted")


class Health(BaseModel):
    status: str
    model_version: str | None = None
    detail: str | None = None
