"""Request bodies as JSON: orjson first, and Python's parser for numbers orjson cannot hold.

JSON allows numbers of any size; orjson refuses those beyond a double (`1e400`, a 400-digit
integer) as if the body were not JSON. Such a body is valid JSON with an implausible value, so it
is parsed again by the standard library (big integers exact, huge floats as infinity) and the
schema's bounds answer 422 naming the field, instead of a 400 or a crash."""
from __future__ import annotations

import json
from typing import Any

import orjson

from service.api.errors import not_json


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(body: bytes) -> Any:
    """The body's JSON value, or the API's 400 problem when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc):
            raise not_json(exc) from exc
        first = exc
    try:
        value = json.loads(body, parse_constant=_no_constant)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate orjson would have refused
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and Unicode errors are ValueErrors
        raise not_json(first) from exc
    return value
