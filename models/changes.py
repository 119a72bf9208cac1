"""Changes to a firm profile, as an officer writes them: `+2`, `+20%`, `=registered_capital`, `A`, `12`.

Shared by what-if (changes typed by an officer) and the next-grade levers of the policy file.
A change is parsed and checked against the field's kind once, then applied vectorised to chosen
rows of a working copy of clean columns (`dict(clean.items())` of a `features.clean.CleanColumns`;
`CleanColumns.replace` turns the changed copy back into clean columns, derived values recomputed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, MutableMapping

import numpy as np

from features.clean import day_number
from features.kinds import KindError, bool_value, enum_value
from features.schema import DATE_MAX, DATE_MIN, FIELD_SPECS
from models.rules import ENUM_ORDER, rank_of

ChangeKind = Literal["add", "scale", "set", "set_field", "shift"]
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_RELATIVE = re.compile(rf"([+-])({_NUMBER})(%?)")
_FIELD_REF = re.compile(r"=([a-z][a-z_0-9]*)")
_NUMERIC_KINDS = ("number", "integer")
UNCHANGEABLE = frozenset({"firm_id"})


class ChangeError(ValueError):
    """A change that cannot apply to its field; the message names the field and the rule."""


@dataclass(frozen=True)
class Change:
    """One parsed change: add `amount`, scale by (1 + amount), set to `amount`, copy field `amount`, shift enum levels."""

    field: str
    kind: ChangeKind
    amount: Any
    text: str

    @property
    def sign(self) -> int:
        """+1 when the change raises the value (or the enum level), −1 when it lowers it, 0 otherwise."""
        if self.kind in ("add", "scale", "shift"):
            return int(np.sign(self.amount))
        return 0


def parse_change(field: str, spec: Any) -> Change:
    """Parse an officer's change for one field; raises ChangeError naming the field and the rule."""
    if field not in FIELD_SPECS:
        raise ChangeError(f"{field}: unknown field")
    if field in UNCHANGEABLE:
        raise ChangeError(f"{field}: the firm's identity cannot be changed in a what-if")
    kind = FIELD_SPECS[field].kind
    text = str(spec).strip() if not isinstance(spec, bool) else str(spec).lower()
    if kind in _NUMERIC_KINDS:
        return _parse_numeric(field, spec, text)
    if kind == "enum" and field in ENUM_ORDER and _RELATIVE.fullmatch(text) and not text.endswith("%"):
        steps = _check_finite(field, float(text))
        levels = int(steps)
        if levels == 0 or levels != steps:
            raise ChangeError(f"{field}: a level shift must be a non-zero whole number, got {text!r}")
        return Change(field, "shift", levels, text)
    return Change(field, "set", _absolute(field, kind, spec, text), text)


def _parse_numeric(field: str, spec: Any, text: str) -> Change:
    if isinstance(spec, bool):
        raise ChangeError(f"{field}: expected a number or a change like +2 / +20% / =other_field, got {spec!r}")
    if isinstance(spec, (int, float)):
        return Change(field, "set", _check_finite(field, _float(spec)), text)
    rel = _RELATIVE.fullmatch(text)
    if rel:
        amount = _check_finite(field, float(rel.group(2))) * (-1 if rel.group(1) == "-" else 1)
        if amount == 0:
            raise ChangeError(f"{field}: change {text!r} changes nothing")
        return Change(field, "scale", amount / 100.0, text) if rel.group(3) else Change(field, "add", amount, text)
    ref = _FIELD_REF.fullmatch(text)
    if ref:
        other = ref.group(1)
        if other not in FIELD_SPECS or FIELD_SPECS[other].kind not in _NUMERIC_KINDS:
            raise ChangeError(f"{field}: {text!r} must name a numeric profile field")
        return Change(field, "set_field", other, text)
    try:
        return Change(field, "set", _check_finite(field, float(text.lstrip("="))), text)
    except ValueError:
        raise ChangeError(f"{field}: expected a number or a change like +2 / +20% / =other_field, got {text!r}") from None


def _float(v: int | float) -> float:
    """A JSON number as a float (an integer beyond a double's range is infinite, then refused)."""
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def _check_finite(field: str, v: float) -> float:
    if not np.isfinite(v):
        raise ChangeError(f"{field}: value must be a finite number")
    return v


def _absolute(field: str, kind: str, spec: Any, text: str) -> Any:
    """An absolute value for a bool / enum / date / text field."""
    if kind == "bool":
        try:
            return float(bool_value(text))  # every yes/no spelling the bool kind accepts
        except KindError:
            raise ChangeError(f"{field}: expected true or false, got {text!r}") from None
    if kind == "enum":
        value = enum_value(text, FIELD_SPECS[field].enum)
        allowed = FIELD_SPECS[field].enum
        if value not in allowed:
            shift = " or a level shift like +1" if field in ENUM_ORDER else ""
            raise ChangeError(f"{field}: expected one of {', '.join(allowed)}{shift}, got {text!r}")
        return value
    if kind == "date":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ChangeError(f"{field}: expected an ISO date YYYY-MM-DD, got {text!r}") from None
        if not DATE_MIN <= day <= DATE_MAX:  # the schema's range (beyond it a Timestamp would not even hold it)
            raise ChangeError(f"{field}: the date must be between {DATE_MIN} and {DATE_MAX}, got {text!r}")
        return day_number(day)  # dates are day numbers in clean columns
    return text


def applied_values(cols: MutableMapping[str, np.ndarray], change: Change) -> np.ndarray:
    """The field's values after the change, for every row (missing stays missing)."""
    col = np.asarray(cols[change.field])
    if change.kind == "add":
        return col.astype(float) + change.amount
    if change.kind == "scale":
        out = col.astype(float) * (1.0 + change.amount)
        return np.round(out) if FIELD_SPECS[change.field].kind == "integer" else out
    if change.kind == "set_field":
        return np.array(cols[change.amount], dtype=float)
    if change.kind == "shift":
        order = ENUM_ORDER[change.field]
        rank = rank_of(change.field, col)
        new = np.clip(rank + change.amount, 0, len(order) - 1)
        return np.where(rank >= 0, np.asarray(order, dtype=object)[new], col).astype(object)
    return np.full(len(col), change.amount, dtype=col.dtype if col.dtype.kind in "fM" else object)


def apply_change(cols: MutableMapping[str, np.ndarray], change: Change, rows: np.ndarray | None = None) -> np.ndarray:
    """Apply the change in place to `rows` (bool mask; all rows when None); returns the value delta of numeric fields."""
    old = np.asarray(cols[change.field])
    rows = np.ones(len(old), dtype=bool) if rows is None else rows
    new = applied_values(cols, change)
    cols[change.field] = np.where(rows, new, old)
    if FIELD_SPECS[change.field].kind in _NUMERIC_KINDS:
        return np.where(rows, new.astype(float) - old.astype(float), 0.0)
    return np.zeros(len(old))
