"""Firm profiles read from a request's JSON: one body, or one item of a batch, validated by `FirmProfile`
with today's date as `as_of` when none is given; a bad profile raises the API's 422 naming its fields."""
from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from features.schema import FIELD_SPECS, FirmProfile
from service.api import errors
from service.api.errors import ApiProblem
from service.api.json_body import loads as loads_json

_AS_OF_KEYS = {"as_of", FIELD_SPECS["as_of"].label_zh}
_AS_OF_BYTES = tuple(k.encode() for k in _AS_OF_KEYS)


def _with_as_of(profile: FirmProfile, today: date) -> FirmProfile:
    """Assess on today's date when none is given; the date rules are re-checked against it."""
    if profile.as_of is not None:
        return profile
    return FirmProfile.model_validate(profile.model_dump() | {"as_of": today})


def parse_profile(data: Any, prefix: str = "") -> FirmProfile:
    """A decoded JSON value as a firm profile; `prefix` is its JSON pointer in the body (`/3` in a batch)."""
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


def parse_profile_json(body: bytes) -> FirmProfile:
    """`parse_profile` of a JSON request body. A body that names an as_of (a bank's system usually
    sends one) is validated straight from its bytes, without building a dict first; any other body,
    and every error, takes the dict path, so the answer to a bad body is word for word the same.
    (pydantic's JSON parser reads a NaN literal, which is not JSON, as a missing value: such a body
    takes the dict path too, and its 400.)"""
    if any(k in body for k in _AS_OF_BYTES) and b"NaN" not in body:
        try:
            return _with_as_of(FirmProfile.model_validate_json(body), date.today())
        except (ValidationError, ValueError, OverflowError):
            pass
    return parse_profile(loads_json(body))
