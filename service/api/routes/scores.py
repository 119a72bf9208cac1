"""`POST /v1/scores`, `/v1/scores/batch` and `/v1/scores/csv`: score firm profiles (one, a JSON array, a
CSV or .xlsx upload), record every assessment in the audit trail before answering."""
from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from features.io import InputError
from features.mapping import ColumnMapping, MappingError, parse_mapping
from features.schema import example_profiles
from service.api import answers, errors
from service.api.auth import ApiKey
from service.api.deps import Officer, ApiState, AppSettings, _authorise
from service.api.batch_worker import ModelRef, answer_batch
from service.api.engine import LoadedModel
from service.api.errors import ApiProblem
from service.api.models import Assessment, BatchResult
from service.api.offload import TooManyUploads
from service.api.profiles import parse_profile_json
from service.api.state import Api
from service.batch.csv_scoring import CsvError, ScoredUpload, UploadLimitExceeded, UploadLimits, score_upload
from service.batch.ids import new_id
from service.store.audit import UploadRecord

log = logging.getLogger(__name__)
UPLOAD_RETRY_AFTER_SECONDS = 10

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


def scores_router() -> APIRouter:
    """Scoring firm profiles: one, a JSON array, a CSV or .xlsx upload."""
    router = APIRouter()

    @router.post("/v1/scores", response_model=Assessment, tags=["scoring"], openapi_extra=_profile_body(False),
                 responses=errors.openapi_responses(400, 401, 403, 413, 422, 503), summary="Score one firm")
    async def score_one(request: Request, api: ApiState) -> Response:
        """One firm profile → score, PD, grade, dimension points and ratings, knock-outs, reasons; recorded."""
        # The key is checked here rather than by `officer`: a FastAPI sub-dependency costs more
        # per request than the check itself, on the API's busiest endpoint.
        key = _authorise(api, request, ("officer", "admin"))
        engine = api.scoring()
        with engine.admit():
            body = await request.body()
            batch, i = await engine.score_one(functools.partial(parse_profile_json, body))
            out = answers.assessment(batch, i, new_id(), answers.timestamp())  # checked against Assessment
            await api.record([answers.audit_record(out, body, key.id, "single")])
        api.metrics.count_grade(out.model.grade, "single")
        return answers.JsonAnswer(out.json)

    @router.post("/v1/scores/batch", response_model=BatchResult, tags=["scoring"], openapi_extra=_profile_body(True),
                 responses=errors.openapi_responses(400, 401, 403, 413, 422, 503), summary="Score a JSON array of firms")
    async def score_batch(request: Request, api: ApiState, settings: AppSettings, key: Officer) -> Response:
        """Up to the batch limit of firms, one result per firm in order; a bad firm gets its own errors."""
        model = api.scoring().model  # the batch is scored on the model served when it arrived
        body = await request.body()
        out = await api.batches.run(answer_batch, ModelRef.of(model), body, settings.batch_limit, key.id)
        if out.records:
            model.scorer.notify(out.values, out.scores)  # the drift window counts firms scored in the workers
            await api.record(out.records)
            api.metrics.count_grades(out.grades, "batch")
        api.metrics.rejects.labels("batch").inc(out.rejected)
        return answers.JsonAnswer(out.payload)

    @router.post("/v1/scores/csv", tags=["scoring"], openapi_extra=_CSV_BODY, summary="Score a CSV file",
                 responses={200: {"content": {"text/csv": {}}, "description": "The scored CSV, one row per input row"},
                            **errors.openapi_responses(400, 401, 403, 413, 415, 422, 429, 503)})
    async def score_csv(request: Request, api: ApiState, key: Officer) -> StreamingResponse:
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

    return router


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
    upload_id, at, f, spool = new_id(), answers.timestamp(), scored.file, scored.spool
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


def _mapping_of(text: str | None) -> ColumnMapping | None:
    """The upload's column mapping (YAML: the bank's column → our field), None when not given."""
    try:
        return parse_mapping(text, "mapping") if text else None
    except MappingError as exc:
        raise ApiProblem(422, str(exc)) from exc
