"""`POST /v1/scores/batch`'s work, run in a worker process: parse, validate and score a JSON array of firms,
and build its answer and audit records.

A 1000-firm batch is ~0.3 s of Python (pydantic validation, scoring, 1000 checked answers). On a thread of
the serving process it holds the GIL the event loop needs, in stretches of up to a tenth of a second (one
pydantic or orjson call over a large object does not let go of it), and `/healthz` waits behind it. In a
worker process the serving process only moves bytes: the request body goes in; the answer's bytes, the
audit records and the scored indicator rows (for the drift window) come back.

The worker loads the model itself, from the directory the serving process admitted it from, pinned to the
same manifest sha256: `load_model` checks it, and every file's sha256, again. It keeps the latest loaded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from features.schema import FirmProfile
from models.bundle import BundleError
from service.api import answers
from service.api.engine import LoadedModel, load_model, score_profiles
from service.api.errors import ApiProblem
from service.api.json_body import loads as loads_json
from service.api.profiles import parse_profile
from service.batch.ids import new_id
from service.store.audit import AuditRecord

MODELS_KEPT = 2  # the served model and the one before a reload, whose batches may still be arriving


class ModelRef(NamedTuple):
    """Which model a batch is scored on: where the serving process loaded it from and its manifest's sha256."""
    directory: str
    identity: str

    @classmethod
    def of(cls, model: LoadedModel) -> "ModelRef":
        return cls(str(model.directory), model.manifest["bundle_sha256"])


class BatchAnswer(NamedTuple):
    """A scored batch, as sent back to the serving process."""
    payload: bytes  # the answer: a `BatchResult` made of checked items
    records: list[AuditRecord]  # one per scored firm, in order
    grades: list[str]
    rejected: int
    values: np.ndarray  # the scored firms' indicator rows and scores (the drift window's input)
    scores: np.ndarray


_loaded: dict[ModelRef, LoadedModel] = {}


def model_for(ref: ModelRef) -> LoadedModel:
    """The model `ref` names, loaded once per worker (checked against its pinned manifest)."""
    model = _loaded.get(ref)
    if model is None:
        try:
            model = load_model(Path(ref.directory), {ref.identity})
        except BundleError as exc:  # its files changed since the serving process checked them
            raise ApiProblem(503, "模型文件已变更，请管理员重新加载模型 / the served model's files changed on disk; an "
                                  "admin reloads the model", headers={"Retry-After": "30"}) from exc
        while len(_loaded) >= MODELS_KEPT:
            del _loaded[next(iter(_loaded))]
        _loaded[ref] = model
    return model


def answer_batch(ref: ModelRef, body: bytes, limit: int, key_id: str) -> BatchAnswer:
    """Parse, validate and score a JSON batch (a bad firm gets its own errors, in its place)."""
    data = loads_json(body)  # a number beyond a double reaches the schema's bounds (422), as on the other routes
    if not isinstance(data, list):
        raise ApiProblem(422, "the body must be a JSON array of firm profiles")
    if len(data) > limit:
        raise ApiProblem(413, f"{len(data)} firms exceed the batch limit of {limit}")
    items: list[bytes] = []
    good: list[tuple[int, FirmProfile]] = []
    for i, raw in enumerate(data):
        try:
            good.append((i, parse_profile(raw, f"/{i}")))
            items.append(b"")  # filled in once scored
        except ApiProblem as exc:
            items.append(answers.batch_error(i, exc.errors).json)
    records: list[AuditRecord] = []
    grades: list[str] = []
    values, scores = np.empty((0, 0)), np.empty(0)
    if good:
        batch = score_profiles(model_for(ref), [p for _, p in good])
        values, scores = batch.values, batch.score
        at = answers.timestamp()
        for row, (i, _) in enumerate(good):
            out = answers.assessment(batch, row, new_id(), at)  # checked against Assessment
            # the answer reuses the audit record's bytes: the BatchItem {"index":i,"ok":true,"assessment":{…}}
            items[i] = answers.batch_item_json(i, out.json)
            grades.append(out.model.grade)
            records.append(answers.audit_record(out, json.dumps(data[i], ensure_ascii=False), key_id, "batch"))
    rejected = len(data) - len(good)
    return BatchAnswer(answers.batch_result_json(len(good), rejected, items), records, grades, rejected, values, scores)
