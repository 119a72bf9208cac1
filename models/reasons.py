"""Reason sentences and the values they show, in the field's unit.

A reason compares the firm with the median firm of its stage: its points are the firm's
contribution minus the median firm's for that indicator (models.scoring ranks by them). The
sentence follows from that comparison and the indicator's shape:

- D: worse than the median firm (a monotone indicator: lower or higher, per its direction);
- U: better than the median firm (never for a missing value);
- L / H: a single-peaked indicator below / above its sound range (its down reasons);
- M: an input field was not provided (missing data only ever costs points);
- N: the fields were provided but the indicator cannot be computed (e.g. zero revenue).

Values are shown as the officer knows them: money in 万元, shares in %, counts in 件/人, enum
levels by their names (features.enum_labels), flags as 是/否 — never in model units (ln, ordinals).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from features.enum_labels import VALUE_LABELS
from features.registry import (FOUNDER_BACKGROUND, LATEST_ROUND, LOAN_CLASS, QUALIFICATION_TIER, TAX_GRADE,
                               by_key)

KINDS: tuple[str, ...] = ("D", "M", "U", "N", "L", "H")  # order of the kinds' blocks in Catalogue.reason_cells
_ENUM_LEVELS = {"qualification_tier": QUALIFICATION_TIER, "founder_background": FOUNDER_BACKGROUND,
                "latest_round": LATEST_ROUND, "tax_grade": TAX_GRADE, "worst_loan_class": LOAN_CLASS}
# indicator unit → (display unit 中文, English)
_UNITS = {"件": ("件", "items"), "件/年": ("件/年", "items/yr"), "件/百人": ("件/百人", "per 100 staff"),
          "人": ("人", "people"), "家": ("家", "firms"), "次": ("次", "times"), "项": ("项", "projects"),
          "days": ("天", "days"), "years": ("年", "years"), "months": ("个月", "months"), "ratio": ("倍", "×"),
          "points": ("分", "points"), "years 0-3": ("年", "years"), "ordinal 0-3": ("级", "level")}


@dataclass(frozen=True)
class Display:
    """How one indicator's value is shown: `kind` log (the field behind ln(1 + x)), percent, enum, flag
    or number, in `unit` (中文, English)."""

    kind: str
    unit: tuple[str, str] = ("", "")
    levels: tuple[str, ...] = ()  # enum values by ordinal

    def value(self, v: float) -> float | None:
        """The value in the display unit (a number; an enum's ordinal stays its ordinal)."""
        if v != v:  # NaN
            return None
        if self.kind == "log":
            return float(np.expm1(v))
        if self.kind == "percent":
            return float(v * 100.0)
        return float(v)

    def text(self, v: float, lang: str) -> str | None:
        """The value as an officer reads it, unit included."""
        _, zh, en = self.texts(v)
        return zh if lang == "zh" else en

    def texts(self, v: float) -> tuple[float | None, str | None, str | None]:
        """`value(v)` and the value as an officer reads it in Chinese and English, unit included (one pass:
        the number is formatted once for both languages)."""
        shown = self.value(v)
        if shown is None:
            return None, None, None
        kind = self.kind
        if kind == "enum":
            k = int(round(shown))
            if 0 <= k < len(self.levels):
                names = VALUE_LABELS.get(self.levels[k], (self.levels[k], self.levels[k]))
                return shown, names[0], names[1]
        if kind == "flag":
            return (shown, "是", "yes") if shown >= 0.5 else (shown, "否", "no")
        if kind == "percent":
            text = f"{shown:.1f}%" if abs(shown) < 1000 else f"{shown:,.0f}%"
            return shown, text, text
        number = f"{shown:,.0f}" if abs(shown) >= 100 else f"{shown:.2f}".rstrip("0").rstrip(".")
        return shown, f"{number}{self.unit[0]}", f"{number} {self.unit[1]}".rstrip()


@lru_cache(maxsize=None)
def display_of(key: str, unit: str) -> Display:
    """Display of a registry indicator (by its unit and inputs); a bank's own column shows as a number."""
    try:
        ind = by_key(key)
    except KeyError:
        return Display("number")
    if unit.startswith("ln("):
        inner = unit[3:-1]
        return Display("log", {"万元": ("万元", "10k CNY"), "件": ("件", "items"), "人": ("人", "people")}.get(inner, (inner, inner)))
    if unit.startswith("share"):
        return Display("percent", ("%", "%"))
    if unit == "flag":
        return Display("flag")
    if len(ind.inputs) == 1 and ind.inputs[0] in _ENUM_LEVELS:
        levels = _ENUM_LEVELS[ind.inputs[0]]
        return Display("enum", levels=tuple(sorted(levels, key=levels.get)))
    return Display("number", _UNITS.get(unit, (unit, unit)))


def comparison(value: float, median: float) -> str:
    """"higher" / "lower" / "equal" than the stage median, or "not_provided"."""
    if value != value:
        return "not_provided"
    if median != median:
        return "equal"
    return "higher" if value > median else "lower" if value < median else "equal"


def contradicts(kind: str, direction: int, value: float, median: float, optimum: tuple[float, float] | None) -> bool:
    """Whether a reason of this kind states something the firm's own value contradicts: a worse (D) or
    better (U) comparison the wrong way round for the indicator's direction, a "below/above the sound
    range" (L/H) the value is not, a "not provided" (M/N) for a value that is there, or an up reason
    on a missing value."""
    missing = value != value
    if kind in ("M", "N"):
        return not missing
    if missing:
        return True
    if kind == "L":
        return optimum is None or not value < optimum[0]
    if kind == "H":
        return optimum is None or not value > optimum[1]
    if direction == 0:  # a single-peaked indicator's up reason: nearer its sound range on the same side
        if optimum is None or median != median:
            return False
        lo, hi = optimum
        dist = lambda x: lo - x if x < lo else (x - hi if x > hi else 0.0)  # noqa: E731
        same_side = (value <= hi and median <= hi) or (value >= lo and median >= lo)
        return kind == "U" and same_side and not dist(value) < dist(median)
    worse = value < median if direction < 0 else value > median
    better = value > median if direction < 0 else value < median
    return not (worse if kind == "D" else better)


def sentence_texts(feature: Any, kind: str) -> tuple[str, str]:
    """(中文, English) sentence of a reason kind for a catalogue feature."""
    if kind == "M":
        return f"未提供{feature.label_zh}所需数据", f"{feature.label_en}: data not provided"
    if kind == "N":
        return (f"{feature.label_zh}无法根据所填数据计算（如分母为零）",
                f"{feature.label_en} cannot be computed from the figures given (e.g. a zero denominator)")
    if kind in ("L", "H"):
        peak = getattr(feature, "peak", ()) or ()
        if len(peak) == 4:
            return (peak[0], peak[1]) if kind == "L" else (peak[2], peak[3])
        return feature.reason_down_zh, feature.reason_down_en
    if kind == "U":
        return feature.reason_up_zh, feature.reason_up_en
    return feature.reason_down_zh, feature.reason_down_en
