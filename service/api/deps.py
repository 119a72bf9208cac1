"""FastAPI dependencies of the routers: the app's state and settings, the caller's key (officer or admin)
and the served model, each as an `Annotated[..., Depends(...)]` type for endpoint parameters.

Each reads the app's `Api` (`request.app.state.api`, set by `create_app`); none does I/O. The getters
(`CurrentModel`, `CurrentScorer`, `Audit`) return a callable, so an endpoint asks for the model at the
point of its body where it did before (a missing model is a 503 after the key was checked).
"""
from __future__ import annotations

from typing import Annotated, Awaitable, Callable

from fastapi import Depends, Request

from models.scoring import Scorer
from service.api.auth import ApiKey, KeyFileError
from service.api.engine import LoadedModel
from service.api.errors import ApiProblem
from service.api.monitoring import DriftMonitor
from service.api.settings import Settings
from service.api.state import Api
from service.store.audit import AuditStore, Record

KEYS_UNAVAILABLE = "API keys cannot be checked right now; retry later"


def _authorise(api: Api, request: Request, roles: tuple[str, ...]) -> ApiKey:
    """The caller's key, 401 without a valid one, 403 when its role is not allowed."""
    try:
        key = api.keys.lookup(request.headers.get("x-api-key"))
    except KeyFileError as exc:  # fail closed, every time, until the keys file is fixed (the log says why)
        raise ApiProblem(503, KEYS_UNAVAILABLE, headers={"Retry-After": "5"}) from exc
    if key is None:
        raise ApiProblem(401, "a valid API key is required in the X-API-Key header",
                         headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
    if key.role not in roles:
        raise ApiProblem(403, f"role {key.role!r} may not use this endpoint (needs {' or '.join(roles)})")
    return key


async def _api(request: Request) -> Api:
    return request.app.state.api


async def _settings(request: Request) -> Settings:
    return request.app.state.api.settings


async def officer_key(request: Request) -> ApiKey:
    """`_authorise` for officers and admins."""
    return _authorise(request.app.state.api, request, ("officer", "admin"))


async def admin_key(request: Request) -> ApiKey:
    """`_authorise` for admins only."""
    return _authorise(request.app.state.api, request, ("admin",))


async def _current_model(request: Request) -> Callable[[], LoadedModel]:
    api = request.app.state.api
    return lambda: api.scoring().model


async def _current_scorer(request: Request) -> Callable[[], Scorer]:
    api = request.app.state.api
    return lambda: api.scoring().model.scorer


async def _audit(request: Request) -> Callable[[], AuditStore]:
    return request.app.state.api.audit


async def _record(request: Request) -> Callable[[list[Record]], Awaitable[None]]:
    return request.app.state.api.record


async def _batch_limit(request: Request) -> int:
    return request.app.state.api.settings.batch_limit


async def _monitor(request: Request) -> DriftMonitor:
    return request.app.state.api.monitor


ApiState = Annotated[Api, Depends(_api)]
AppSettings = Annotated[Settings, Depends(_settings)]
Officer = Annotated[ApiKey, Depends(officer_key)]
Admin = Annotated[ApiKey, Depends(admin_key)]
CurrentModel = Annotated[Callable[[], LoadedModel], Depends(_current_model)]
CurrentScorer = Annotated[Callable[[], Scorer], Depends(_current_scorer)]
Audit = Annotated[Callable[[], AuditStore], Depends(_audit)]
RecordAudit = Annotated[Callable[[list[Record]], Awaitable[None]], Depends(_record)]
BatchLimit = Annotated[int, Depends(_batch_limit)]
Monitor = Annotated[DriftMonitor, Depends(_monitor)]
