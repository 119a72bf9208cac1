"""Indicator registry: the single source of truth for every model feature (metadata + formula)."""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from features.schema import FIELD_SPECS

Cols = Mapping[str, np.ndarray]
IndicatorFn = Callable[[Cols], np.ndarray]

DIMENSIONS: "OrderedDict[str, tuple[str, str]]" = OrderedDict(
    [
        ("tech_ip", ("技术创新与知识产权", "Technology & IP")),
        ("rd_input", ("研发投入", "R&D input")),
        ("talent", ("人才团队", "Talent & team")),
        ("capital", ("资本背景", "Capital background")),
        ("operations", ("经营成长", "Operations & growth")),
        ("credit", ("信用合规", "Credit & compliance")),
    ]
)
# Code prefix per dimension; codes are stable identifiers used in reason codes — never renumber.
CODE_PREFIX = {"tech_ip": "IP", "rd_input": "RD", "talent": "TL",
               "capital": "CP", "operations": "OP", "credit": "CR"}

# Raw-field kinds the column preparer needs (everything else is numeric float64), from the schema.
ENUM_FIELDS = frozenset(n for n, s in FIELD_SPECS.items() if s.kind == "enum")
DATE_FIELDS = frozenset(n for n, s in FIELD_SPECS.items() if s.kind == "date")

# ---- policy constants (a later policy file will configure these) ----
# High-tech-enterprise R&D intensity thresholds (public rule): revenue ≤ 5000 万元 (inclusive) → 5%,
# 5000 < revenue ≤ 20000 → 4%, revenue > 20000 → 3%.
HNTE_BANDS: tuple[tuple[float, float], ...] = ((5000.0, 0.05), (20000.0, 0.04))
HNTE_TOP_THRESHOLD = 0.03
RD_YEAR_INTENSITY = 0.03        # "years of the last 3 with intensity ≥ 3%"
RUNWAY_CAP_MONTHS = 120.0       # runway when not burning cash, and upper cap
EXPOSURE_CAP = 10.0             # cap for x / net assets (also used when net assets ≤ 0 and x > 0)
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0
# Cross-dimension indicators (RD12, CP11, IP13): where each effect starts and is full.
BURN_INTENSITY_FROM, BURN_INTENSITY_SPAN = 0.10, 4.0  # intensity above 10%, in full from 40%
BURN_CASH_YEARS = 2.0           # cash short when it covers less than 2 years of R&D spend
REDEMPTION_FALL_FULL = 0.3      # revenue log-drop at which a redemption clause weighs in full
YOUNG_FIRM_YEARS = 3.0          # a thin operating history: younger than 3 years
# R&D intensity's declared sound range: from the high-tech-enterprise threshold of the smallest firms (5%)
# to where heavy burn starts (10%). RD01's curve is lowest and flat on it (training.shape), and every other
# indicator fed by R&D spend rewards the spend only up to the range's low end (RD02–RD05) or weighs it as
# a burden only beyond its high end (RD10, RD12); RD06 and RD11 do not read this year's spend. So the
# score never falls when R&D spend moves towards the range (raised below it, cut above it; a pre-revenue
# firm's spend counts as above it) by up to ×2 / ÷2, the range's width.
RD_SOUND_LOW = max(t for _, t in HNTE_BANDS)
RD_SOUND_HIGH = BURN_INTENSITY_FROM

# ---- ordinal encodings of enums (missing/unknown → NaN) ----
QUALIFICATION_TIER = {"none": 0, "tech_sme": 1, "hnte": 2, "srdi_provincial": 3,
                      "little_giant": 4, "champion": 5}
FOUNDER_BACKGROUND = {"none": 0, "executive": 1, "phd_professor": 2, "serial_exit": 3}
LATEST_ROUND = {"none": 0, "angel": 1, "a": 2, "b": 3, "c_plus": 4, "pre_ipo": 5}
TAX_GRADE = {"A": 0, "B": 1, "M": 2, "C": 3, "D": 4}
LOAN_CLASS = {"normal": 0, "special_mention": 1, "substandard": 2, "doubtful": 3, "loss": 4}


@dataclass(frozen=True)
class Indicator:
    """One model feature: stable identity, explanation texts and its vectorised formula."""

    key: str
    code: str
    dimension: str
    formula: str
    unit: str
    direction: int
    label_zh: str
    label_en: str
    reason_down_zh: str
    reason_down_en: str
    reason_up_zh: str
    reason_up_en: str
    inputs: tuple[str, ...]
    fn: IndicatorFn = field(compare=False, repr=False)
    # Single-peaked indicators (direction 0): risk is lowest at an optimum the model learns (training
    # finds it on the training rows and stores it in the bundle); the two sentences say on which side
    # of it a firm lies: (too low 中文, too low English, too high 中文, too high English).
    peak: tuple[str, str, str, str] | None = None
    # A single-peaked indicator's declared sound range (low, high): its curve is lowest and flat there.
    sound: tuple[float, float] | None = None


