"""Lifecycle stage (startup / growth / mature): declared when given, else derived from age and revenue."""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from features.clean import CleanColumns
from features.schema import FIELD_SPECS

STAGES: tuple[str, ...] = FIELD_SPECS["lifecycle_stage"].enum  # startup, growth, mature (the schema's)

# Policy defaults (domain.md §5); a bank's policy file (models/policy.py) may override them.
STARTUP_MAX_AGE_YEARS = 3.0        # age < 3 years → startup
STARTUP_MAX_REVENUE = 500.0        # revenue_y0 < 500 万元 → startup
MATURE_MIN_REVENUE = 20000.0       # revenue_y0 ≥ 20000 万元 …
MATURE_MIN_AGE_YEARS = 8.0         # … and age ≥ 8 years → mature


@dataclass(frozen=True)
class StageRules:
    """Thresholds of the derived stage: startup if age < startup_max_age_years or revenue < startup_max_revenue."""

    startup_max_age_years: float = STARTUP_MAX_AGE_YEARS
    startup_max_revenue: float = STARTUP_MAX_REVENUE
    mature_min_revenue: float = MATURE_MIN_REVENUE
    mature_min_age_years: float = MATURE_MIN_AGE_YEARS


DEFAULT_STAGE_RULES = StageRules()

def derive_stage(clean: CleanColumns, rules: StageRules = DEFAULT_STAGE_RULES) -> np.ndarray:
    """Stage per row (object array): declared lifecycle_stage wins, else the age/revenue rules."""
    declared, revenue, age = clean["lifecycle_stage"], clean["revenue_y0"], clean["age_years"]
    # NaN comparisons are False, so unknown age and revenue fall through to growth.
    startup = (age < rules.startup_max_age_years) | (revenue < rules.startup_max_revenue)
    mature = (revenue >= rules.mature_min_revenue) & (age >= rules.mature_min_age_years)
    derived = np.where(startup, "startup", np.where(mature, "mature", "growth")).astype(object)
    return np.where(_given(declared), declared, derived).astype(object)


def _given(declared: np.ndarray) -> np.ndarray:
    """Rows whose declared lifecycle_stage is one of STAGES."""
    given = np.zeros(len(declared), dtype=bool)
    for stage in STAGES:  # element-wise == copes with None/NaN mixed into object arrays
        given |= declared == stage
    return given


# ---- the stage a model reads, and a declared stage checked against the data ----
STRICTNESS = {"startup": 0, "growth": 1, "mature": 2}  # lower = stricter (smaller caps, domain brief §5)
AGE_RAMP_YEARS = 0.25   # soft stage weights: an age rule blends over ± 3 months …
REVENUE_RAMP_LOG = 0.05  # … a revenue rule over ± 5% of the threshold


@dataclass(frozen=True)
class StageAssessment:
    """Per row: the declared stage (None when not given), the stage the data shows (None when the data
    cannot tell), the stage the model reads (`stage`: the data's, else the declared one, else growth),
    whether a declared stage contradicts the data, the stage for limits (the declared one, or the stricter
    of the two when they conflict), and soft weights
    over STAGES (sum 1) that blend per-stage model parameters near the rules' thresholds, so that a small
    change of age or revenue never flips a score."""

    declared: np.ndarray
    data: np.ndarray
    stage: np.ndarray
    conflict: np.ndarray
    limit_stage: np.ndarray
    weights: np.ndarray  # (n, len(STAGES))


def _ramp(distance: np.ndarray, half: float) -> np.ndarray:
    """0 → 1 as distance goes from −half to +half (0.5 on the threshold); NaN → 0 (rule not met)."""
    r = np.minimum(np.maximum(0.5 + distance / (2.0 * half), 0.0), 1.0)  # NaN stays NaN (np.clip's cost is per call)
    return np.where(r == r, r, 0.0)


