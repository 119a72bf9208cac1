"""The scoring API for loan officers: FastAPI app with audit trail, API keys and problem+json errors."""
from __future__ import annotations

import functools
import gc
import json
import logging
import shutil
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, BinaryIO, Callable, Iterator

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from features.registry import INDICATORS
from features.schema import FIELD_SPECS, FirmProfile, example_profiles
from models.bundle import BundleError
from models.policy import PolicyError
from models.scoring import ScoreBatch
from models.trust import read_trusted
from service import errors, release_gate
from service.api_models import (Assessment, AssessmentHistory, AssessmentSummary, BatchResult, Health, ModelInfo,
                                ReloadRequest, StoredAssessment)
from features.io import InputError
from features.mapping import ColumnMapping, MappingError, parse_mapping
from service.audit_archive import RetentionJob
from service.auth import ApiKey, KeyFileError, KeyRing
from service.csv_scoring import CsvError, ScoredUpload, UploadLimitExceeded, UploadLimits, score_upload
from service.decision_api import decision_router
from service.docs import mount_docs
from service.engine import LoadedModel, ScoringEngine, load_model
from service.errors import ApiProblem
from service.ids import new_id
from service.json_body import loads as loads_json
from service.metrics import ApiMetrics, MetricsMiddleware
from service.model_paths import resolve_model_dir
from service.monitoring import DriftMonitor, monitoring_router
from service.offload import CpuPool, TooManyUploads, UploadSlots
from service.rows_api import install_model_mismatch_handler, rows_router
from service.settings import Settings
from service.store import AuditRecord, AuditStore, Record, StoreError, UploadRecord
from service.security import install_security
from service.web import mount_web

log = logging.getLogger(__name__)
_JSON = orjson.OPT_SERIALIZE_NUMPY
NO_DECISION = "the audit record could not be written, so no decision is returned; retry later"
GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (CPython's default: 700)
GIL_SWITCH_SECONDS = 0.0005  # how long a thread waiting for the GIL waits before asking for it
UPLOAD_RETRY_AFTER_SECONDS = 10
KEYS_UNAVAILABLE = "API keys cannot be checked right now; retry later"


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_JSON)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _profile_body(many: bool) -> dict[str, Any]:
    """OpenAPI request body: FirmProfile (or an array of them) with the schema's realistic examples."""
    ref = {"$ref": "#/components/schemas/FirmProfile"}
    examples = example_profiles()
    if many:
        content = {"schema": {"type": "array", "items": ref},
                   "examples": {"three firms": {"summary": "startup, growth and mature firm",
                                                "value": list(examples.values())}}}
    else:
        content = {"schema": ref, "examples": {k: {"summary": f"{v['name']} ({k})", "value": v}
                                               for k, v in examples.items()}}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


_CSV_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "text/csv": {"schema": {"type": "string"}}}}}


class Api:
    """State shared by the endpoints of one app (one per create_app call)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.keys = KeyRing(settings.keys_file, clock)
        self.metrics = ApiMetrics()
        self.engine: ScoringEngine | None = None
        self.store: AuditStore | None = None
        self.retention: RetentionJob | None = None
        self.model_error: Exception | None = None  # why no model is served (logged; not shown)
        self.monitor = DriftMonitor()
        self.cpu = CpuPool(settings.cpu_threads)  # batch and upload scoring, off the event loop
        self.uploads = UploadSlots(settings.max_concurrent_uploads)

    def start(self) -> None:
        s = self.settings
        self.cpu = CpuPool(s.cpu_threads)  # a fresh pool each start: stop() shuts the previous one down
        self.store = AuditStore(s.database_url, s.sqlite_synchronous, s.audit_commit_timeout)
        if s.audit_retention_days:
            self.retention = RetentionJob(self.store, s.audit_retention_days, s.audit_archive_dir).start()
        try:
            model = load_model(self.settings.model_dir, self.trusted())
            release_gate.admit(model.manifest, self.settings.model_dir, self.settings.allow_not_ready,
                               "TECHSCORE_ALLOW_NOT_READY at start-up", self.settings.release_overrides_file)
        except (BundleError, PolicyError) as exc:  # the process stays up; /readyz says why it is not ready
            self.model_error = exc
            log.error("no model served: %s", exc)
            return
        self.engine = ScoringEngine(model)
        self.monitor.attach(model.scorer)
        self.metrics.set_model(model.version)

    def trusted(self) -> set[str]:
        """The registered bundle identities, read afresh (registering takes effect at the next load)."""
        return set(read_trusted(self.settings.trusted_bundles_file))

    def stop(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        self.cpu.shutdown()
        if self.store is not None:
            self.store.close()

    def scoring(self) -> ScoringEngine:
        if self.engine is None:
            raise ApiProblem(503, "no model is loaded; an admin loads one (the server log says why none is)",
                             headers={"Retry-After": "30"})
        return self.engine

    def audit(self) -> AuditStore:
        assert self.store is not None, "store is opened at start-up"
        return self.store

    async def record(self, records: list[Record]) -> None:
        """Commit the audit records or answer 503 (an unrecorded decision is worse than none)."""
        try:
            await self.audit().write(records)
        except StoreError as exc:
            self.metrics.audit_failures.inc(len(records))
            log.error("audit write failed: %s", exc)
            raise ApiProblem(503, NO_DECISION, headers={"Retry-After": "5"}) from exc


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


def _require(api: Api, *roles: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """Dependency: `_authorise` for `roles`."""

    async def dependency(request: Request) -> ApiKey:
        return _authorise(api, request, roles)

    return dependency


def _with_as_of(profile: FirmProfile, today: date) -> FirmProfile:
    """Assess on today's date when none is given; the date rules are re-checked against it."""
    if profile.as_of is not None:
        return profile
    return FirmProfile.model_validate(profile.model_dump() | {"as_of": today})


