"""Liveness, readiness and Prometheus metrics: `GET /healthz`, `/readyz`, `/metrics`."""
from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api import answers, errors, release_gate
from service.api.deps import ApiState
from service.api.models import Health
from service.api.state import Api

log = logging.getLogger(__name__)

def health_router() -> APIRouter:
    """Liveness, readiness and metrics."""
    router = APIRouter()

    @router.get("/healthz", response_model=Health, tags=["health"], summary="Process alive")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @router.get("/readyz", response_model=Health, tags=["health"], responses=errors.openapi_responses(503),
                summary="Model loaded, API keys readable and audit store committing")
    async def readyz(api: ApiState) -> Response:
        """200 only when a request could be served end to end; 503 naming what is missing (details in the log)."""
        problems = await _readiness_problems(api)
        if problems:
            return errors.problem_response(503, "not ready: " + "; ".join(problems), "/readyz",
                                           headers={"Retry-After": "5"})
        return Response(answers.json_bytes({"status": "ready", "model_version": api.engine.model.version}),  # type: ignore[union-attr]
                        media_type="application/json")

    @router.get("/metrics", tags=["health"], summary="Prometheus metrics",
                responses={200: {"content": {"text/plain": {}}}})
    async def metrics(api: ApiState) -> Response:
        return Response(generate_latest(api.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _readiness_problems(api: Api) -> list[str]:
    """What stops this process from serving, in words safe to show anyone (the causes go to the log)."""
    problems = []
    if api.engine is None and isinstance(api.model_error, release_gate.NotReadyError):
        problems.append("the model is not ready for release (its release verdict needs an admin override)")
    elif api.engine is None:
        problems.append("no model is loaded")
    if api.keys.problem() is not None:
        problems.append("the API keys file cannot be read")
    # The store's writer knows: a failed or stalled commit, until the next commit succeeds (its idle
    # heartbeat commits every 2 s). Cheap: reads the writer thread's state, never the disk.
    try:
        api.audit().check_writable()
    except Exception as exc:  # noqa: BLE001 - any failure of the probe means "cannot commit"
        log.error("readiness: audit store cannot commit: %s", exc)
        problems.append("the audit store cannot commit")
    return problems