def definition_digest(ind: Indicator) -> str:
    """What a model trained on this indicator depends on (formula text, inputs, direction, sound range):
    a bundle records it at training, and scoring refuses a bundle whose indicators are defined otherwise
    today (its curves were fitted to other values). A formula change is written into `formula`."""
    text = json.dumps([ind.formula, list(ind.inputs), ind.direction, ind.sound], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_REGISTERED: list[Indicator] = []


def indicator(*, key: str, code: str, dimension: str, formula: str, unit: str, direction: int,
              label: tuple[str, str], down: tuple[str, str], up: tuple[str, str],
              inputs: tuple[str, ...] | None = None, form: Form | None = None,
              peak: tuple[str, str, str, str] | None = None, sound: tuple[float, float] | None = None) -> Any:
    """Register an indicator once, with its metadata: `form=` registers a `Form` at once (its inputs are
    its fields); without it, the result decorates the indicator's formula function (`inputs=` required)."""
    def register(fn: IndicatorFn) -> IndicatorFn:
        fields = inputs if inputs is not None else fn.fields  # type: ignore[attr-defined]
        if dimension not in DIMENSIONS:
            raise ValueError(f"{key}: unknown dimension {dimension!r}")
        if not code.startswith(CODE_PREFIX[dimension]):
            raise ValueError(f"{key}: code {code} does not match dimension {dimension}")
        if direction not in (-1, 0, 1):
            raise ValueError(f"{key}: direction must be -1, 0 or +1")
        if (direction == 0) != (peak is not None):
            raise ValueError(f"{key}: an indicator is monotone (direction ±1) or single-peaked (direction 0 with peak=)")
        if sound is not None and (peak is None or not 0 <= sound[0] < sound[1]):
            raise ValueError(f"{key}: a sound range (low < high) belongs to a single-peaked indicator")
        if any(i.key == key or i.code == code for i in _REGISTERED):
            raise ValueError(f"duplicate indicator key or code: {key} / {code}")
        _REGISTERED.append(Indicator(key, code, dimension, formula, unit, direction, label[0],
                                     label[1], down[0], down[1], up[0], up[1], tuple(fields), fn, peak, sound))
        return fn
    return register if form is None else register(form)


# ---- vectorised helpers (inputs are prepared float64 / object arrays, never pandas) ----

def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b with b == 0 → NaN (never inf); NaN propagates."""
    nz = b != 0
    return np.where(nz, a / np.where(nz, b, 1.0), np.nan)


def _log1p(x: np.ndarray) -> np.ndarray:
    """ln(1 + x) for non-negative amounts/counts (negatives floored at 0), NaN kept."""
    return np.log1p(np.maximum(x, 0.0))


def _ordinal(values: np.ndarray, levels: Mapping[str, int]) -> np.ndarray:
    """Map enum strings to ordinals; missing or unknown values → NaN (numpy reads dict.get's None as NaN).

    One C-level dict lookup per value: cheaper than one object-array comparison per level at any size.
    """
    return np.array(list(map(levels.get, values)), dtype=np.float64).reshape(len(values))


def _exposure(x: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """x / net assets clipped to [0, EXPOSURE_CAP]; equity ≤ 0 → cap if x > 0 else 0 (insolvent firm)."""
    pos = equity > 0
    r = np.where(pos, x / np.where(pos, equity, 1.0), np.where(x > 0, EXPOSURE_CAP, 0.0))
    r = np.minimum(np.maximum(r, 0.0), EXPOSURE_CAP)  # np.clip, at a third of its call cost
    r[np.isnan(x) | np.isnan(equity)] = np.nan
    return r


def _value(x: np.ndarray) -> np.ndarray:
    """A count, level or yes/no (already coded 0.0/1.0/NaN) as a float copy."""
    return np.array(x, dtype=np.float64)


@dataclass(frozen=True)
class Form:
    """An indicator that is one elementwise function of its input columns: `transform_columns`
    evaluates all indicators of one kind in a single call on their stacked inputs (for a few rows,
    numpy's per-call cost is most of an indicator's cost)."""

    kind: str  # a key of FORM_KINDS, the function of the fields' columns
    fields: tuple[str, ...]

    def __call__(self, c: Cols) -> np.ndarray:
        return FORM_KINDS[self.kind](*(c[f] for f in self.fields))


def _growth(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """now / before − 1 (before 0 → NaN)."""
    return _div(now, before) - 1.0


FORM_KINDS: dict[str, Callable[..., np.ndarray]] = {"ratio": _div, "log1p": _log1p, "value": _value,
                                                    "growth": _growth, "exposure": _exposure}


def ratio_of(numerator: str, denominator: str) -> Form:
    return Form("ratio", (numerator, denominator))


def log1p_of(field: str) -> Form:
    return Form("log1p", (field,))


def value_of(field: str) -> Form:
    """A count, level or yes/no used as it is."""
    return Form("value", (field,))


def growth_of(now: str, before: str) -> Form:
    return Form("growth", (now, before))


def exposure_of(amount: str, equity: str) -> Form:
    """amount / net assets, capped (see `_exposure`)."""
    return Form("exposure", (amount, equity))


def age_years(cols: Cols) -> np.ndarray:
    """Firm age in years = (as_of − founded_on) / 365.25; dates are float days."""
    return (cols["as_of"] - cols["founded_on"]) / DAYS_PER_YEAR


def months_since_round(cols: Cols) -> np.ndarray:
    """Months since the latest funding round = (as_of − latest_round_date) / (365.25 / 12)."""
    return (cols["as_of"] - cols["latest_round_date"]) / DAYS_PER_MONTH


def rd_within_sound(rd: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """R&D spend counted up to RD_SOUND_LOW of revenue (revenue 0 → 0: pre-revenue spend is beyond the
    range); unknown when either is missing."""
    return np.minimum(rd, RD_SOUND_LOW * revenue)


def rd_beyond_sound(rd: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """R&D spend counted at no less than RD_SOUND_HIGH of revenue; unknown when either is missing."""
    return np.maximum(rd, RD_SOUND_HIGH * revenue)


def hnte_threshold(revenue: np.ndarray) -> np.ndarray:
    """High-tech-enterprise R&D intensity threshold for each firm's revenue band."""
    out = np.full(np.shape(revenue), HNTE_TOP_THRESHOLD)
    for upper, threshold in reversed(HNTE_BANDS):  # the lowest band that holds the revenue is written last
        out[revenue <= upper] = threshold
    return out


# =============================== tech_ip ===============================

indicator(key="ip_invention_granted_log", code="IP01", dimension="tech_ip",
          formula="ln(1 + invention_patents_granted)", unit="ln(件)", direction=-1,
          label=("发明专利授权量（对数）", "Granted invention patents (log)"),
          down=("发明专利授权量低于同阶段企业中位数",
                "Fewer granted invention patents than the median firm of its stage"),
          up=("发明专利授权量高于同阶段企业中位数",
              "More granted invention patents than the median firm of its stage"),
          form=log1p_of("invention_patents_granted"))


@indicator(key="ip_invention_share", code="IP02", dimension="tech_ip",
           formula="invention_patents_granted / (invention_patents_granted + utility_models + design_patents)",
           unit="share 0-1", direction=-1,
           label=("发明专利占专利总量比例", "Invention share of granted patents"),
           down=("发明专利占专利总量比例偏低，专利质量不足",
                 "Invention patents make up a small share of the patent portfolio"),
           up=("发明专利占专利总量比例较高，专利质量较好",
               "Invention patents make up a large share of the patent portfolio"),
           inputs=("invention_patents_granted", "utility_models", "design_patents"))
def _ip02(c: Cols) -> np.ndarray:
    inv = c["invention_patents_granted"]
    return _div(inv, inv + c["utility_models"] + c["design_patents"])


indicator(key="ip_pending_log", code="IP03", dimension="tech_ip",
          formula="ln(1 + invention_patents_pending)", unit="ln(件)", direction=-1,
          label=("在审发明专利申请（对数）", "Pending invention applications (log)"),
          down=("在审发明专利申请较少，技术储备不足",
                "Few pending invention applications in the pipeline"),
          up=("在审发明专利申请较多，技术储备充足",
              "A strong pipeline of pending invention applications"),
          form=log1p_of("invention_patents_pending"))


indicator(key="ip_pct_log", code="IP04", dimension="tech_ip",
          formula="ln(1 + pct_applications)", unit="ln(件)", direction=-1,
          label=("PCT及境外专利申请（对数）", "PCT / foreign patent filings (log)"),
          down=("PCT及境外专利申请少于同阶段企业",
                "Fewer PCT or foreign patent filings than peers of its stage"),
          up=("PCT及境外专利布局多于同阶段企业",
              "More PCT or foreign patent filings than peers of its stage"),
          form=log1p_of("pct_applications"))


indicator(key="ip_new_3y_log", code="IP05", dimension="tech_ip",
          formula="ln(1 + ip_new_3y)", unit="ln(件)", direction=-1,
          label=("近三年新增知识产权（对数）", "IP added in the last 3 years (log)"),
          down=("近三年新增知识产权较少，创新活跃度偏低",
                "Little new IP added in the last 3 years"),
          up=("近三年新增知识产权较多，创新活跃",
              "Plenty of new IP added in the last 3 years"),
          form=log1p_of("ip_new_3y"))


@indicator(key="ip_standards_score", code="IP06", dimension="tech_ip",
           formula="3 × standards_national + 2 × standards_industry + 1 × standards_group "
                   "(a missing count adds 0; NaN only when all three are missing)",
           unit="points", direction=-1,
           label=("标准制定得分", "Standards drafted score"),
           down=("参与制定的国家、行业或团体标准较少",
                 "Has drafted few national, industry or group standards"),
           up=("主导或参与制定多项国家、行业或团体标准",
               "Has drafted several national, industry or group standards"),
           inputs=("standards_national", "standards_industry", "standards_group"))
def _ip06(c: Cols) -> np.ndarray:
    parts = np.array([3.0 * c["standards_national"], 2.0 * c["standards_industry"], c["standards_group"]])
    known = ~np.isnan(parts)
    # banks often report only the standards a firm has drafted; one known count is enough
    return np.where(np.logical_or.reduce(known, axis=0), np.add.reduce(np.where(known, parts, 0.0), axis=0), np.nan)


@indicator(key="ip_conversions_per_year", code="IP07", dimension="tech_ip",
           formula="tech_conversions_3y / clip(age_years, 1, 3) (age unknown → 3)",
           unit="件/年", direction=-1,
           label=("年均科技成果转化数", "Technology conversions per year"),
           down=("科技成果转化项目较少", "Few technology conversions per year"),
           up=("科技成果转化活跃", "Active technology conversions every year"),
           inputs=("tech_conversions_3y", "as_of", "founded_on"))
def _ip07(c: Cols) -> np.ndarray:
    # A firm younger than 3 years had less time to convert; divide by the years it existed.
    years = np.clip(age_years(c), 1.0, 3.0)
    years = np.where(np.isnan(years), 3.0, years)
    return c["tech_conversions_3y"] / years


@indicator(key="ip_qualification_tier", code="IP08", dimension="tech_ip",
           formula="qualification_tier: none 0, tech_sme 1, hnte 2, srdi_provincial 3, "
                   "little_giant 4, champion 5",
           unit="ordinal 0-5", direction=-1,
           label=("科技资质层级", "Technology qualification tier"),
           down=("科技资质层级较低（未获高新技术企业或专精特新认定）",
                 "Holds a low-tier or no technology qualification (no HNTE or SRDI recognition)"),
           up=("具备较高层级科技资质（如高新技术企业、专精特新）",
               "Holds a high-tier technology qualification (e.g. HNTE or SRDI little giant)"),
           inputs=("qualification_tier",))
def _ip08(c: Cols) -> np.ndarray:
    return _ordinal(c["qualification_tier"], QUALIFICATION_TIER)


indicator(key="ip_sci_award_level", code="IP09", dimension="tech_ip",
          formula="sci_award_level (0 none … 3 national)", unit="ordinal 0-3", direction=-1,
          label=("科技奖励级别", "Science award level"),
          down=("未获或仅获较低级别科技奖励",
                "No or only low-level science and technology awards"),
          up=("获得较高级别科技奖励", "Has won a high-level science and technology award"),
          form=value_of("sci_award_level"))


indicator(key="ip_software_copyrights_log", code="IP10", dimension="tech_ip",
          formula="ln(1 + software_copyrights)", unit="ln(件)", direction=-1,
          label=("软件著作权（对数）", "Software copyrights (log)"),
          down=("软件著作权数量少于同阶段企业",
                "Fewer software copyrights than peers of its stage"),
          up=("软件著作权数量多于同阶段企业",
              "More software copyrights than peers of its stage"),
          form=log1p_of("software_copyrights"))


indicator(key="ip_trademarks_log", code="IP11", dimension="tech_ip",
          formula="ln(1 + trademarks)", unit="ln(件)", direction=-1,
          label=("注册商标（对数）", "Registered trademarks (log)"),
          down=("注册商标较少，品牌保护不足", "Few registered trademarks to protect the brand"),
          up=("注册商标较多，品牌保护较完善", "A well-protected brand with many registered trademarks"),
          form=log1p_of("trademarks"))


@indicator(key="ip_inventions_per_100_staff", code="IP12", dimension="tech_ip",
           formula="100 × invention_patents_granted / staff_total (staff 0 → NaN)",
           unit="件/百人", direction=-1,
           label=("每百人发明专利数", "Invention patents per 100 staff"),
           down=("每百名员工拥有的发明专利低于同阶段企业",
                 "Fewer invention patents per 100 staff than peers of its stage"),
           up=("每百名员工拥有的发明专利高于同阶段企业",
               "More invention patents per 100 staff than peers of its stage"),
           inputs=("invention_patents_granted", "staff_total"))
def _ip12(c: Cols) -> np.ndarray:
    return 100.0 * _div(c["invention_patents_granted"], c["staff_total"])


@indicator(key="ip_young_firm_inventions", code="IP13", dimension="tech_ip",
           formula="clip((3 − age_years) / 3, 0, 1) × (1 − exp(−invention_patents_granted / 4)): granted "
                   "inventions that stand in for a thin operating history (0 from 3 years of age; patents not "
                   "given count as none)",
           unit="share 0-1", direction=-1,
           label=("年轻企业的发明专利支撑", "Invention patents backing a young firm"),
           down=("成立不足三年且发明专利对经营历史的支撑弱于同阶段中位企业",
                 "Less backing from granted inventions for a short operating history than the median firm of its stage"),
           up=("成立不足三年但发明专利对经营历史的支撑强于同阶段中位企业",
               "More backing from granted inventions for a short operating history than the median firm of its stage"),
           inputs=("as_of", "founded_on", "invention_patents_granted"))
def _ip13(c: Cols) -> np.ndarray:
    # Cross-dimension effect (tech_ip × operations): strong IP mitigates a thin history; a firm of
    # 3 years or more has no thin history to mitigate, whatever its patents.
    # Patents not given count as none here (no backing; IP01 carries the missing value's own cost), so
    # the value stays continuous in age; unknown age leaves it unknown.
    thin = np.clip((YOUNG_FIRM_YEARS - age_years(c)) / YOUNG_FIRM_YEARS, 0.0, 1.0)
    patents = np.where(np.isnan(c["invention_patents_granted"]), 0.0, c["invention_patents_granted"])
    return thin * (1.0 - np.exp(-np.maximum(patents, 0.0) / 4.0))


# =============================== rd_input ===============================

indicator(key="rd_intensity", code="RD01", dimension="rd_input",
          formula="rd_expense_y0 / revenue_y0 (revenue 0 → NaN)", unit="share", direction=0,
          label=("研发投入强度", "R&D intensity"),
          # Single-peaked: too little R&D is a weak innovator, very high intensity burns cash.
          down=("研发投入强度比同阶段中位企业更偏离稳健区间",
                "R&D intensity is further from the sound range than the median firm of its stage"),
          up=("研发投入强度比同阶段中位企业更接近稳健区间",
              "R&D intensity is closer to the sound range than the median firm of its stage"),
          peak=("研发投入强度低于稳健区间", "R&D intensity is below the sound range for its stage",
                "研发投入强度高于稳健区间，研发烧钱压力大",
                "R&D intensity is above the sound range for its stage (heavy R&D burn)"),
          sound=(RD_SOUND_LOW, RD_SOUND_HIGH),
          form=ratio_of("rd_expense_y0", "revenue_y0"))


@indicator(key="rd_hnte_gap", code="RD02", dimension="rd_input",
           formula="min(rd_expense_y0 / revenue_y0 / threshold − 1, 0): the relative shortfall to the high-tech "
                   "threshold, 0 once met (−100% without R&D); threshold 5% if revenue ≤ 5000, 4% if ≤ 20000, else 3%",
           unit="share", direction=-1,
           label=("研发强度距高企标准的相对缺口", "R&D intensity shortfall to the high-tech threshold (relative)"),
           down=("研发投入强度低于高新技术企业标准，缺口大于同阶段中位企业",
                 "R&D intensity falls further short of the high-tech-enterprise threshold than the median firm of its stage"),
           up=("研发投入强度达到或更接近高新技术企业标准（优于同阶段中位企业）",
               "R&D intensity meets or comes closer to the high-tech-enterprise threshold than the median firm of its stage"),
           inputs=("rd_expense_y0", "revenue_y0"))
def _rd02(c: Cols) -> np.ndarray:
    # Spend beyond the threshold (≤ RD_SOUND_LOW) earns nothing more here (RD01 judges it), so cutting
    # spend above the sound range never costs points through this indicator. Relative, so that firms
    # without R&D sit at −100% whatever their revenue band (no size effect hides in the bands).
    rev = c["revenue_y0"]
    return np.minimum(_div(c["rd_expense_y0"], rev) / hnte_threshold(rev) - 1.0, 0.0)


@indicator(key="rd_expense_log", code="RD03", dimension="rd_input",
           formula="ln(1 + min(rd_expense_y0, 5% × revenue_y0)): R&D spend counted up to the sound range's "
                   "low end (revenue 0 → 0; either missing → NaN)",
           unit="ln(万元)", direction=-1,
           label=("研发费用（计至营业收入5%，对数）", "R&D spending counted up to 5% of revenue (log)"),
           down=("计至营业收入5%的研发费用规模低于同阶段企业中位数",
                 "Less R&D spending (counted up to 5% of revenue) than the median firm of its stage"),
           up=("计至营业收入5%的研发费用规模高于同阶段企业中位数",
               "More R&D spending (counted up to 5% of revenue) than the median firm of its stage"),
           inputs=("rd_expense_y0", "revenue_y0"))
def _rd03(c: Cols) -> np.ndarray:
    return _log1p(rd_within_sound(c["rd_expense_y0"], c["revenue_y0"]))


@indicator(key="rd_growth_3y", code="RD04", dimension="rd_input",
           formula="sqrt(R0 / R2) − 1 with Ry = min(rd_expense_y, 5% × revenue_y) (annualised over 2 "
                   "intervals; R2 0, revenue_y0 0 or any missing → NaN)",
           unit="share/yr", direction=-1,
           label=("研发投入三年复合增速（各年计至营业收入5%）",
                  "R&D spending 3-year growth, annualised (each year counted up to 5% of revenue)"),
           down=("研发投入（计至营业收入5%）近三年增速低于同阶段企业中位数",
                 "Slower 3-year growth of R&D spending (counted up to 5% of revenue) than the median firm of its stage"),
           up=("研发投入（计至营业收入5%）近三年增速高于同阶段企业中位数",
               "Faster 3-year growth of R&D spending (counted up to 5% of revenue) than the median firm of its stage"),
           inputs=("rd_expense_y0", "rd_expense_y2", "revenue_y0", "revenue_y2"))
def _rd04(c: Cols) -> np.ndarray:
    now = rd_within_sound(c["rd_expense_y0"], c["revenue_y0"])
    before = rd_within_sound(c["rd_expense_y2"], c["revenue_y2"])
    g = np.sqrt(_div(now, before)) - 1.0
    return np.where(c["revenue_y0"] == 0, np.nan, g)  # pre-revenue: no spend within the range to grow


@indicator(key="rd_years_intensity_3pct", code="RD05", dimension="rd_input",
           formula="# of years y0..y2 with rd_expense > 0 and rd_expense ≥ 3% × revenue "
                   "(years with missing data not counted; NaN if no year known)",
           unit="years 0-3", direction=-1,
           label=("近三年研发强度达3%的年数", "Years of the last 3 with R&D intensity ≥ 3%"),
           down=("近三年研发强度达到3%的年份较少，研发投入不持续",
                 "R&D intensity reached 3% in few of the last 3 years"),
           up=("近三年研发强度持续达到3%以上",
               "R&D intensity stayed at 3% or more across the last 3 years"),
           inputs=("rd_expense_y0", "rd_expense_y1", "rd_expense_y2",
                   "revenue_y0", "revenue_y1", "revenue_y2"))
def _rd05(c: Cols) -> np.ndarray:
    # Compared without dividing so a pre-revenue firm that spends on R&D counts as meeting it.
    rd = np.array([c["rd_expense_y0"], c["rd_expense_y1"], c["rd_expense_y2"]])  # (year, firm)
    rev = np.array([c["revenue_y0"], c["revenue_y1"], c["revenue_y2"]])
    count = np.add.reduce((rd > 0) & (rd >= RD_YEAR_INTENSITY * rev), axis=0)
    known = ~np.logical_and.reduce(np.isnan(rd + rev), axis=0)  # some year with both amounts
    return np.where(known, count, np.nan)


indicator(key="rd_capitalized_share", code="RD06", dimension="rd_input",
          formula="rd_capitalized_y0 / revenue_y0 (revenue 0 → NaN): how much capitalised R&D lifts the net margin",
          unit="share", direction=1,
          label=("研发资本化金额占营业收入比例", "Capitalised R&D as a share of revenue"),
          down=("研发支出资本化金额占营业收入比例偏高，利润质量存疑",
                "Capitalised R&D is a high share of revenue, which flatters profits"),
          up=("研发支出资本化金额占营业收入比例低，会计处理稳健",
              "Capitalised R&D is a small share of revenue (conservative accounting)"),
          form=ratio_of("rd_capitalized_y0", "revenue_y0"))


indicator(key="rd_center_level", code="RD07", dimension="rd_input",
          formula="rd_center_level (0 none … 3 national)", unit="ordinal 0-3", direction=-1,
          label=("研发机构级别", "R&D centre level"),
          down=("未建立或仅有较低级别的研发机构", "No R&D centre or only a low-level one"),
          up=("拥有较高级别的研发机构（如省级、国家级）",
              "Runs a high-level (e.g. provincial or national) R&D centre"),
          form=value_of("rd_center_level"))


indicator(key="rd_univ_collaborations", code="RD08", dimension="rd_input",
          formula="univ_collaborations", unit="项", direction=-1,
          label=("产学研合作项目数", "University collaborations"),
          down=("产学研合作较少", "Few university or research-institute collaborations"),
          up=("产学研合作较多", "Many university or research-institute collaborations"),
          form=value_of("univ_collaborations"))


indicator(key="rd_gov_grants_log", code="RD09", dimension="rd_input",
          formula="ln(1 + gov_grants_3y)", unit="ln(万元)", direction=-1,
          label=("近三年政府科研资助（对数）", "Government grants, 3 years (log)"),
          down=("近三年获得的政府科研资助较少",
                "Received little government R&D funding in the last 3 years"),
          up=("近三年获得较多政府科研资助",
              "Received substantial government R&D funding in the last 3 years"),
          form=log1p_of("gov_grants_3y"))


@indicator(key="rd_cash_coverage_years", code="RD10", dimension="rd_input",
           formula="cash / max(rd_expense_y0, 10% × revenue_y0): years of R&D the cash covers, the spend "
                   "counted at no less than the sound range's high end (any missing or both 0 → NaN)",
           unit="years", direction=-1,
           label=("现金对研发支出的覆盖年数（研发至少按营业收入10%计）",
                  "R&D cash coverage in years (R&D counted at no less than 10% of revenue)"),
           down=("现金仅能覆盖较短期限的研发支出，研发烧钱压力大",
                 "Cash covers only a short period of R&D spending (high burn, short runway)"),
           up=("现金可覆盖较长期限的研发支出", "Cash covers R&D spending for a long period"),
           inputs=("cash", "rd_expense_y0", "revenue_y0"))
def _rd10(c: Cols) -> np.ndarray:
    return _div(c["cash"], rd_beyond_sound(c["rd_expense_y0"], c["revenue_y0"]))


@indicator(key="rd_intensity_3y_avg", code="RD11", dimension="rd_input",
           formula="(rd_expense_y1 + rd_expense_y2) / (revenue_y1 + revenue_y2): the two years before the "
                   "latest (any missing → NaN; this year's intensity is RD01)",
           unit="share", direction=0,
           label=("前两年平均研发强度", "R&D intensity of the two prior years"),
           down=("前两年平均研发强度比同阶段中位企业更偏离稳健区间",
                 "R&D intensity of the two prior years is further from the sound range than the median firm of its stage"),
           up=("前两年平均研发强度比同阶段中位企业更接近稳健区间",
               "R&D intensity of the two prior years is closer to the sound range than the median firm of its stage"),
           peak=("前两年平均研发强度低于稳健区间", "R&D intensity of the two prior years is below the sound range for its stage",
                 "前两年平均研发强度高于稳健区间，研发烧钱压力大",
                 "R&D intensity of the two prior years is above the sound range for its stage (heavy R&D burn)"),
           inputs=("rd_expense_y1", "rd_expense_y2", "revenue_y1", "revenue_y2"))
def _rd11(c: Cols) -> np.ndarray:
    return _div(c["rd_expense_y1"] + c["rd_expense_y2"], c["revenue_y1"] + c["revenue_y2"])


@indicator(key="rd_burn_uncovered", code="RD12", dimension="rd_input",
           formula="clip(ln(intensity / 10%) / ln 4, 0, 1) × clip(1 − cash / (2 × rd_expense_y0), 0, 1): "
                   "R&D intensity above 10% (in full from 40%; pre-revenue R&D counts in full) times the share "
                   "of two years of R&D spend that cash does not cover; 0 without R&D spend; unknown when "
                   "R&D is spent and cash not given",
           unit="share 0-1", direction=1,
           label=("高强度研发的现金缺口", "High R&D burn not covered by cash"),
           down=("高强度研发支出的现金覆盖缺口大于同阶段中位企业",
                 "A larger share of heavy R&D spending is not covered by cash than for the median firm of its stage"),
           up=("高强度研发支出的现金覆盖缺口小于同阶段中位企业",
               "Heavy R&D spending is better covered by cash than for the median firm of its stage"),
           inputs=("rd_expense_y0", "revenue_y0", "cash"))
def _rd12(c: Cols) -> np.ndarray:
    # Cross-dimension effect (rd_input × operations): very high intensity is only risky when the cash
    # to fund it is short; each factor alone is an indicator of its own (RD01, RD10).
    # Unknown whenever a firm spending on R&D gives no cash (whatever its intensity, so the value never
    # switches between known and unknown as R&D or revenue move a little); 0 without R&D spend.
    rd, rev, cash = c["rd_expense_y0"], c["revenue_y0"], c["cash"]
    intensity = np.where((rev == 0) & (rd > 0), np.inf, _div(rd, rev))
    with np.errstate(divide="ignore", invalid="ignore"):
        high = np.clip(np.log(intensity / BURN_INTENSITY_FROM) / np.log(BURN_INTENSITY_SPAN), 0.0, 1.0)
    short = np.clip(1.0 - _div(cash, BURN_CASH_YEARS * rd), 0.0, 1.0)
    out = np.where(rd == 0, 0.0, high * short)
    return np.where(np.isnan(rd) | np.isnan(rev), np.nan, out)


# =============================== talent ===============================

indicator(key="tl_rd_staff_ratio", code="TL01", dimension="talent",
          formula="rd_staff / staff_total", unit="share 0-1", direction=-1,
          label=("研发人员占比", "R&D staff ratio"),
          down=("研发人员占比低于同阶段企业中位数",
                "A smaller share of R&D staff than the median firm of its stage"),
          up=("研发人员占比高于同阶段企业中位数",
              "A larger share of R&D staff than the median firm of its stage"),
          form=ratio_of("rd_staff", "staff_total"))


indicator(key="tl_sci_tech_staff_ratio", code="TL02", dimension="talent",
          formula="sci_tech_staff / staff_total", unit="share 0-1", direction=-1,
          label=("科技人员占比", "Science & technology staff ratio"),
          down=("科技人员占比低于同阶段企业中位数",
                "A smaller share of science and technology staff than the median firm of its stage"),
          up=("科技人员占比高于同阶段企业中位数",
              "A larger share of science and technology staff than the median firm of its stage"),
          form=ratio_of("sci_tech_staff", "staff_total"))


indicator(key="tl_bachelor_ratio", code="TL03", dimension="talent",
          formula="bachelor_plus / staff_total", unit="share 0-1", direction=-1,
          label=("本科及以上学历占比", "Bachelor-or-higher staff ratio"),
          down=("本科及以上学历员工占比偏低",
                "A small share of staff hold a bachelor's degree or higher"),
          up=("本科及以上学历员工占比较高",
              "A large share of staff hold a bachelor's degree or higher"),
          form=ratio_of("bachelor_plus", "staff_total"))


indicator(key="tl_master_phd_ratio", code="TL04", dimension="talent",
          formula="masters_phd / staff_total", unit="share 0-1", direction=-1,
          label=("硕士博士占比", "Master/PhD staff ratio"),
          down=("硕士、博士员工占比偏低", "A small share of staff hold a master's degree or PhD"),
          up=("硕士、博士员工占比较高", "A large share of staff hold a master's degree or PhD"),
          form=ratio_of("masters_phd", "staff_total"))


indicator(key="tl_talent_program_members", code="TL05", dimension="talent",
          formula="talent_program_members", unit="人", direction=-1,
          label=("人才计划入选人数", "Talent-programme members"),
          down=("入选各级人才计划的成员较少", "Few members of government talent programmes"),
          up=("拥有多名入选人才计划的成员", "Several members of government talent programmes"),
          form=value_of("talent_program_members"))


indicator(key="tl_founder_industry_years", code="TL06", dimension="talent",
          formula="founder_industry_years", unit="years", direction=-1,
          label=("创始人行业从业年限", "Founder industry years"),
          down=("创始人行业从业年限较短", "The founder has few years of industry experience"),
          up=("创始人行业经验丰富", "The founder has long industry experience"),
          form=value_of("founder_industry_years"))


@indicator(key="tl_founder_background", code="TL07", dimension="talent",
           formula="founder_background: none 0, executive 1, phd_professor 2, serial_exit 3",
           unit="ordinal 0-3", direction=-1,
           label=("创始人背景", "Founder background"),
           down=("创始人背景较弱（无资深高管、学术或成功创业经历）",
                 "The founder lacks an executive, academic or successful-exit background"),
           up=("创始人背景较强（资深高管、博士/教授或有成功退出经历）",
               "The founder has a strong background (senior executive, PhD/professor or a previous exit)"),
           inputs=("founder_background",))
def _tl07(c: Cols) -> np.ndarray:
    return _ordinal(c["founder_background"], FOUNDER_BACKGROUND)


indicator(key="tl_key_staff_turnover", code="TL08", dimension="talent",
          formula="key_staff_turnover_12m", unit="share 0-1", direction=1,
          label=("核心人员流失率", "Key staff turnover (12 months)"),
          down=("近12个月核心人员流失率偏高", "High key-staff turnover in the last 12 months"),
          up=("核心团队稳定，近12个月流失率低",
              "A stable core team with low key-staff turnover in the last 12 months"),
          form=value_of("key_staff_turnover_12m"))


indicator(key="tl_insured_growth", code="TL09", dimension="talent",
          formula="insured_staff / insured_staff_prev − 1 (prev 0 → NaN)", unit="share",
          direction=-1,
          label=("社保缴纳人数增长率", "Insured headcount growth"),
          down=("社保缴纳人数减少或增长缓慢", "Insured headcount fell or grew slowly"),
          up=("社保缴纳人数稳步增长", "Insured headcount grew steadily"),
          form=growth_of("insured_staff", "insured_staff_prev"))


# ln(1+x) rather than ln(x) so a zero-staff shell stays finite.
indicator(key="tl_staff_log", code="TL10", dimension="talent",
          formula="ln(1 + staff_total)", unit="ln(人)", direction=-1,
          label=("员工规模（对数）", "Staff headcount (log)"),
          down=("员工规模小于同阶段企业中位数", "Fewer staff than the median firm of its stage"),
          up=("员工规模大于同阶段企业中位数", "More staff than the median firm of its stage"),
          form=log1p_of("staff_total"))


indicator(key="tl_insured_coverage", code="TL11", dimension="talent",
          formula="insured_staff / staff_total (staff 0 → NaN)", unit="share", direction=-1,
          label=("社保参保覆盖率", "Social-insurance coverage of staff"),
          down=("社保参保人数占员工总数比例偏低", "Few employees are covered by social insurance"),
          up=("员工社保参保比例高", "Most employees are covered by social insurance"),
          form=ratio_of("insured_staff", "staff_total"))


# =============================== capital ===============================

indicator(key="cp_equity_raised_log", code="CP01", dimension="capital",
          formula="ln(1 + equity_raised_total)", unit="ln(万元)", direction=-1,
          label=("累计股权融资额（对数）", "Equity raised in total (log)"),
          down=("累计股权融资额低于同阶段企业中位数",
                "Less equity raised in total than the median firm of its stage"),
          up=("累计股权融资额高于同阶段企业中位数",
              "More equity raised in total than the median firm of its stage"),
          form=log1p_of("equity_raised_total"))


indicator(key="cp_equity_raised_2y_log", code="CP02", dimension="capital",
          formula="ln(1 + equity_raised_2y)", unit="ln(万元)", direction=-1,
          label=("近两年股权融资额（对数）", "Equity raised in 2 years (log)"),
          down=("近两年股权融资额较少", "Little equity raised in the last 2 years"),
          up=("近两年获得较多股权融资", "Substantial equity raised in the last 2 years"),
          form=log1p_of("equity_raised_2y"))


@indicator(key="cp_latest_round", code="CP03", dimension="capital",
           formula="latest_round: none 0, angel 1, a 2, b 3, c_plus 4, pre_ipo 5",
           unit="ordinal 0-5", direction=-1,
           label=("最近融资轮次", "Latest funding round"),
           down=("融资轮次较早或尚未获得外部融资", "Early funding stage or no external round yet"),
           up=("已进入较后期融资轮次", "Has reached a late funding round"),
           inputs=("latest_round",))
def _cp03(c: Cols) -> np.ndarray:
    return _ordinal(c["latest_round"], LATEST_ROUND)


indicator(key="cp_institutional_investors", code="CP04", dimension="capital",
          formula="institutional_investors", unit="家", direction=-1,
          label=("机构投资者数量", "Institutional investors"),
          down=("机构投资者数量较少", "Few institutional investors"),
          up=("获得多家机构投资者投资", "Backed by several institutional investors"),
          form=value_of("institutional_investors"))


indicator(key="cp_state_fund_backed", code="CP05", dimension="capital",
          formula="state_fund_backed (0/1)", unit="flag", direction=-1,
          label=("国有或政府引导基金投资", "State / guidance fund backed"),
          down=("未获得国有或政府引导基金投资",
                "Not backed by a state-owned or government guidance fund"),
          up=("获得国有或政府引导基金投资", "Backed by a state-owned or government guidance fund"),
          form=value_of("state_fund_backed"))


indicator(key="cp_listed_or_cvc_backed", code="CP06", dimension="capital",
          formula="listed_or_cvc_backed (0/1)", unit="flag", direction=-1,
          label=("上市公司或产业资本投资", "Listed-company / CVC backed"),
          down=("未获得上市公司或产业资本投资",
                "Not backed by a listed company or corporate venture capital"),
          up=("获得上市公司或产业资本（CVC）投资",
              "Backed by a listed company or corporate venture capital"),
          form=value_of("listed_or_cvc_backed"))


indicator(key="cp_paid_in_ratio", code="CP07", dimension="capital",
          formula="paid_in_capital / registered_capital (registered 0 → NaN)", unit="share 0-1",
          direction=-1,
          label=("实缴资本比例", "Paid-in / registered capital"),
          down=("实缴资本占注册资本比例偏低", "Paid-in capital is a small share of registered capital"),
          up=("注册资本实缴比例高", "Registered capital is largely paid in"),
          form=ratio_of("paid_in_capital", "registered_capital"))


indicator(key="cp_redemption_clause", code="CP08", dimension="capital",
          formula="redemption_clause (0/1)", unit="flag", direction=1,
          label=("回购/对赌条款", "Redemption (valuation-adjustment) clause"),
          down=("存在回购或对赌条款，潜在偿付压力大",
                "Carries a redemption (valuation-adjustment) clause with potential payout pressure"),
          up=("无回购或对赌条款", "No redemption (valuation-adjustment) clause"),
          form=value_of("redemption_clause"))


@indicator(key="cp_months_since_round", code="CP09", dimension="capital",
           formula="(as_of − latest_round_date) in months (days / 30.4375)", unit="months",
           direction=1,
           label=("距最近一轮融资月数", "Months since the latest round"),
           down=("距最近一轮融资的时间长于同阶段企业中位数",
                 "Longer since the latest funding round than the median firm of its stage"),
           up=("距最近一轮融资的时间短于同阶段企业中位数",
               "Less time since the latest funding round than the median firm of its stage"),
           inputs=("as_of", "latest_round_date"))
def _cp09(c: Cols) -> np.ndarray:
    return months_since_round(c)


indicator(key="cp_paid_in_log", code="CP10", dimension="capital",
          formula="ln(1 + paid_in_capital)", unit="ln(万元)", direction=-1,
          label=("实缴资本（对数）", "Paid-in capital (log)"),
          down=("实缴资本规模较小", "Small paid-in capital"),
          up=("实缴资本规模较大", "Large paid-in capital"),
          form=log1p_of("paid_in_capital"))


@indicator(key="cp_redemption_falling_revenue", code="CP11", dimension="capital",
           formula="redemption_clause × clip(−ln((revenue_y0 + 1) / (revenue_y1 + 1)) / 0.3, 0, 1): a redemption "
                   "clause weighs in full once revenue has fallen by a log-drop of 0.3; 0 without a clause",
           unit="share 0-1", direction=1,
           label=("对赌条款叠加收入下滑", "Redemption clause with falling revenue"),
           down=("存在回购或对赌条款且营业收入下滑，触发回购的压力高于同阶段中位企业",
                 "A redemption clause with falling revenue: more payout pressure than the median firm of its stage"),
           up=("回购或对赌条款叠加收入下滑的压力低于同阶段中位企业",
               "Less redemption payout pressure from falling revenue than the median firm of its stage"),
           inputs=("redemption_clause", "revenue_y0", "revenue_y1"))
def _cp11(c: Cols) -> np.ndarray:
    # Cross-dimension effect (capital × operations): a clause only bites when revenue falls.
    clause = c["redemption_clause"]
    fall = np.clip(-np.log((np.maximum(c["revenue_y0"], 0.0) + 1.0) / (np.maximum(c["revenue_y1"], 0.0) + 1.0))
                   / REDEMPTION_FALL_FULL, 0.0, 1.0)
    return np.where(clause == 0, 0.0, clause * fall)


# =============================== operations ===============================

indicator(key="op_revenue_log", code="OP01", dimension="operations",
          formula="ln(1 + revenue_y0)", unit="ln(万元)", direction=-1,
          label=("营业收入（对数）", "Revenue (log)"),
          down=("营业收入规模低于同阶段企业中位数", "Lower revenue than the median firm of its stage"),
          up=("营业收入规模高于同阶段企业中位数", "Higher revenue than the median firm of its stage"),
          form=log1p_of("revenue_y0"))


indicator(key="op_revenue_growth", code="OP02", dimension="operations",
          formula="revenue_y0 / revenue_y1 − 1 (y1 0 → NaN)", unit="share", direction=-1,
          label=("营业收入增长率", "Revenue growth"),
          down=("营业收入同比增速低于同阶段企业中位数",
                "Slower revenue growth than the median firm of its stage"),
          up=("营业收入同比增速高于同阶段企业中位数",
              "Faster revenue growth than the median firm of its stage"),
          form=growth_of("revenue_y0", "revenue_y1"))


@indicator(key="op_revenue_growth_2y", code="OP03", dimension="operations",
           formula="½(revenue_y1 / revenue_y2 + revenue_y0 / revenue_y1) − 1 "
                   "(high-tech rule ½(Y2/Y1 + Y3/Y2) − 1, Y1 = y2 oldest)",
           unit="share", direction=-1,
           label=("近两年平均营收增长率", "2-year average revenue growth"),
           down=("近两年平均营收增长率偏低（高新技术企业口径）",
                 "Low 2-year average revenue growth (high-tech-enterprise rule)"),
           up=("近两年平均营收增长率较高（高新技术企业口径）",
               "High 2-year average revenue growth (high-tech-enterprise rule)"),
           inputs=("revenue_y0", "revenue_y1", "revenue_y2"))
def _op03(c: Cols) -> np.ndarray:
    r0, r1, r2 = c["revenue_y0"], c["revenue_y1"], c["revenue_y2"]
    return 0.5 * (_div(r1, r2) + _div(r0, r1)) - 1.0


@indicator(key="op_gross_margin", code="OP04", dimension="operations",
           formula="(revenue_y0 − cost_of_sales_y0) / revenue_y0", unit="share", direction=-1,
           label=("毛利率", "Gross margin"),
           down=("毛利率低于同阶段企业中位数", "Lower gross margin than the median firm of its stage"),
           up=("毛利率高于同阶段企业中位数", "Higher gross margin than the median firm of its stage"),
           inputs=("revenue_y0", "cost_of_sales_y0"))
def _op04(c: Cols) -> np.ndarray:
    rev = c["revenue_y0"]
    return _div(rev - c["cost_of_sales_y0"], rev)


indicator(key="op_net_margin", code="OP05", dimension="operations",
          formula="net_profit_y0 / revenue_y0", unit="share", direction=-1,
          label=("净利率", "Net margin"),
          down=("净利率低于同阶段企业中位数", "Lower net margin than the median firm of its stage"),
          up=("净利率高于同阶段企业中位数", "Higher net margin than the median firm of its stage"),
          form=ratio_of("net_profit_y0", "revenue_y0"))


indicator(key="op_debt_to_assets", code="OP06", dimension="operations",
          formula="total_liabilities / total_assets (assets 0 → NaN)", unit="share", direction=1,
          label=("资产负债率", "Debt-to-assets ratio"),
          down=("资产负债率高于同阶段企业中位数",
                "Higher debt-to-assets ratio than the median firm of its stage"),
          up=("资产负债率低于同阶段企业中位数",
              "Lower debt-to-assets ratio than the median firm of its stage"),
          form=ratio_of("total_liabilities", "total_assets"))


indicator(key="op_ocf_to_revenue", code="OP07", dimension="operations",
          formula="operating_cash_flow_y0 / revenue_y0", unit="share", direction=-1,
          label=("经营现金流/营业收入", "Operating cash flow / revenue"),
          down=("经营活动现金流与收入之比偏低", "Weak operating cash flow relative to revenue"),
          up=("经营活动现金流相对收入充沛", "Strong operating cash flow relative to revenue"),
          form=ratio_of("operating_cash_flow_y0", "revenue_y0"))


@indicator(key="op_cash_runway_months", code="OP08", dimension="operations",
           formula="cash / (−operating_cash_flow_y0 / 12) when OCF < 0, capped at 120; "
                   "120 when OCF ≥ 0 (not burning)",
           unit="months", direction=-1,
           label=("现金跑道（月）", "Cash runway (months)"),
           down=("现金可支撑的经营月数较短", "Cash covers only a few months of operating cash burn"),
           up=("现金跑道充足或经营现金流为正", "A long cash runway or positive operating cash flow"),
           inputs=("cash", "operating_cash_flow_y0"))
def _op08(c: Cols) -> np.ndarray:
    ocf = c["operating_cash_flow_y0"]
    burn = np.where(ocf < 0, -ocf / 12.0, np.nan)
    runway = np.minimum(c["cash"] / burn, RUNWAY_CAP_MONTHS)
    # Not burning cash → runway is effectively unlimited whatever the cash balance.
    return np.where(ocf >= 0, RUNWAY_CAP_MONTHS, runway)


indicator(key="op_hightech_revenue_share", code="OP09", dimension="operations",
          formula="hightech_revenue_y0 / revenue_y0", unit="share 0-1", direction=-1,
          label=("高新技术产品收入占比", "High-tech revenue share"),
          down=("高新技术产品收入占比偏低", "A small share of revenue comes from high-tech products"),
          up=("高新技术产品收入占比高", "Most revenue comes from high-tech products"),
          form=ratio_of("hightech_revenue_y0", "revenue_y0"))


indicator(key="op_top5_customer_share", code="OP10", dimension="operations",
          formula="top5_customer_share", unit="share 0-1", direction=1,
          label=("前五大客户收入占比", "Top-5 customer share"),
          down=("前五大客户收入占比偏高，客户集中度风险大",
                "Revenue is concentrated in the top 5 customers"),
          up=("客户结构分散，前五大客户占比低", "Revenue is spread across many customers"),
          form=value_of("top5_customer_share"))


@indicator(key="op_firm_age_years", code="OP11", dimension="operations",
           formula="(as_of − founded_on) / 365.25", unit="years", direction=-1,
           label=("成立年限", "Firm age (years)"),
           down=("成立年限短于同阶段企业中位数", "Younger than the median firm of its stage"),
           up=("经营年限长于同阶段企业中位数", "Older than the median firm of its stage"),
           inputs=("as_of", "founded_on"))
def _op11(c: Cols) -> np.ndarray:
    return age_years(c)


@indicator(key="op_net_assets_growth", code="OP12", dimension="operations",
           formula="(net_assets_y0 − net_assets_y1) / |net_assets_y1| (y1 0 → NaN)", unit="share",
           direction=-1,
           label=("净资产增长率", "Net assets growth"),
           down=("净资产减少或增长缓慢", "Net assets fell or grew slowly"),
           up=("净资产稳步增长", "Net assets grew steadily"),
           inputs=("net_assets_y0", "net_assets_y1"))
def _op12(c: Cols) -> np.ndarray:
    # |y1| keeps the sign meaningful when last year's equity was negative.
    na1 = c["net_assets_y1"]
    return _div(c["net_assets_y0"] - na1, np.abs(na1))


indicator(key="op_roa", code="OP13", dimension="operations",
          formula="net_profit_y0 / total_assets (assets 0 → NaN)", unit="share", direction=-1,
          label=("总资产收益率", "Return on assets"),
          down=("总资产收益率偏低", "Low return on assets"),
          up=("总资产收益率较高", "High return on assets"),
          form=ratio_of("net_profit_y0", "total_assets"))


# =============================== credit ===============================

@indicator(key="cr_tax_grade", code="CR01", dimension="credit",
           formula="tax_grade: A 0, B 1, M 2, C 3, D 4", unit="ordinal 0-4", direction=1,
           label=("纳税信用等级", "Tax credit grade"),
           down=("纳税信用等级较低", "Low tax credit grade"),
           up=("纳税信用等级良好（A/B级）", "Good tax credit grade (A or B)"),
           inputs=("tax_grade",))
def _cr01(c: Cols) -> np.ndarray:
    return _ordinal(c["tax_grade"], TAX_GRADE)


indicator(key="cr_max_dpd_24m", code="CR02", dimension="credit",
          formula="max_dpd_24m", unit="days", direction=1,
          label=("近24个月最长逾期天数", "Max days past due, 24 months"),
          down=("近24个月存在逾期且最长逾期天数偏长",
                "Has been past due in the last 24 months, with long maximum days past due"),
          up=("近24个月无逾期或逾期天数很短",
              "No or only very short delinquency in the last 24 months"),
          form=value_of("max_dpd_24m"))


@indicator(key="cr_worst_loan_class", code="CR03", dimension="credit",
           formula="worst_loan_class: normal 0, special_mention 1, substandard 2, doubtful 3, loss 4",
           unit="ordinal 0-4", direction=1,
           label=("贷款五级分类（最差）", "Worst loan classification"),
           down=("贷款五级分类中存在关注类及以下", "Has loans classified special-mention or worse"),
           up=("贷款五级分类均为正常", "All loans classified normal"),
           inputs=("worst_loan_class",))
def _cr03(c: Cols) -> np.ndarray:
    return _ordinal(c["worst_loan_class"], LOAN_CLASS)


indicator(key="cr_lawsuits_defendant", code="CR04", dimension="credit",
          formula="lawsuits_defendant_3y", unit="件", direction=1,
          label=("近三年被诉案件数", "Lawsuits as defendant, 3 years"),
          down=("近三年作为被告的涉诉案件较多",
                "Has been a defendant in several lawsuits in the last 3 years"),
          up=("近三年作为被告的涉诉案件很少", "Few or no lawsuits as defendant in the last 3 years"),
          form=value_of("lawsuits_defendant_3y"))


indicator(key="cr_lawsuit_to_net_assets", code="CR05", dimension="credit",
          formula="lawsuit_amount_3y / net_assets_y0 clipped to [0, 10]; "
                  "net assets ≤ 0 → 10 if amount > 0 else 0",
          unit="ratio", direction=1,
          label=("涉诉金额/净资产", "Lawsuit amount / net assets"),
          down=("涉诉金额占净资产比例偏高", "Lawsuit amounts are large relative to net assets"),
          up=("涉诉金额相对净资产很小", "Lawsuit amounts are small relative to net assets"),
          form=exposure_of("lawsuit_amount_3y", "net_assets_y0"))


indicator(key="cr_admin_penalties", code="CR06", dimension="credit",
          formula="admin_penalties_3y", unit="次", direction=1,
          label=("近三年行政处罚次数", "Administrative penalties, 3 years"),
          down=("近三年受到行政处罚", "Received administrative penalties in the last 3 years"),
          up=("近三年无行政处罚", "No administrative penalties in the last 3 years"),
          form=value_of("admin_penalties_3y"))


indicator(key="cr_abnormal_operation", code="CR07", dimension="credit",
          formula="abnormal_operation_listed (0/1)", unit="flag", direction=1,
          label=("经营异常名录", "Abnormal-operation listing"),
          down=("被列入经营异常名录", "Listed in the abnormal-operation register"),
          up=("未被列入经营异常名录", "Not listed in the abnormal-operation register"),
          form=value_of("abnormal_operation_listed"))


indicator(key="cr_guarantees_to_net_assets", code="CR08", dimension="credit",
          formula="guarantees_outstanding / net_assets_y0 clipped to [0, 10]; "
                  "net assets ≤ 0 → 10 if guarantees > 0 else 0",
          unit="ratio", direction=1,
          label=("对外担保/净资产", "Guarantees given / net assets"),
          down=("对外担保余额占净资产比例偏高", "Guarantees given are large relative to net assets"),
          up=("对外担保规模相对净资产较小", "Guarantees given are small relative to net assets"),
          form=exposure_of("guarantees_outstanding", "net_assets_y0"))


indicator(key="cr_lender_count", code="CR09", dimension="credit",
          formula="lender_count", unit="家", direction=1,
          label=("授信银行家数", "Number of lenders"),
          down=("授信银行家数较多，存在多头借贷", "Borrows from many lenders"),
          up=("授信银行家数少，融资关系集中", "Borrows from few lenders"),
          form=value_of("lender_count"))


indicator(key="cr_credit_inquiries_6m", code="CR10", dimension="credit",
          formula="credit_inquiries_6m", unit="次", direction=1,
          label=("近6个月征信查询次数", "Credit inquiries, 6 months"),
          down=("近6个月征信查询次数较多", "Many credit inquiries in the last 6 months"),
          up=("近6个月征信查询次数少", "Few credit inquiries in the last 6 months"),
          form=value_of("credit_inquiries_6m"))


indicator(key="cr_current_overdue", code="CR11", dimension="credit",
          formula="current_overdue (0/1)", unit="flag", direction=1,
          label=("当前逾期", "Current overdue loan"),
          down=("当前存在逾期贷款", "Currently has an overdue loan"),
          up=("当前无逾期贷款", "No loan currently overdue"),
          form=value_of("current_overdue"))


indicator(key="cr_enforcement_listed", code="CR12", dimension="credit",
          formula="enforcement_listed (0/1)", unit="flag", direction=1,
          label=("被执行人/失信被执行人", "Enforcement / dishonest-debtor listing"),
          down=("被列为被执行人或失信被执行人", "Listed as a judgement debtor or dishonest debtor"),
          up=("未被列为被执行人或失信被执行人", "Not listed as a judgement or dishonest debtor"),
          form=value_of("enforcement_listed"))


# =============================== exports ===============================

_DIM_ORDER = {d: i for i, d in enumerate(DIMENSIONS)}
# Stable sort: grouped by dimension, registration order within each dimension.
INDICATORS: tuple[Indicator, ...] = tuple(sorted(_REGISTERED, key=lambda i: _DIM_ORDER[i.dimension]))
INDICATOR_KEYS: tuple[str, ...] = tuple(i.key for i in INDICATORS)
_BY_KEY: dict[str, Indicator] = {i.key: i for i in INDICATORS}
# Union of raw fields any indicator reads, in first-use order.
INPUT_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for i in INDICATORS for f in i.inputs))


def by_key(key: str) -> Indicator:
    """Indicator by its key (KeyError if unknown)."""
    return _BY_KEY[key]


def monotone_constraints() -> list[int]:
    """LightGBM monotone constraints in INDICATORS order (+1 raises default risk)."""
    return [i.direction for i in INDICATORS]


def dimension_of() -> dict[str, str]:
    """Indicator key → dimension key."""
    return {i.key: i.dimension for i in INDICATORS}
