"""Model monitoring endpoints: drift of recently scored firms and the served model's validation report.

`DriftMonitor` keeps one rolling window per served model (fed by the scorer's listener, so every
scoring path — single, batch, CSV — counts); `monitoring_router` exposes
`GET /v1/monitoring/drift` and `GET /v1/model/report`.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Literal, Sequence

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, JSONResponse, Response

from models.drift import ACT, WATCH, DriftReference, DriftWindow
from models.scoring import Scorer
from service.api.errors import ApiProblem

DEFAULT_WINDOW = 10_000
MIN_ROWS = 100


class DriftMonitor:
    """Rolling windows of scored indicator rows, one per model version (a reload starts a fresh one)."""

    def __init__(self, window: int = DEFAULT_WINDOW, min_rows: int = MIN_ROWS):
        self.window = window
        self.min_rows = min_rows
        self._windows: dict[str, DriftWindow | None] = {}
        self._lock = threading.Lock()

    def attach(self, scorer: Scorer) -> None:
        """Start recording what `scorer` scores (idempotent; models without a drift reference are skipped).
        A reload of the same version keeps its window and feeds it from the new scorer object too."""
        with self._lock:
            if scorer.version not in self._windows:
                ref = scorer.bundle.extras.get("drift_reference")
                win = DriftWindow(DriftReference.from_dict(ref), self.window) if ref else None
                self._windows = {scorer.version: win}  # a new version starts afresh; the old model's window goes
            win = self._windows[scorer.version]
            if win is not None and win.add_batch not in scorer.listeners:
                scorer.listeners.append(win.add_batch)

    def report(self, scorer: Scorer) -> dict[str, Any]:
        """PSI per indicator and for the score of the current window, with the model version."""
        self.attach(scorer)
        win = self._windows.get(scorer.version)
        if win is None:
            return {"model_version": scorer.version, "status": "unavailable", "n": 0, "window": self.window,
                    "thresholds": {"watch": WATCH, "act": ACT}, "score": None, "features": [],
                    "detail": "this model bundle has no training reference bins; retrain it to monitor drift"}
        return {"model_version": scorer.version, **win.report(self.min_rows)}


class ReportCache:
    """The served model's holdout report, rendered once per model version (figures take a second)."""

    def __init__(self) -> None:
        self._html: dict[str, str] = {}

    def html(self, scorer: Scorer, manifest: dict[str, Any]) -> str:
        from training.report import report_html_for  # service may import training; loaded on first use

        if scorer.version not in self._html:
            self._html = {scorer.version: report_html_for(scorer.bundle, manifest)}
        return self._html[scorer.version]


def monitoring_router(current_model: Callable[[], Any], monitor: DriftMonitor,
                      dependencies: Sequence[Depends] = ()) -> APIRouter:
    """Routes for the served model; `current_model()` returns an object with `.scorer` and `.manifest`
    (the API's LoadedModel) or raises the API's 503 problem when none is loaded."""
    router = APIRouter(tags=["monitoring"], dependencies=list(dependencies))
    reports = ReportCache()

    @router.get("/v1/monitoring/drift", summary="Drift of recently scored firms against the training reference")
    async def drift() -> JSONResponse:
        """PSI of each indicator and of the score over the last scored firms (rolling window), flagged
        `watch` at 0.1 and `act` at 0.25; `insufficient_data` until the window holds enough firms."""
        model = current_model()
        return JSONResponse(await run_in_threadpool(monitor.report, model.scorer))

    @router.get("/v1/model/report", summary="Validation report of the served model",
                responses={200: {"content": {"text/html": {}, "application/json": {}}},
                           409: {"description": "The model predates validation reports"}})
    async def model_report(
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