_AS_OF_KEYS = {"as_of", FIELD_SPECS["as_of"].label_zh}


def _parse_profile(data: Any, prefix: str = "") -> FirmProfile:
    try:
        if not isinstance(data, dict):
            raise ApiProblem(422, f"a firm profile must be a JSON object, got {type(data).__name__}",
                             [{"path": prefix or "/", "field": "", "rule": "type:object", "value": None,
                               "problem": "应为JSON对象 / must be a JSON object"}])
        if not _AS_OF_KEYS & data.keys():  # the usual case: validated once, date rules against today
            return FirmProfile.model_validate(data | {"as_of": date.today()})
        return _with_as_of(FirmProfile.model_validate(data), date.today())
    except ValidationError as exc:
        raise errors.invalid_profile(exc, prefix, data) from exc
    except OverflowError as exc:  # a number too large for a float in a rule: implausible, not a crash
        raise ApiProblem(422, f"a number in the profile is too large: {exc}",
                         [{"path": prefix or "/", "field": "", "rule": "le", "value": None,
                           "problem": "数值过大 / a number is too large"}]) from exc


_AS_OF_BYTES = tuple(k.encode() for k in _AS_OF_KEYS)


def _parse_profile_json(body: bytes) -> FirmProfile:
    """`_parse_profile` of a JSON request body. A body that names an as_of (a bank's system usually
    sends one) is validated straight from its bytes, without building a dict first; any other body,
    and every error, takes the dict path, so the answer to a bad body is word for word the same.
    (pydantic's JSON parser reads a NaN literal, which is not JSON, as a missing value: such a body
    takes the dict path too, and its 400.)"""
    if any(k in body for k in _AS_OF_BYTES) and b"NaN" not in body:
        try:
            return _with_as_of(FirmProfile.model_validate_json(body), date.today())
        except (ValidationError, ValueError, OverflowError):
            pass
    return _parse_profile(loads_json(body))


def _assessment(batch: ScoreBatch, i: int, assessment_id: str, at: str) -> dict[str, Any]:
    return {"assessment_id": assessment_id, "assessed_at": at} | batch.record(i)


def _audit_row(out: dict[str, Any], raw_input: str, out_json: bytes, key: ApiKey, channel: str) -> AuditRecord:
    return AuditRecord(out["assessment_id"], out["assessed_at"], out["firm_id"], key.id, channel,
                       out["model_version"], raw_input, out_json.decode("utf-8"))


