"""The policy's condition language: `{field, op, value}` tests over raw fields and assessment results.

One condition is written once in the policy YAML and used three ways: validated on load (the
field exists, the operator suits its kind, the value is allowed), evaluated vectorised over a
whole batch, and rendered as the rule text a loan officer reads beside each decision.
A missing value never satisfies a condition (missing is not zero).
"""
from __future__ import annotations

from functools import cached_property, lru_cache
from itertools import repeat
from typing import Any, Callable, Iterable, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from features.clean import DERIVED, CleanColumns
from features.schema import FIELD_SPECS
from models.scaling import GRADES

# Ordered enums, worst → best: `at_least X` means X or better.
ENUM_ORDER: dict[str, tuple[str, ...]] = {
    "grade": tuple(reversed(GRADES)),
    "tax_grade": ("D", "C", "M", "B", "A"),
    "qualification_tier": ("none", "tech_sme", "hnte", "srdi_provincial", "little_giant", "champion"),
    "latest_round": ("none", "angel", "a", "b", "c_plus", "pre_ipo"),
    "worst_loan_class": ("loss", "doubtful", "substandard", "special_mention", "normal"),
}

# Values derived from the raw profile (usable anywhere, knock-outs included): computed once by
# features.clean (age_years = (as_of − founded_on) / 365.25, months_since_latest_round in months of 365.25/12 days).
PROFILE_DERIVED: dict[str, str] = {name: "number" for name in DERIVED}
# Values of the assessment itself (usable in product rules, not in knock-outs).
ASSESSMENT_FIELDS: dict[str, str] = {"grade": "enum", "score": "number", "pd": "number",
                                     "stage": "enum", "limit": "number"}

Op = Literal["eq", "ne", "in", "not_in", "ge", "gt", "le", "lt", "at_least", "at_most"]
_SYMBOL = {"eq": "=", "ne": "≠", "in": "in", "not_in": "not in", "ge": "≥", "gt": ">", "le": "≤",
           "lt": "<", "at_least": "at least", "at_most": "at most"}
_NUMERIC_OPS = {"eq", "ne", "ge", "gt", "le", "lt", "in", "not_in"}
_ENUM_OPS = {"eq", "ne", "in", "not_in"}


def field_kind(name: str) -> str | None:
    """Kind of a field the condition language knows (number / integer / bool / enum), None if unknown."""
    if name in ASSESSMENT_FIELDS:
        return ASSESSMENT_FIELDS[name]
    if name in PROFILE_DERIVED:
        return PROFILE_DERIVED[name]
    spec = FIELD_SPECS.get(name)
    return None if spec is None else spec.kind


def allowed_values(name: str) -> tuple[str, ...]:
    """Enum values of a field (stage and grade included)."""
    if name == "grade":
        return GRADES
    if name == "stage":
        return FIELD_SPECS["lifecycle_stage"].enum
    return FIELD_SPECS[name].enum


