"""Decision-support endpoints: POST /v1/scores/what-if and POST /v1/scores/next-grade.

`decision_router()` builds the router for an app; its endpoints take the caller's key (`Officer`) and
the Scorer being served, its policy included (`CurrentScorer`), from `service.api.deps`. Both
endpoints are hypothetical assessments: nothing is recorded in the audit trail. They return their response
models (built by service/api/answers.py), which FastAPI checks and serialises (`response_model`, set keys only).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from features.schema import FirmProfile, example_profiles
from models.scoring import Scorer
from models.whatif import NextGradeSearch, WhatIfError, what_if
from service.api import answers, errors
from service.api.decision_models import NextGradeRequest, NextGradeResult, WhatIfRequest, WhatIfResult
from service.api.deps import CurrentScorer, Officer
from service.api.errors import ApiProblem, Problem
from service.api.json_body import loads as loads_json

_PROBLEMS = {c: {"model": Problem, "content": {errors.MEDIA_TYPE: {}}, "description": errors._TITLES[c]}
             for c in (400, 401, 403, 422, 503)}


def _body(model: type, example: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI request body for `model` with a realistic example (the growth firm)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": model.model_json_schema(), "examples": {"growth firm": {"value": example}}}}}}


async def _parse(request: Request, model: type) -> tuple[Any, FirmProfile]:
    """The request model and its validated profile, or a 400/422 problem naming each bad field."""
    data = loads_json(await request.body())
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        errs = [{"path": "/" + "/".join(str(p) for p in e["loc"]), "field": str(e["loc"][-1]) if e["loc"] else "",
                 "rule": e["type"], "value": None, "problem": e["msg"]} for e in exc.errors()]
        raise ApiProblem(422, f"{len(errs)} invalid parameter(s)", errs) from exc
    try:
        profile = FirmProfile.model_validate(body.profile)
    except ValidationError as exc:
        raise errors.invalid_profile(exc, "/profile", body.profile) from exc
    except OverflowError as exc:
        raise ApiProblem(422, f"a number in the profile is too large: {exc}") from exc
    return body, profile


def _problem(exc: WhatIfError) -> ApiProblem:
    """A what-if error as a 422: changes that do not parse, or a changed profile that breaks a schema rule."""
    errs = [{"path": f"/changes/{v['field']}", "field": v["field"], "rule": v["rule"],
             "value": errors._jsonable(v.get("value")), "problem": v["message"]} for v in exc.violations]
    return ApiProblem(422, str(exc), errs)


def decision_router() -> APIRouter:
    """The what-if and next-grade endpoints, authenticated by `Officer`, scoring with `CurrentScorer`."""
    router = APIRouter(tags=["decision support"])
    growth = example_profiles()["growth"]
    searches: dict[int, NextGradeSearch] = {}  # one per served scorer (a model reload swaps it)

    def search_for(s: Scorer) -> NextGradeSearch:
        if id(s) not in searches:
            searches.clear()
            searches[id(s)] = NextGradeSearch(s)
        return searches[id(s)]

    @router.post("/v1/scores/what-if", response_model=WhatIfResult, response_model_exclude_unset=True,
                 responses=_PROBLEMS, summary="What if the firm changed …",
                 openapi_extra=_body(WhatIfRequest, {"profile": growth, "changes": {
                     "invention_patents_granted": "+2", "rd_expense_y0": "+20%"}}))
    async def what_if_endpoint(request: Request, key: Officer, scorer: CurrentScorer) -> WhatIfResult:
        """A profile plus changes (`+2`, `+20%`, `=registered_capital`, absolute values) → the new score, grade and
        limit beside the old, and the points moved per dimension and indicator. Exactly what scoring the changed
        profile gives; not recorded in the audit trail."""
        s = scorer()
        body, profile = await _parse(request, WhatIfRequest)
        try:
            return await run_in_threadpool(lambda: answers.what_if_result(what_if(s, profile, body.changes, date.today())))
        except WhatIfError as exc:
            raise _problem(exc) from exc
        except ValueError as exc:  # the assessment date filled in today breaks a date rule
            raise ApiProblem(422, str(exc)) from exc

    @router.post("/v1/scores/next-grade", response_model=NextGradeResult, response_model_exclude_unset=True,
                 responses=_PROBLEMS,
                 summary="Smallest set of changes that lifts the firm one grade",
                 openapi_extra=_body(NextGradeRequest, {"profile": growth}))
    async def next_grade_endpoint(request: Request, key: Officer, scorer: CurrentScorer) -> NextGradeResult:
        """The fewest actionable changes (the policy's levers: patents, R&D spend and staff, paid-in capital, tax
        grade …, never age or history) that lift the firm at least one grade, each step with its points, and the
        changed profile re-scored. `reachable` is false when no path exists within the policy's max_changes."""
        s = scorer()
        _, profile = await _parse(request, NextGradeRequest)
        try:
            return await run_in_threadpool(lambda: answers.next_grade_result(search_for(s).run(profile, date.today())))
        except WhatIfError as exc:
            raise _problem(exc) from exc
        except ValueError as exc:
            raise ApiProblem(422, str(exc)) from exc

    return router
