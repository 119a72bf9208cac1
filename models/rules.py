"""The policy's condition language: `{field, op, value}` tests over raw fields and assessment results.

One condition is written once in the policy YAML and used three ways: validated on load (the
field exists, the operator suits its kind, the value is allowed), evaluated vectorised over a
whole batch, and rendered as the rule text a loan officer reads beside each decision.
A missing value never satisfies a condition (missing is not zero).
"""
from __future__ import annotations

from functools import cached_property
from typing import Any, Iterable, Literal, Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from features.indicators import frame_to_columns, to_days
from features.registry import DAYS_PER_MONTH, DAYS_PER_YEAR
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

# Values derived from the raw profile (usable anywhere, knock-outs included).
PROFILE_DERIVED: dict[str, str] = {
    "age_years": "number",                 # (as_of − founded_on) / 365.25
    "months_since_latest_round": "number",  # (as_of − latest_round_date) / (365.25 / 12)
}
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
        x = cols[self.field]
        if self.field in ENUM_ORDER and self.op in ("at_least", "at_most"):
            order = ENUM_ORDER[self.field]
            rank = rank_of(self.field, x)
            target = order.index(self.value)
            return (rank >= target) if self.op == "at_least" else (rank <= target) & (rank >= 0)
        if field_kind(self.field) == "enum":
            present = pd.notna(x)
            values = self.value if isinstance(self.value, list) else [self.value]
            hit = np.zeros(len(x), dtype=bool)
            for value in values:  # element-wise ==: np.isin would sort None against str
                hit |= x == value
            return present & (hit if self.op in ("eq", "in") else ~hit)
        v = np.asarray(x, dtype=float)
        present = ~np.isnan(v)
        if self.op in ("in", "not_in"):
            hit = np.isin(v, np.asarray(self.value, dtype=float))
            return present & (hit if self.op == "in" else ~hit)
        ref = float(self.value)
        with np.errstate(invalid="ignore"):
            out = {"eq": v == ref, "ne": v != ref, "ge": v >= ref, "gt": v > ref, "le": v <= ref, "lt": v < ref}[self.op]
        return present & out


def rank_of(field: str, values: np.ndarray) -> np.ndarray:
    """Position of each value in ENUM_ORDER[field] (worst 0); missing or unknown → −1."""
    out = np.full(len(values), -1, dtype=np.int64)
    for r, name in enumerate(ENUM_ORDER[field]):
        out[values == name] = r
    return out


Columns = pd.DataFrame | Mapping[str, Any]  # a clean frame or its columns as numpy arrays


def columns_of(clean: Columns, fields: Iterable[str]) -> dict[str, np.ndarray]:
    """Numpy columns of a clean frame or column mapping (dates as float days, enums as object)."""
    if isinstance(clean, pd.DataFrame):
        return frame_to_columns(clean, list(fields))
    return {f: to_days(clean[f]) if FIELD_SPECS[f].kind == "date" else np.asarray(clean[f]) for f in fields}


def rule_columns(clean: Columns, fields: set[str]) -> dict[str, np.ndarray]:
    """The columns conditions read (raw fields plus profile-derived values)."""
    raw = {f for f in fields if f in FIELD_SPECS}
    needs = raw | ({"as_of", "founded_on"} if "age_years" in fields else set())
    needs |= {"as_of", "latest_round_date"} if "months_since_latest_round" in fields else set()
    cols = columns_of(clean, sorted(needs))
    if "age_years" in fields:
        cols["age_years"] = (cols["as_of"] - cols["founded_on"]) / DAYS_PER_YEAR
    if "months_since_latest_round" in fields:
        cols["months_since_latest_round"] = (cols["as_of"] - cols["latest_round_date"]) / DAYS_PER_MONTH
    return cols
