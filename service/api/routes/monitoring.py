"""Model monitoring endpoints: `GET /v1/monitoring/drift` (drift of recently scored firms, from the app's
`service.api.monitoring.DriftMonitor`) and `GET /v1/model/report` (the served model's validation report)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from service.api.deps import CurrentModel, Monitor, officer_key
from service.api.errors import ApiProblem
from service.api.monitoring import ReportCache


def monitoring_router() -> APIRouter:
    """Routes for the served model, for officers; `current_model()` returns the API's LoadedModel (`.scorer`,
    `.manifest`) or raises the API's 503 problem when none is loaded."""
    router = APIRouter(tags=["monitoring"], dependencies=[Depends(officer_key)])
    reports = ReportCache()

    @router.get("/v1/monitoring/drift", summary="Drift of recently scored firms against the training reference")
    async def drift(current_model: CurrentModel, monitor: Monitor) -> JSONResponse:
        """PSI of each indicator and of the score over the last scored firms (rolling window), flagged
        `watch` at 0.1 and `act` at 0.25; `insufficient_data` until the window holds enough firms."""
        model = current_model()
        return JSONResponse(await run_in_threadpool(monitor.report, model.scorer))

    @router.get("/v1/model/report", summary="Validation report of the served model",
                responses={200: {"content": {"text/html": {}, "application/json": {}}},
                           409: {"description": "The model predates validation reports"}})
    async def model_report(
        current_model: CurrentModel,
        fmt: Literal["html", "json"] = Query("html", alias="format", description="html: the report page; json: its numbers"),
    ) -> Response:
        """The validation report of the model being served (training holdout): self-contained HTML, or its numbers."""
        model = current_model()
        if "validation" not in model.scorer.bundle.metrics:
            raise ApiProblem(409, f"model {model.scorer.version} predates validation reports; retrain it to get one")
        if fmt == "json":
            return JSONResponse(model.scorer.bundle.metrics["validation"])
        return HTMLResponse(await run_in_threadpool(reports.html, model.scorer, model.manifest))

    return router