def assess_stage(clean: CleanColumns, rules: StageRules = DEFAULT_STAGE_RULES) -> StageAssessment:
    """Stage per row from the data (age, revenue) and the declaration (see `StageAssessment`)."""
    declared = clean["lifecycle_stage"]
    given = _given(declared)
    declared = np.where(given, declared, None).astype(object)
    revenue, age = clean["revenue_y0"], clean["age_years"]
    with np.errstate(invalid="ignore"):
        startup = (age < rules.startup_max_age_years) | (revenue < rules.startup_max_revenue)
        not_startup = (age >= rules.startup_max_age_years) & (revenue >= rules.startup_max_revenue)
        mature = (revenue >= rules.mature_min_revenue) & (age >= rules.mature_min_age_years)
        not_mature = (revenue < rules.mature_min_revenue) | (age < rules.mature_min_age_years)
    data = np.where(startup, "startup", np.where(not_startup & mature, "mature",
                                                 np.where(not_startup & not_mature, "growth", None))).astype(object)
    known = data != None  # noqa: E711 (element-wise on an object array)
    # A firm of the SME segment (revenue ≤ 20000 万元) can rarely reach the mature revenue rule, so a
    # declared "mature" is contradicted by its age or by startup data, not by revenue below that rule.
    declared_mature = declared == "mature"
    with np.errstate(invalid="ignore"):
        mature_kept = declared_mature & (data == "growth") & (age >= rules.mature_min_age_years)
    data = np.where(mature_kept, "mature", data).astype(object)
    stage = np.where(known, data, np.where(given, declared, "growth")).astype(object)
    conflict = known & given & (data != declared)
    stricter = np.where(conflict, np.where(_rank(declared) < _rank(data), declared, data),
                        np.where(given, declared, stage))
    weights = _soft_weights(age, revenue, rules, declared_mature, np.where(given, declared, "growth"))
    return StageAssessment(declared, data, stage, conflict, stricter.astype(object), weights)


def _rank(stage: np.ndarray) -> np.ndarray:
    """STRICTNESS of each stage (unknown → growth's)."""
    return np.where(stage == "startup", STRICTNESS["startup"],
                    np.where(stage == "mature", STRICTNESS["mature"], STRICTNESS["growth"]))


def _soft_weights(age: np.ndarray, revenue: np.ndarray, rules: StageRules, declared_mature: np.ndarray,
                  fallback: np.ndarray) -> np.ndarray:
    """The stage rules with each threshold blended over a narrow ramp (hard rules where far from it); for a
    declared mature firm only the age rule decides between growth and mature. An unknown age or revenue
    reads as the fallback stage's (the declared one, else growth) in every rule it enters: where the data
    cannot tell, the weights are then the fallback's one-hot, and they stay continuous as the known input
    crosses its threshold (a firm without a founding date whose revenue passes 500 万元 no longer jumps from
    the revenue rule's blend to the declared stage)."""
    is_startup, is_mature = (fallback == "startup").astype(float), (fallback == "mature").astype(float)
    age_unknown, revenue_unknown = np.isnan(age), np.isnan(revenue)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rev = np.log1p(np.maximum(revenue, 0.0))
        young = np.where(age_unknown, is_startup, _ramp(rules.startup_max_age_years - age, AGE_RAMP_YEARS))
        small = np.where(revenue_unknown, is_startup,
                         _ramp(np.log1p(rules.startup_max_revenue) - log_rev, REVENUE_RAMP_LOG))
        big = np.where(declared_mature, 1.0, np.where(
            revenue_unknown, is_mature, _ramp(log_rev - np.log1p(rules.mature_min_revenue), REVENUE_RAMP_LOG)))
        old = np.where(age_unknown, is_mature, _ramp(age - rules.mature_min_age_years, AGE_RAMP_YEARS))
    s = np.maximum(young, small)
    m = (1.0 - s) * np.minimum(big, old)
    return np.stack([s, 1.0 - s - m, m], axis=1)
