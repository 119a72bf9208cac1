"""The scoring API for loan officers: FastAPI app with audit trail, API keys and problem+json errors.

`create_app` builds one app: its state (`service.api.state.Api`), the routers of `service.api.routes`
(each endpoint takes what it needs through `service.api.deps`), the web page, the docs and the middleware.
"""
from __future__ import annotations

import gc
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from features.schema import FirmProfile
from service.api import errors
from service.api.deps import officer_key
from service.api.docs import mount_docs
from service.api.metrics import MetricsMiddleware
from service.api.routes import assessments, decisions, health, model, monitoring, rows, scores
from service.api.security import install_security
from service.api.settings import Settings
from service.api.state import Api
from service.web.page import mount_web

GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (CPython's default: 700)
GIL_SWITCH_SECONDS = 0.0005  # how long a thread waiting for the GIL waits before asking for it


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from TECHSCORE_* environment variables)."""
    settings = settings or Settings.from_env()
    api = Api(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        api.start()
        await api.batches.start()  # before serving: the first batch does not wait for the workers' imports
        # AnyIO loads its asyncio backend on the first worker-thread call (gzip of a large reply, a sync
        # endpoint): ~0.1 s of imports on the event loop. Taken here instead of in the middle of serving.
        await anyio.to_thread.run_sync(lambda: None)
        # Move the start-up heap (pandas, LightGBM, the model: millions of objects) out of the
        # collector's reach, so the frequent full collections a busy server triggers stay cheap.
        gc.collect()
        gc.freeze()
        # A scored request leaves thousands of short-lived objects (profile, arrays, the answer's
        # dicts): at the default threshold of 700 the young collections cost ~20 µs a request,
        # at 10 000 about 3 µs, for about a megabyte more garbage between collections.
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
        # Scoring runs on worker threads, which hold the GIL between the C calls that release it: the
        # event loop may wait a switch interval for it at every step of a request: CPython's default of
        # 5 ms put /healthz's p99 at tens of ms while batches were scored; 0.5 ms cuts that wait tenfold.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        try:
            yield
        finally:
            sys.setswitchinterval(interval)
            gc.set_threshold(*thresholds)
            api.stop()

    app = FastAPI(title="TechScore API", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Credit scores for technology SMEs (科技型中小企业): PD, points, grade, six dimension "
                              "ratings, knock-outs and reasons in Chinese and English, each recorded in an audit "
                              "trail. Send your key in the `X-API-Key` header.")
    app.state.api = api
    errors.install(app)
    app.include_router(decisions.decision_router())
    app.include_router(scores.scores_router())
    app.include_router(assessments.assessments_router())
    app.include_router(model.model_router())
    app.include_router(health.health_router())
    app.include_router(monitoring.monitoring_router())
    app.include_router(rows.rows_router())
    rows.install_model_mismatch_handler(app)
    app.add_middleware(errors.BodyLimitMiddleware, default_limit=settings.max_body_bytes,
                       limits={"/v1/scores/csv": settings.max_upload_bytes},
                       settings={"/v1/scores/csv": "max_upload_bytes"})
    app.add_middleware(MetricsMiddleware, metrics=api.metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.include_router(assessments.my_assessments_router())  # where the web page's routes were
    mount_web(app, Depends(officer_key))
    mount_docs(app)  # after the web page's routes; assets served locally, no CDN
    install_security(app)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI with FirmProfile (bilingual descriptions from the schema) and the API-key scheme."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    defs = FirmProfile.model_json_schema(ref_template="#/components/schemas/{model}")
    components.setdefault("schemas", {}).update(defs.pop("$defs", {}))
    components["schemas"]["FirmProfile"] = defs
    components["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    for path, ops in schema["paths"].items():
        if path.startswith("/v1/"):
            for op in ops.values():
                op["security"] = [{"ApiKey": []}]
    app.openapi_schema = errors.complete_openapi(schema)
    return schema