async def _json_body(request: Request) -> Any:
    body = await request.body()
    return body, loads_json(body)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from TECHSCORE_* environment variables)."""
    settings = settings or Settings.from_env()
    api = Api(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        api.start()
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
    officer = Depends(_require(api, "officer", "admin"))
    admin = Depends(_require(api, "admin"))
    app.include_router(decision_router(officer, lambda: api.scoring().model.scorer))

    @app.post("/v1/scores", response_model=Assessment, tags=["scoring"], openapi_extra=_profile_body(False),
              responses=errors.openapi_responses(400, 401, 403, 413, 422, 503), summary="Score one firm")
    async def score_one(request: Request) -> Response:
        """One firm profile → score, PD, grade, dimension points and ratings, knock-outs, reasons; recorded."""
        # The key is checked here rather than by `officer`: a FastAPI sub-dependency costs more
        # per request than the check itself, on the API's busiest endpoint.
        key = _authorise(api, request, ("officer", "admin"))
        engine = api.scoring()
        with engine.admit():
            body = await request.body()
            batch, i = await engine.score_one(functools.partial(_parse_profile_json, body))
            out = _assessment(batch, i, new_id(), _now())
            payload = _dumps(out)
            await api.record([_audit_row(out, body.decode("utf-8"), payload, key, "single")])
        api.metrics.count_grade(out["grade"], "single")
        return Response(payload, media_type="application/json")

    @app.post("/v1/scores/batch", response_model=BatchResult, tags=["scoring"], openapi_extra=_profile_body(True),
              responses=errors.openapi_responses(400, 401, 403, 413, 422, 503), summary="Score a JSON array of firms")
    async def score_batch(request: Request, key: ApiKey = officer) -> Response:
        """Up to the batch limit of firms, one result per firm in order; a bad firm gets its own errors."""
        engine = api.scoring()
        body = await request.body()
        payload, records, grades, rejected = await api.cpu.run(_batch_answer, engine, body, settings.batch_limit, key)
        if records:
            await api.record(records)
            api.metrics.count_grades(grades, "batch")
        api.metrics.rejects.labels("batch").inc(rejected)
        return Response(payload, media_type="application/json")

    @app.post("/v1/scores/csv", tags=["scoring"], openapi_extra=_CSV_BODY, summary="Score a CSV file",
              responses={200: {"content": {"text/csv": {}}, "description": "The scored CSV, one row per input row"},
                         **errors.openapi_responses(400, 401, 403, 413, 415, 422, 429, 503)})
    async def score_csv(request: Request, key: ApiKey = officer) -> StreamingResponse:
        """A CSV upload (UTF-8, UTF-8 with BOM or GBK; English or Chinese headers) → the scored CSV.

        Send it as multipart form field `file` or as a `text/csv` body. Rows that break a schema
        rule, or have the wrong number of cells (rule `columns`), keep their place with the reason in
        the `error` column; they do not fail the request. Limits: `max_upload_bytes`,
        `max_upload_columns`, `max_upload_line_bytes` (413) and `max_concurrent_uploads` (429).
        """
        model = api.scoring().model  # one model for the whole file, even across a reload
        try:
            with api.uploads.take():  # held until the upload's audit record is committed
                scored = await _score_upload(api, request, model)
                await _record_upload(api, scored, model, key)
        except TooManyUploads as exc:
            detail = (f"已有 {exc.limit} 个上传正在处理，请稍后重试 / {exc.limit} uploads are already being "
                      f"processed (max_concurrent_uploads); retry later")
            raise ApiProblem(429, detail, errors.limit_error("max_concurrent_uploads", exc.limit, detail),
                             headers={"Retry-After": str(UPLOAD_RETRY_AFTER_SECONDS)}) from exc
        except UploadLimitExceeded as exc:
            raise ApiProblem(413, str(exc), errors.limit_error(exc.setting, exc.limit, str(exc))) from exc
        except (CsvError, InputError, MappingError) as exc:
            raise ApiProblem(422, str(exc)) from exc
        except OSError as exc:  # the spool's disk is full or failing: the server's problem, not the file's
            log.error("upload not spooled: %s", exc)
            raise ApiProblem(503, "上传文件暂存失败，请稍后重试 / the upload could not be stored for scoring; retry "
                                  "later", headers={"Retry-After": str(UPLOAD_RETRY_AFTER_SECONDS)}) from exc
        for grade, n in scored.grades.items():
            api.metrics.count_grade(grade, "csv", n)
        api.metrics.rejects.labels("csv").inc(scored.rows - scored.scored)
        return StreamingResponse(scored.chunks(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="scored.csv"',
                                          "X-Normalised": json.dumps(dict(sorted(scored.normalised.items())))})

    @app.get("/v1/assessments/{assessment_id}", response_model=StoredAssessment, tags=["audit"],
             responses=errors.openapi_responses(401, 403, 404), summary="A recorded assessment")
    async def get_assessment(assessment_id: str, key: ApiKey = officer) -> Response:
        """The assessment exactly as it was returned, with its input and model version."""
        stored = await run_in_threadpool(api.audit().get, assessment_id)
        if stored is None or (key.role != "admin" and stored["key_id"] != key.id):  # others' records do not exist for you
            raise ApiProblem(404, f"no assessment {assessment_id!r} visible to key {key.id!r}")
        return Response(_dumps(stored), media_type="application/json")

    @app.get("/v1/assessments", response_model=AssessmentHistory, tags=["audit"],
             responses=errors.openapi_responses(401, 403, 422), summary="A firm's assessment history")
    async def list_assessments(firm_id: str = Query(..., min_length=1, max_length=64,
                                                    description="统一社会信用代码 / Unified social credit code"),
                               limit: int = Query(100, ge=1, le=1000),
                               key: ApiKey = officer) -> Response:
        """A firm's assessments, newest first (an officer sees the ones made with their own key)."""
        rows = await run_in_threadpool(api.audit().summaries, firm_id, None if key.role == "admin" else key.id, limit)
        summaries = [{k: r[k] for k in AssessmentSummary.model_fields} for r in rows]
        return Response(_dumps({"firm_id": firm_id, "assessments": summaries}), media_type="application/json")

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"], responses=errors.openapi_responses(401, 403, 503),
             summary="The model being served")
    async def model_info(key: ApiKey = officer) -> ModelInfo:
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

    @app.post("/v1/model/reload", response_model=Health, tags=["model"],
              responses=errors.openapi_responses(401, 403, 409, 422, 503), summary="Swap in a new model bundle (admin)")
    async def reload_model(body: ReloadRequest | None = None, key: ApiKey = admin) -> Health:
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

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Process alive")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", response_model=Health, tags=["health"], responses=errors.openapi_responses(503),
             summary="Model loaded, API keys readable and audit store committing")
    async def readyz() -> Response:
        """200 only when a request could be served end to end; 503 naming what is missing (details in the log)."""
        problems = await _readiness_problems(api)
        if problems:
            return errors.problem_response(503, "not ready: " + "; ".join(problems), "/readyz",
                                           headers={"Retry-After": "5"})
        return Response(_dumps({"status": "ready", "model_version": api.engine.model.version}),  # type: ignore[union-attr]
                        media_type="application/json")

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        return Response(generate_latest(api.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(monitoring_router(lambda: api.scoring().model, api.monitor, [officer]))
    app.include_router(rows_router(lambda: api.scoring().model, api.record, officer, settings.batch_limit))
    install_model_mismatch_handler(app)
    app.add_middleware(errors.BodyLimitMiddleware, default_limit=settings.max_body_bytes,
                       limits={"/v1/scores/csv": settings.max_upload_bytes},
                       settings={"/v1/scores/csv": "max_upload_bytes"})
    app.add_middleware(MetricsMiddleware, metrics=api.metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    mount_web(app, api.audit, officer)
    mount_docs(app)  # after the web page's routes; assets served locally, no CDN
    install_security(app)
    return app


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


async def _score_upload(api: Api, request: Request, model: LoadedModel) -> ScoredUpload:
    """Spool the upload to a temporary file, then check and score it chunk by chunk off the event loop."""
    limits = UploadLimits(api.settings.max_upload_columns, api.settings.max_upload_line_bytes)
    with tempfile.NamedTemporaryFile(prefix="techscore-upload-", suffix=".csv") as spool:
        text, sheet = await _spool_upload(request, spool)
        mapping = _mapping_of(text)
        return await api.cpu.drive(score_upload(model.scorer, Path(spool.name), date.today(), limits, mapping, sheet))


async def _spool_upload(request: Request, spool: BinaryIO) -> tuple[str | None, str | None]:
    """Write the file's bytes from a multipart `file` field or a raw text/csv body to `spool`, piece by piece;
    return the optional column `mapping` (YAML text) and Excel `sheet`, from form fields or query parameters."""
    text, sheet = request.query_params.get("mapping"), request.query_params.get("sheet")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_part_size=request.app.state.api.settings.max_upload_bytes)
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ApiProblem(422, "multipart upload needs a file field named 'file'")
            await run_in_threadpool(shutil.copyfileobj, upload.file, spool, 1 << 20)
            given = form.get("mapping")
            if given is not None and not isinstance(given, str):
                given = (await given.read()).decode("utf-8-sig", errors="replace")
            text = given or text
            sheet = form.get("sheet") or sheet  # type: ignore[assignment]
        finally:
            await form.close()
    elif ctype and not ctype.startswith(("text/csv", "text/plain", "application/octet-stream")):
        raise ApiProblem(415, f"send the CSV as multipart/form-data (field 'file') or text/csv, not {ctype}")
    else:
        async for piece in request.stream():
            spool.write(piece)
    spool.flush()
    return text, sheet


async def _record_upload(api: Api, scored: ScoredUpload, model: LoadedModel, key: ApiKey) -> None:
    """Commit the upload's audit record (none when no row was scored); the reply is dropped if that fails."""
    if not scored.scored:
        scored.close()
        return
    try:
        await api.record([_upload_record(scored, model, key)])
    except BaseException:
        scored.reply.close()
        raise  # the spool goes when the store's writer lets go of the record too
    scored.close()


def _upload_record(scored: ScoredUpload, model: LoadedModel, key: ApiKey) -> UploadRecord:
    """The audit record of a scored upload: the file and the reply once (compressed while they were read
    and written, spooled on disk: the store copies them in pieces), and one small row per assessment
    (the `uploads` / `upload_blobs` / `upload_assessments` rows)."""
    upload_id, at, f, spool = new_id(), _now(), scored.file, scored.spool
    upload = (upload_id, at, key.id, model.version, scored.rows, f.sha256, f.size, None, None)
    return UploadRecord(upload, _AssessedRows(scored, upload_id, at, key.id, model.version),
                        (("file", spool.file), ("output", spool.output)), keep=scored)


class _AssessedRows:
    """The `upload_assessments` rows of a scored upload, made as the store inserts them (batch by batch)
    from the Arrow stream spooled on disk: a list of 170,000 tuples would cost more memory than the file."""

    def __init__(self, scored: ScoredUpload, upload_id: str, at: str, key_id: str, version: str):
        self.scored, self.upload_id, self.at, self.key_id, self.version = scored, upload_id, at, key_id, version

    def __len__(self) -> int:
        return self.scored.scored

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for aid, row, fid, name, score, grade in self.scored.assessed_rows():
            yield (aid, self.upload_id, row, self.at, fid, self.key_id, self.version, score, grade, name)


def _batch_answer(engine: ScoringEngine, body: bytes, limit: int,
                  key: ApiKey) -> tuple[bytes, list[AuditRecord], list[str], int]:
    """Parse, validate and score a JSON batch (on a worker thread): the answer's bytes, its audit records,
    the grades given and how many firms were rejected."""
    data = loads_json(body)  # a number beyond a double reaches the schema's bounds (422), as on the other routes
    if not isinstance(data, list):
        raise ApiProblem(422, "the body must be a JSON array of firm profiles")
    if len(data) > limit:
        raise ApiProblem(413, f"{len(data)} firms exceed the batch limit of {limit}")
    items: list[bytes] = []
    good: list[tuple[int, FirmProfile]] = []
    for i, raw in enumerate(data):
        try:
            good.append((i, _parse_profile(raw, f"/{i}")))
            items.append(b"")  # filled in once scored
        except ApiProblem as exc:
            items.append(_dumps({"index": i, "ok": False, "errors": exc.errors}))
    records: list[AuditRecord] = []
    grades: list[str] = []
    if good:
        batch = engine.score_profiles([p for _, p in good])
        at = _now()
        for row, (i, _) in enumerate(good):
            out = _assessment(batch, row, new_id(), at)
            out_json = _dumps(out)
            # the answer reuses the audit record's bytes: {"index":i,"ok":true,"assessment":{…}}, as orjson writes it
            items[i] = b'{"index":%d,"ok":true,"assessment":%s}' % (i, out_json)
            grades.append(out["grade"])
            records.append(_audit_row(out, json.dumps(data[i], ensure_ascii=False), out_json, key, "batch"))
    rejected = len(data) - len(good)
    payload = b'{"scored":%d,"rejected":%d,"results":[%s]}' % (len(good), rejected, b",".join(items))
    return payload, records, grades, rejected


def _mapping_of(text: str | None) -> ColumnMapping | None:
    """The upload's column mapping (YAML: the bank's column → our field), None when not given."""
    try:
        return parse_mapping(text, "mapping") if text else None
    except MappingError as exc:
        raise ApiProblem(422, str(exc)) from exc


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
