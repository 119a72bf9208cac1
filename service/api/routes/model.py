"""The served model: `GET /v1/model` (manifest, metrics, indicator catalogue) and `POST /v1/model/reload`."""
from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from features.registry import INDICATORS
from models.bundle import BundleError
from models.policy import PolicyError
from service.api import errors, release_gate
from service.api.deps import Admin, ApiState, AppSettings, Officer
from service.api.engine import ScoringEngine, load_model
from service.api.errors import ApiProblem
from service.api.model_paths import resolve_model_dir
from service.api.models import Health, ModelInfo, ReloadRequest

log = logging.getLogger(__name__)

def model_router() -> APIRouter:
    """The served model and its reload."""
    router = APIRouter()

    @router.get("/v1/model", response_model=ModelInfo, tags=["model"], responses=errors.openapi_responses(401, 403, 503),
                summary="The model being served")
    async def model_info(api: ApiState, key: Officer) -> ModelInfo:
        """Manifest, metrics and the indicator catalogue (dimensions, labels, directions)."""
        model = api.scoring().model
        cat = model.scorer.catalogue  # the bundle's own features: the registry's, or a generic-mode model's columns
        formulas = {i.key: i.formula for i in INDICATORS}
        return ModelInfo(
            manifest={k: v for k, v in model.manifest.items() if k != "metrics"},
            metrics=model.manifest.get("metrics", {}),
            dimensions=[{"key": k, "label_zh": zh, "label_en": en} for k, (zh, en) in cat.groups.items()],
            indicators=[{"key": f.key, "code": f.code, "dimension": f.group, "label_zh": f.label_zh,
                         "label_en": f.label_en, "unit": f.unit, "direction": f.direction,
                         "formula": formulas.get(f.key, f"column {f.key} of the bank's own file ({f.unit})")}
                        for f in cat.features])

    @router.post("/v1/model/reload", response_model=Health, tags=["model"],
                 responses=errors.openapi_responses(401, 403, 409, 422, 503), summary="Swap in a new model bundle (admin)")
    async def reload_model(api: ApiState, settings: AppSettings, key: Admin, body: ReloadRequest | None = None) -> Health:
        """Load a trusted bundle from under the models root, verify it, then swap it in atomically.

        `model_dir` is relative to the configured models root (absolute paths, `..`, NUL bytes and
        symlinks leading out of the root are a 422). The bundle's identity (sha256 of its
        manifest.json) must be registered by an admin (`techscore bundle trust DIR`) before any of
        it is read. Requests already being scored finish on the old model; a bundle that fails
        verification leaves the old model serving and answers 409.
        """
        if body and body.model_dir:
            directory = resolve_model_dir(settings.reload_root, body.model_dir)
        else:
            directory = settings.model_dir
        try:
            model = await run_in_threadpool(load_model, directory, api.trusted())
            release_gate.admit(model.manifest, directory, bool(body and body.override_not_ready), f"admin key {key.id}",
                               settings.release_overrides_file)
        except (BundleError, PolicyError, OSError, ValueError) as exc:
            raise ApiProblem(409, f"model not reloaded, still serving the previous one: {exc}") from exc
        if api.engine is None:
            api.engine, api.model_error = ScoringEngine(model), None
        else:
            api.engine.swap(model)
        api.monitor.attach(model.scorer)
        api.metrics.set_model(model.version)
        log.warning("model %s loaded from %s by key %s", model.version, directory, key.id)
        return Health(status="reloaded", model_version=model.version)

    return router
