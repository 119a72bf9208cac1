"""The audit trail as the API shows it: `GET /v1/assessments/{id}`, a firm's history (`GET /v1/assessments`)
and the caller's own recent assessments (`GET /v1/me/assessments`, the web page's history)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from service.api import answers, errors
from service.api.deps import ApiState, Audit, Officer
from service.api.errors import ApiProblem
from service.api.models import AssessmentHistory, AssessmentSummary, RecentAssessment, StoredAssessment
from service.store.history import history_page

def assessments_router() -> APIRouter:
    """A recorded assessment and a firm's history."""
    router = APIRouter()

    @router.get("/v1/assessments/{assessment_id}", response_model=StoredAssessment, tags=["audit"],
                responses=errors.openapi_responses(401, 403, 404), summary="A recorded assessment")
    async def get_assessment(assessment_id: str, api: ApiState, key: Officer) -> Response:
        """The assessment exactly as it was returned, with its input and model version."""
        stored = await run_in_threadpool(api.audit().get, assessment_id)
        if stored is None or (key.role != "admin" and stored["key_id"] != key.id):  # others' records do not exist for you
            raise ApiProblem(404, f"no assessment {assessment_id!r} visible to key {key.id!r}")
        return Response(answers.json_bytes(stored), media_type="application/json")

    @router.get("/v1/assessments", response_model=AssessmentHistory, tags=["audit"],
                responses=errors.openapi_responses(401, 403, 422), summary="A firm's assessment history")
    async def list_assessments(api: ApiState, key: Officer,
                               firm_id: str = Query(..., min_length=1, max_length=64,
                                                    description="统一社会信用代码 / Unified social credit code"),
                               limit: int = Query(100, ge=1, le=1000)) -> Response:
        """A firm's assessments, newest first (an officer sees the ones made with their own key)."""
        rows = await run_in_threadpool(api.audit().summaries, firm_id, None if key.role == "admin" else key.id, limit)
        summaries = [{k: r[k] for k in AssessmentSummary.model_fields} for r in rows]
        return Response(answers.json_bytes({"firm_id": firm_id, "assessments": summaries}), media_type="application/json")

    return router


def my_assessments_router() -> APIRouter:
    """The caller's own recent assessments (the web page's history)."""
    router = APIRouter()

    @router.get("/v1/me/assessments", response_model=list[RecentAssessment], tags=["audit"],
                summary="My assessments (all keys' for an admin), newest first, a page at a time; "
                        "the X-Total-Count header gives the number matching")
    async def my_assessments(response: Response, audit: Audit, key: Officer, limit: int = Query(50, ge=1, le=500),
                             offset: int = Query(0, ge=0, description="rows to skip (paging)"),
                             q: str = Query("", max_length=100, description="企业名称或统一社会信用代码 / "
                                            "firm name (substring) or credit code (prefix)")) -> list[dict[str, Any]]:
        rows, total = await run_in_threadpool(history_page, audit(), None if key.role == "admin" else key.id,
                                              q, offset, limit)
        response.headers["X-Total-Count"] = str(total)
        return rows

    return router