class Condition(BaseModel):
    """One test, e.g. `{field: invention_patents_granted, op: ge, value: 1}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Op
    value: Any

    @model_validator(mode="after")
    def _check(self) -> "Condition":
        kind = field_kind(self.field)
        if kind is None:
            raise ValueError(f"unknown field {self.field!r} (a profile field or one of "
                             f"{', '.join([*PROFILE_DERIVED, *ASSESSMENT_FIELDS])})")
        if kind in ("date", "text"):
            raise ValueError(f"field {self.field!r} is a {kind}; rules test numbers, flags and enums")
        values = list(self.value) if self.op in ("in", "not_in") else [self.value]
        if self.op in ("in", "not_in") and (not isinstance(self.value, list) or not self.value):
            raise ValueError(f"op {self.op} needs a non-empty list as value")
        if kind == "enum":
            self._check_enum(values)
        else:
            self._check_number(kind, values)
        return self

    def _check_enum(self, values: list[Any]) -> None:
        ordered = self.field in ENUM_ORDER
        if self.op not in _ENUM_OPS and not (ordered and self.op in ("at_least", "at_most")):
            hint = "eq, ne, in, not_in" + (", at_least, at_most" if ordered else "")
            raise ValueError(f"op {self.op} does not apply to enum field {self.field!r} (use {hint})")
        allowed = allowed_values(self.field)
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"value {bad[0]!r} is not one of {', '.join(allowed)}")

    def _check_number(self, kind: str, values: list[Any]) -> None:
        if self.op not in _NUMERIC_OPS:
            raise ValueError(f"op {self.op} applies to ordered enums only, not to {kind} field {self.field!r}")
        for v in values:
            is_bool = isinstance(v, bool)
            if kind == "bool" and not is_bool:
                raise ValueError(f"value {v!r} must be true or false for flag {self.field!r}")
            if kind != "bool" and (is_bool or not isinstance(v, (int, float))):
                raise ValueError(f"value {v!r} must be a number for {kind} field {self.field!r}")

    def describe(self) -> str:
        """Rule text, e.g. 'invention_patents_granted ≥ 1'."""
        return self.description

    @cached_property
    def description(self) -> str:
        """`describe`, formatted once (an API answer lists the rules each product was granted on)."""
        def fmt(v: Any) -> str:
            return str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, (int, float)) else str(v)
        value = "[" + ", ".join(fmt(v) for v in self.value) + "]" if isinstance(self.value, list) else fmt(self.value)
        return f"{self.field} {_SYMBOL[self.op]} {value}"

    def evaluate(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask over rows; a missing value never satisfies the condition."""
        return self.test(cols[self.field])

    @cached_property
    def test(self) -> Callable[[np.ndarray], np.ndarray]:
        """The condition compiled once into a function of its field's column: a few numpy comparisons,
        the same for one row as for a million (an API request scores a handful of firms at a time).

        An enum condition becomes membership in the set of values that satisfy it: `ne`, `not_in` and
        the ordered `at_least` / `at_most` are resolved against the field's values here, so a missing
        value (None, NaN) matches nothing. A number compared with NaN is False, except for ≠ and
        `not in`, which test for a value explicitly.
        """
        values = self.value if isinstance(self.value, list) else [self.value]
        if field_kind(self.field) == "enum":
            accepted = self._accepted(values)
            return lambda x: isin(x, accepted)
        refs = tuple(float(v) for v in values)
        if self.op in _COMPARE:
            compare, ref = _COMPARE[self.op], refs[0]
            return lambda x: compare(np.asarray(x, dtype=float), ref)
        if self.op == "in":
            return lambda x: isin(np.asarray(x, dtype=float), refs)
        if self.op == "ne":
            ref = refs[0]
            return lambda x: _present_and(np.asarray(x, dtype=float), np.not_equal, ref)
        return lambda x: _present_and(np.asarray(x, dtype=float), _not_isin, refs)  # not_in

    def _accepted(self, values: list[Any]) -> tuple[str, ...]:
        """The values of an enum field that satisfy this condition."""
        if self.op in ("at_least", "at_most"):
            order = ENUM_ORDER[self.field]
            target = order.index(self.value)
            return order[target:] if self.op == "at_least" else order[:target + 1]
        if self.op in ("eq", "in"):
            return tuple(values)
        return tuple(v for v in allowed_values(self.field) if v not in values)  # ne, not_in


_COMPARE: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "eq": np.equal, "ge": np.greater_equal, "gt": np.greater, "le": np.less_equal, "lt": np.less}


@lru_cache(maxsize=None)
def _label_index(labels: tuple[str, ...]) -> dict[str, int]:
    return {label: k for k, label in enumerate(labels)}


def positions(values: np.ndarray, labels: tuple[str, ...], other: int | None = None) -> np.ndarray:
    """Position of each value in `labels`; `other` (default len(labels)) for any other value.

    One dict lookup per value: cheaper than one object-array comparison per label, for one firm or a million.
    """
    fallback = len(labels) if other is None else other
    return np.fromiter(map(_label_index(labels).get, values, repeat(fallback)), dtype=np.int64, count=len(values))


def isin(x: np.ndarray, values: tuple[Any, ...]) -> np.ndarray:
    """Element-wise membership by == (np.isin sorts, which costs more for a few values and cannot
    order None against str); None and NaN match nothing."""
    hit = np.zeros(len(x), dtype=bool)
    for value in values:
        hit |= x == value
    return hit


def _not_isin(x: np.ndarray, values: tuple[float, ...]) -> np.ndarray:
    return ~isin(x, values)


def _present_and(v: np.ndarray, test: Callable[[np.ndarray, Any], np.ndarray], ref: Any) -> np.ndarray:
    """`test(v, ref)` where v is not NaN (for the tests NaN would pass: ≠ and `not in`)."""
    return test(v, ref) & ~np.isnan(v)


def rank_of(field: str, values: np.ndarray) -> np.ndarray:
    """Position of each value in ENUM_ORDER[field] (worst 0); missing or unknown → −1."""
    out = np.full(len(values), -1, dtype=np.int64)
    for r, name in enumerate(ENUM_ORDER[field]):
        out[values == name] = r
    return out


def rule_columns(clean: CleanColumns, fields: Iterable[str]) -> dict[str, np.ndarray]:
    """The columns conditions on `fields` read (profile fields and derived values), by name."""
    return {f: clean[f] for f in fields if f in FIELD_SPECS or f in PROFILE_DERIVED}
