"""`POST /v1/scores/rows`: score rows in the served model's own columns, whatever model that is.

A model trained in the generic tabular mode reads a bank's own columns, not the firm-profile
schema, so its rows arrive as flat JSON objects keyed by those column names (a firm-profile
model accepts the schema's fields the same way). Every scored row is written to the audit
trail before the answer is sent, like the other scoring endpoints.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from typing import Any

import orjson
import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from features.tabular import TabularConfigError
from features.schema import ALIASES, FIELD_SPECS, example_profiles
from models.bundle import BundleError
from service.api import answers
from service.api.deps import BatchLimit, CurrentModel, Officer, RecordAudit
from service.api.errors import ApiProblem, _jsonable, problem_response
from service.api.json_body import loads as loads_json
from service.api.models import RowsResult
from service.batch.ids import new_id
from service.store.audit import AuditRecord

CHANNEL = "rows"
_ROWS_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "array", "minItems": 1, "description": "One flat object per row, keyed by the model's column names",
               "items": {"type": "object", "additionalProperties": {
                   "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}}},
    "examples": {"one firm": {"value": [example_profiles()["growth"]]}}}}}}


def _score(scorer: Any, rows: list[dict[str, Any]]) -> tuple[Any, pd.DataFrame, list[int]]:
    """Validate and score; (batch, rejects, input positions of the scored rows)."""
    frame = pd.DataFrame.from_records(rows).astype(object)
    checked = scorer.validate(frame, as_of_default=date.today())
    return scorer.score(checked.clean), checked.rejects, [int(i) for i in checked.clean.index]


def _nested_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells that are lists or objects, which the body's schema forbids (stored, one once broke every
    later read of the officer's history): each with its JSON path, for a 422."""
    return [{"path": f"/{i}/{k}", "field": str(k), "rule": "type:scalar", "value": None,
             "problem": f"{k} 应为单个值(文本、数字、是/否或空)，而非{'列表' if isinstance(v, list) else '对象'} / "
                        f"{k} must be a single value (text, number, true/false or null), not a "
                        f"{'list' if isinstance(v, list) else 'object'} [row {i}]"}
            for i, row in enumerate(rows) for k, v in row.items() if isinstance(v, (list, dict))]


_EMPTY_ROW = [{"field": "", "rule": "required", "value": None, "problem": "空行：没有任何字段 / empty row: it has no fields"}]


def _cell(name: str, value: Any) -> Any:
    """A JSON cell as the frame validator should judge it. Integers beyond 64 bits become floats (infinite
    when they overflow) and true/false in a schema number field becomes its text, so the validator
    rejects them by the field's rule instead of failing to convert them or reading false as 0."""
    if isinstance(value, bool):
        field = ALIASES.get(name, name)
        return str(value).lower() if field in FIELD_SPECS and FIELD_SPECS[field].kind in ("number", "integer") else value
    if isinstance(value, int) and not -(1 << 63) <= value < (1 << 63):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def install_model_mismatch_handler(app: FastAPI) -> None:
    """A request the served model cannot take (firm profiles sent to a generic-mode model) is a 409, not a 500."""

    @app.exception_handler(BundleError)
    async def _mismatch(request: Request, exc: BundleError) -> Response:
        return problem_response(409, str(exc), request.url.path)


def rows_router() -> APIRouter:
    """The rows endpoint; `record` writes audit records (or raises the API's 503), `key` authenticates."""
    router = APIRouter(tags=["scoring"])

    @router.post("/v1/scores/rows", summary="Score rows in the model's own columns (any model, incl. generic mode)",
                 response_model=RowsResult, openapi_extra=_ROWS_BODY)
    async def score_rows(request: Request, key: Officer, current_model: CurrentModel, record: RecordAudit,
                         batch_limit: BatchLimit) -> Response:
        """A JSON array of flat objects keyed by the model's column names → one result per row, in order;
        a row that breaks a rule gets its own errors (field, rule, value) and does not fail the request."""
        model = current_model()
        rows = loads_json(await request.body())
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiProblem(422, "the body must be a JSON array of objects, one per row")
        if len(rows) > batch_limit:
            raise ApiProblem(413, f"{len(rows)} rows exceed the batch limit of {batch_limit}")
        if not rows:
            raise ApiProblem(422, "the array is empty")
        if nested := _nested_cells(rows):
            raise ApiProblem(422, f"{len(nested)} cell(s) are lists or objects, not single values", nested)
        items: list[dict[str, Any]] = [{"index": i, "ok": True} for i in range(len(rows))]
        good, cells = [], []  # input positions of the rows sent to the validator, and their cells
        for i, row in enumerate(rows):
            if not row:
                items[i] = {"index": i, "ok": False, "errors": _EMPTY_ROW}
            else:
                good.append(i)
                cells.append({k: _cell(k, v) for k, v in row.items()})
        positions: list[int] = []
        if good:
            try:
                batch, rejects, scored = await run_in_threadpool(_score, model.scorer, cells)
            except TabularConfigError as exc:
                raise ApiProblem(422, str(exc)) from exc
            positions = [good[k] for k in scored]
            for row, group in rejects.groupby("row"):
                i = good[int(row)]
                items[i] = {"index": i, "ok": False, "errors": [
                    {"field": r["field"], "rule": r["rule"], "value": _jsonable(r["value"]), "problem": r["message"]}
                    for r in group.to_dict(orient="records")]}
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        for k, i in enumerate(positions):
            items[i]["assessment"] = answers.row_assessment(batch, k, new_id(), at)
        for item in items:  # every row is answered: scored, or with the reason it was not
            if item["ok"] and "assessment" not in item:
                item.update(ok=False, errors=[{"field": "", "rule": "not_scored", "value": None,
                                               "problem": "该行未能评分 / the row could not be scored"}])
        answer = answers.rows_result(len(positions), len(rows) - len(positions), items)  # checked against RowsResult
        records = []
        for i in positions:
            out = answer.model.results[i].assessment
            records.append(AuditRecord(out.assessment_id, at, out.firm_id, key.id, CHANNEL, out.model_version,
                                       json.dumps(rows[i], ensure_ascii=False),
                                       orjson.dumps(items[i]["assessment"], option=orjson.OPT_SERIALIZE_NUMPY)))
        if records:
            await record(records)
        return answers.JsonAnswer(answer.json)

    return router
