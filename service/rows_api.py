"""`POST /v1/scores/rows`: score rows in the served model's own columns, whatever model that is.

A model trained in the generic tabular mode reads a bank's own columns, not the firm-profile
schema, so its rows arrive as flat JSON objects keyed by those column names (a firm-profile
model accepts the schema's fields the same way). Every scored row is written to the audit
trail before the answer is sent, like the other scoring endpoints.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Callable

import orjson
import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends
from fastapi.responses import Response

from features.tabular import TabularConfigError
from models.bundle import BundleError
from service.errors import ApiProblem, problem_response
from service.ids import new_id
from service.store import AuditRecord

CHANNEL = "rows"


def _score(scorer: Any, rows: list[dict[str, Any]]) -> tuple[Any, pd.DataFrame, list[int]]:
    """Validate and score; (batch, rejects, input positions of the scored rows)."""
    frame = pd.DataFrame.from_records(rows).astype(object)
    checked = scorer.validate(frame, as_of_default=date.today())
    return scorer.score_frame(checked.clean), checked.rejects, [int(i) for i in checked.clean.index]


def install_model_mismatch_handler(app: FastAPI) -> None:
    """A request the served model cannot take (firm profiles sent to a generic-mode model) is a 409, not a 500."""

    @app.exception_handler(BundleError)
    async def _mismatch(request: Request, exc: BundleError) -> Response:
        return problem_response(409, str(exc), request.url.path)


def rows_router(current_model: Callable[[], Any], record: Callable[[list[AuditRecord]], Awaitable[None]],
                key_dependency: Depends, batch_limit: int) -> APIRouter:
    """The rows endpoint; `record` writes audit records (or raises the API's 503), `key_dependency` authenticates."""
    router = APIRouter(tags=["scoring"])

    @router.post("/v1/scores/rows", summary="Score rows in the model's own columns (any model, incl. generic mode)")
    async def score_rows(request: Request, key: Any = key_dependency) -> Response:
        """A JSON array of flat objects keyed by the model's column names → one result per row, in order;
        a row that breaks a rule gets its own errors (field, rule, value) and does not fail the request."""
        model = current_model()
        try:
            rows = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise ApiProblem(400, f"the body is not valid JSON: {exc}") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiProblem(422, "the body must be a JSON array of objects, one per row")
        if len(rows) > batch_limit:
            raise ApiProblem(413, f"{len(rows)} rows exceed the batch limit of {batch_limit}")
        if not rows:
            raise ApiProblem(422, "the array is empty")
        try:
            batch, rejects, positions = await run_in_threadpool(_score, model.scorer, rows)
        except TabularConfigError as exc:
            raise ApiProblem(422, str(exc)) from exc
        items: list[dict[str, Any]] = [{"index": i, "ok": True} for i in range(len(rows))]
        for row, group in rejects.groupby("row"):
            items[int(row)] = {"index": int(row), "ok": False, "errors": [
                {"field": r["field"], "rule": r["rule"], "value": r["value"], "problem": r["message"]}
                for r in group.to_dict(orient="records")]}
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        records = []
        for k, i in enumerate(positions):
            out = {"assessment_id": new_id(), "assessed_at": at} | batch.record(k)
            items[i]["assessment"] = out
            records.append(AuditRecord(out["assessment_id"], at, out["firm_id"], key.id, CHANNEL, out["model_version"],
                                       json.dumps(rows[i], ensure_ascii=False), orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY).decode()))
        if records:
            await record(records)
        body = {"scored": len(positions), "rejected": len(rows) - len(positions), "results": items}
        return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")

    return router
