"""The loan officer's web page: static assets at `/` plus the form metadata the page renders from.

The page never lists fields itself: `GET /v1/form` derives sections, labels, units, bounds and
enum values from `features.schema.FIELD_SPECS`, and `GET /v1/examples` serves
`features.schema.example_profiles()`. Like every `/v1/` endpoint they need an officer's key.
"""
from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.params import Depends
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from features.enum_labels import enum_labels
from features.registry import DIMENSIONS, INDICATORS
from features.schema import _UNIT_EN, FIELD_SPECS, GROUPS, example_profiles

STATIC_DIR = Path(__file__).with_name("static")

# Schema groups shown as form sections: the five raw-data groups that feed one dimension each sit
# under that dimension's label; identity and the loan request frame them.
GROUP_DIMENSION = {"ip": "tech_ip", "rd": "rd_input", "talent": "talent", "capital": "capital",
                   "financials": "operations", "credit": "credit"}
OTHER_GROUP_LABELS = {"identity": ("企业基本信息", "Firm identity"), "request": ("贷款申请", "Loan request")}
SECTION_ORDER = ("identity", "ip", "rd", "talent", "capital", "financials", "credit", "request")
assert set(SECTION_ORDER) == set(GROUPS), "every schema group needs a form section"

# Units as the page shows them (the schema's unit codes are Chinese except the 0–1 share).
UNIT_LABELS = {"share 0-1": ("比例(0–1)", "share (0–1)")}

router = APIRouter(tags=["web"])


def _field(name: str) -> dict[str, Any]:
    spec = asdict(FIELD_SPECS[name])
    spec["enum"] = list(spec["enum"])
    default = (spec["unit"], _UNIT_EN.get(spec["unit"], spec["unit"]))
    spec["unit_zh"], spec["unit_en"] = UNIT_LABELS.get(spec["unit"], default)
    # display names of the enum values (features.enum_labels), in schema order
    spec["enum_labels"] = [{"value": v, "label_zh": zh, "label_en": en}
                           for v, (zh, en) in (enum_labels(name).items() if spec["kind"] == "enum" else ())]
    return spec


def _section(group: str) -> dict[str, Any]:
    dim = GROUP_DIMENSION.get(group)
    zh, en = DIMENSIONS[dim] if dim else OTHER_GROUP_LABELS[group]
    return {"key": group, "dimension": dim, "label_zh": zh, "label_en": en,
            "fields": [_field(n) for n, s in FIELD_SPECS.items() if s.group == group]}


@lru_cache(maxsize=1)
def form_spec() -> dict[str, Any]:
    """Everything the page needs to render the profile form and explain a result."""
    return {
        "sections": [_section(g) for g in SECTION_ORDER],
        "dimensions": [{"key": k, "label_zh": zh, "label_en": en} for k, (zh, en) in DIMENSIONS.items()],
        # the raw fields behind each indicator: the what-if panel offers those behind the reasons
        "indicators": [{"key": i.key, "label_zh": i.label_zh, "label_en": i.label_en, "inputs": list(i.inputs)}
                       for i in INDICATORS],
    }


@router.get("/v1/form", summary="Profile form metadata (sections, labels, units, bounds) from the schema")
def get_form() -> dict[str, Any]:
    return form_spec()


@router.get("/v1/examples", summary="Example firms (startup, growth, mature) as profile JSON")
def get_examples() -> dict[str, dict[str, Any]]:
    return example_profiles()


def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def mount_web(app: FastAPI, officer: Depends) -> None:
    """Add the page (`/`, `/static/*`) and its metadata endpoints, authenticated by `officer`."""
    app.include_router(router, dependencies=[officer])
    app.add_api_route("/", index, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
