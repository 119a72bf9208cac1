"""One error shape for every failure: RFC 9457 problem details (application/problem+json)."""
from __future__ import annotations

import json
import logging
from typing import Any, Sequence

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.schema import ALIASES, FirmProfile, make_uscc, violations_from_error

log = logging.getLogger(__name__)
PROBLEM_TYPE = "urn:techscore:problem:"
MEDIA_TYPE = "application/problem+json"
_PLACEHOLDER_ID = make_uscc("91110000000000000")

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Content too large", 415: "Unsupported media type",
           422: "Unprocessable content", 429: "Too many requests", 500: "Internal server error",
           503: "Service unavailable"}
_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
          409: "conflict", 413: "too-large", 415: "unsupported-media-type", 422: "validation",
          429: "too-many-requests",
          500: "internal", 503: "unavailable"}


class FieldError(BaseModel):
    """One bad field: where it is, what is wrong with it, and the rule it breaks."""
    path: str = Field(description="JSON pointer to the value, e.g. /revenue_y0 or /3/rd_staff")
    field: str = Field(description="Schema field name")
    rule: str = Field(description="Rule code, e.g. ge:0, enum, uscc_check, rd_staff_le_staff")
    value: Any = Field(None, description="The value submitted")
    problem: str = Field(description="中文 / English explanation naming the field, the value and the rule")


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists every bad field of a 422."""
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ApiProblem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, detail: str, errors: Sequence[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers

    def __reduce__(self) -> tuple[Any, ...]:
        # raised in a worker process too (service.api.batch_worker): it crosses back pickled, whole
        return type(self), (self.status, self.detail, self.errors, self.headers)


def openapi_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an endpoint can give."""
    return {c: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": _TITLES[c]} for c in codes}


def problem_body(status: int, detail: str, instance: str | None = None,
                 errors: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + _SLUGS.get(status, str(status)),
                            "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    return body


class ProblemJSON(JSONResponse):
    """JSON as usual; text that UTF-8 cannot carry (a lone surrogate echoed from the input) is escaped."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def problem_response(status: int, detail: str, instance: str | None = None,
                     errors: Sequence[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    return ProblemJSON(problem_body(status, detail, instance, errors), status_code=status,
                       media_type=MEDIA_TYPE, headers=headers)


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Every violation of a FirmProfile, worded exactly as the batch validator words it."""
    return [{"path": f"{prefix}/{v['field']}", "field": v["field"], "rule": v["rule"],
             "value": _jsonable(v["value"]), "problem": v["message"]} for v in violations_from_error(exc)]


def _jsonable(value: Any) -> Any:
    """Values as JSON can carry them (dates → ISO text, infinity and anything else odd → str)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < (1 << 64):
        return str(value)  # beyond what orjson (the API's serialiser) writes
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError, RecursionError):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


def invalid_profile(exc: ValidationError, prefix: str = "", data: dict[str, Any] | None = None) -> ApiProblem:
    """422 naming every bad field, cross-field rules included (as the batch validator reports them)."""
    errs = field_errors(exc, prefix)
    if data is not None:
        errs += _cross_rule_errors(data, errs, prefix)
    fields = ", ".join(dict.fromkeys(e["field"] for e in errs))
    return ApiProblem(422, f"{len(errs)} invalid field(s): {fields}", errs)


def _cross_rule_errors(data: dict[str, Any], errs: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Pydantic skips the cross-field rules when a field fails; check them on the fields that passed."""
    bad = {e["field"] for e in errs}
    rest = {k: v for k, v in data.items() if ALIASES.get(k, k) not in bad}
    rest["firm_id"] = rest.get("firm_id", _PLACEHOLDER_ID)  # lets the model-level rules run
    try:
        FirmProfile.model_validate(rest)
    except ValidationError as exc:
        return [e for e in field_errors(exc, prefix) if e["field"] not in bad]
    return []


def not_json(exc: Exception) -> ApiProblem:
    return ApiProblem(400, f"request body is not valid JSON: {exc}")


def install(app: FastAPI) -> None:
    """Route every exception through problem+json (no tracebacks to the caller)."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, request.url.path, exc.errors, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), request.url.path, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"path": "/" + "/".join(str(p) for p in e["loc"]), "field": str(e["loc"][-1]) if e["loc"] else "",
                 "rule": e["type"], "value": _jsonable(e.get("input")), "problem": e["msg"]} for e in exc.errors()]
        return problem_response(422, f"{len(errs)} invalid parameter(s)", request.url.path, errs)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, "internal error; it has been logged", request.url.path)


class BodyTooLarge(HTTPException):
    """Raised while reading a body past its limit (an HTTPException, so FastAPI's body parsing lets it through)."""

    def __init__(self, limit: int, setting: str = "max_body_bytes"):
        super().__init__(413, too_large_detail(limit, setting))


def too_large_detail(limit: int, setting: str) -> str:
    return f"请求体超过 {limit:,} 字节的上限 / request body exceeds the limit of {limit:,} bytes ({setting})"


def limit_error(setting: str, limit: int, problem: str) -> list[dict[str, Any]]:
    """A broken limit as a problem's `errors` entry: `field` names the setting, `rule` its value."""
    return [{"path": "/", "field": setting, "rule": f"max:{limit}", "value": None, "problem": problem}]


class BodyLimitMiddleware:
    """413 for bodies above the route's limit: by Content-Length up front, or while streaming."""

    def __init__(self, app: ASGIApp, default_limit: int, limits: dict[str, int],
                 settings: dict[str, str] | None = None):
        self.app, self.default_limit, self.limits = app, default_limit, limits
        self.settings = settings or {}  # path → the setting its limit comes from (named in the 413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        setting = self.settings.get(scope["path"], "max_body_bytes")
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_413(send, scope["path"], limit, setting)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, setting)
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_413(send, scope["path"], limit, setting)


async def _send_413(send: Send, path: str, limit: int, setting: str) -> None:
    detail = too_large_detail(limit, setting)
    body = json.dumps(problem_body(413, detail, path, limit_error(setting, limit, detail)), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_entry(status: int) -> dict[str, Any]:
    return {"description": _TITLES.get(status, "Error"), "content": {MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def complete_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Every status each route can answer, each error as problem+json.

    Added where a route's own declaration cannot know them: 401/403/503 on every /v1 route (the key
    check; a keys file that cannot be read answers 503), 413 on every route with a body (the body
    limit), 400 on JSON bodies, 422 wherever there is a parameter or a body, 409 on scoring routes
    (firm profiles sent to a generic-mode model). FastAPI's own 422 schema is replaced by Problem,
    which is what the handlers send."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    components.setdefault("FieldError", FieldError.model_json_schema())
    components["Problem"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, ops in schema.get("paths", {}).items():
        for op in ops.values():
            codes: set[int] = set()
            body = op.get("requestBody", {}).get("content", {})
            if path.startswith("/v1/"):
                codes |= {401, 403, 503}
            if body:
                codes |= {413, 422} | ({400} if "application/json" in body else set())
            if op.get("parameters"):
                codes.add(422)
            if path.startswith("/v1/scores"):
                codes.add(409)
            responses = op.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), _problem_entry(code))
            for code, entry in responses.items():
                if code.isdigit() and int(code) >= 400:
                    entry["content"] = {MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    entry.setdefault("description", _TITLES.get(int(code), "Error"))
    return schema
