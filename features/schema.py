"""Raw firm-profile schema: the single source of truth for every submitted field.

Everything else (FIELD_SPECS, ALIASES, the frame validator, the API docs, the web form) is derived
from `FirmProfile.model_fields`; cross-field rules live once in `CROSS_RULES`.
"""
from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, get_args

import numpy as np
import pandas as pd
from pydantic import (AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from features import kinds
from features.enum_labels import VALUE_LABELS
from features.kinds import DATE_MAX, DATE_MIN, true_mask

# --------------------------------------------------------------------------------------------
# 统一社会信用代码 (GB 32100-2015)
# --------------------------------------------------------------------------------------------
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_PATTERN = r"[0-9A-HJ-NPQRTUWXY]{18}"
_USCC_VALUE = np.full(256, -1, dtype=np.int64)  # byte -> character value (-1 = not allowed)
_USCC_VALUE[np.frombuffer(USCC_CHARSET.encode("ascii"), dtype=np.uint8)] = np.arange(31)


_USCC_INDEX = {c: i for i, c in enumerate(USCC_CHARSET)}


def uscc_check_index(values: Sequence[int] | np.ndarray) -> Any:
    """Index in USCC_CHARSET of the check character, from the values of the first 17 characters:
    one code (a sequence of ints) or many (an (n, ≥17) int array). The one home of the formula."""
    if isinstance(values, np.ndarray):
        total = values[:, :17] @ np.asarray(USCC_WEIGHTS)
    else:
        total = sum(map(operator.mul, values, USCC_WEIGHTS))
    return (31 - total % 31) % 31  # 31 -> 0


def _check_char(body17: str) -> str:
    """Check character for the first 17 characters of a USCC."""
    return USCC_CHARSET[uscc_check_index(list(map(_USCC_INDEX.__getitem__, body17)))]


def make_uscc(body17: str) -> str:
    """Append the GB 32100-2015 check character to a 17-character body."""
    if len(body17) != 17 or any(c not in USCC_CHARSET for c in body17):
        raise ValueError(f"USCC body must be 17 chars of {USCC_CHARSET}: {body17!r}")
    return body17 + _check_char(body17)


def uscc_is_valid(code: Any) -> bool:
    """True when `code` is an 18-character USCC with a correct check character."""
    if not isinstance(code, str) or re.fullmatch(USCC_PATTERN, code) is None:
        return False
    return _check_char(code[:17]) == code[17]


def uscc_valid_mask(series: pd.Series | Sequence[Any]) -> np.ndarray:
    """Vectorised `uscc_is_valid` over a Series/sequence (non-strings and missing are False)."""
    s = series if isinstance(series, pd.Series) else pd.Series(np.asarray(series, dtype=object), dtype=object)
    try:  # on object columns non-strings give NA -> False
        fmt = true_mask(s.str.fullmatch(USCC_PATTERN))
    except AttributeError:  # no string at all in the column
        fmt = np.zeros(len(s), dtype=bool)
    out = np.zeros(len(s), dtype=bool)
    if fmt.any():  # fixed-width unicode viewed as code points (ASCII, guaranteed by the pattern)
        points = s[fmt].to_numpy(dtype="U18").view(np.uint32).reshape(-1, 18)
        vals = _USCC_VALUE[points]
        check = uscc_check_index(vals)
        out[fmt] = check == vals[:, 17]
    return out


# --------------------------------------------------------------------------------------------
# Field declaration helper
# --------------------------------------------------------------------------------------------
Kind = Literal["number", "integer", "bool", "enum", "date", "text"]
GROUPS = ("identity", "financials", "rd", "talent", "ip", "capital", "credit", "request")
_UNIT_EN = {"万元": "10k CNY", "人": "persons", "件": "items", "项": "items", "次": "times",
            "天": "days", "月": "months", "年": "years", "家": "institutions", "个": "count",
            "级": "level", "share 0-1": "share 0-1", "date": "date", "": ""}


# Plausible upper bounds by unit: no SME comes near them (a 科技型中小企业 has ≤ 500 staff and
# ≤ 20000 万元 revenue), so a value beyond one is a typo or an attack, not a firm.
PLAUSIBLE_MAX = {"万元": 1e8, "人": 1_000_000, "件": 1_000_000, "项": 1_000_000, "次": 1_000_000, "家": 1_000_000}


def _f(name: str, zh: str, en: str, unit: str, group: str, kind: Kind, *,
       note_zh: str = "", note_en: str = "", required: bool = False, **constraints: Any) -> Any:
    """Declare one field: bilingual description, metadata and the Chinese label as an alias."""
    unit_zh = f"，单位：{unit}" if unit and unit != "date" else ""
    unit_en = f", unit: {_UNIT_EN[unit]}" if unit and unit != "date" else ""
    desc = f"{zh}{('，' + note_zh) if note_zh else ''}{unit_zh} / {en}{('; ' + note_en) if note_en else ''}{unit_en}"
    extra = {"label_zh": zh, "label_en": en, "unit": unit, "group": group, "kind": kind}
    if note_zh:
        extra |= {"note_zh": note_zh, "note_en": note_en}
    if kind == "number":
        constraints.setdefault("allow_inf_nan", False)  # NaN/inf strings are errors, not missing
    if kind in ("number", "integer") and unit in PLAUSIBLE_MAX:
        constraints.setdefault("le", PLAUSIBLE_MAX[unit])
        if kind == "number":
            constraints.setdefault("ge", -PLAUSIBLE_MAX[unit])
    info = Field(... if required else None, title=en, description=desc, json_schema_extra=extra,
                 validation_alias=AliasChoices(name, zh), **constraints)
    # The field's own before-validator, without ValidationInfo: a `field_validator("*")` taking the
    # info to find the field's name cost pydantic twice the whole rest of a profile's validation.
    code = name in _CODE_FIELDS or "pattern" in constraints
    info.metadata.append(BeforeValidator(_normaliser(name, kind, unit, code)))
    return info


def _pos(name: str, zh: str, en: str, unit: str, group: str, kind: Kind = "number", **kw: Any) -> Any:
    """Shortcut for a non-negative number/count."""
    return _f(name, zh, en, unit, group, kind, ge=0, **kw)


def _share(name: str, zh: str, en: str, group: str, **kw: Any) -> Any:
    """Shortcut for a share in [0, 1]."""
    return _f(name, zh, en, "share 0-1", group, "number", ge=0, le=1, **kw)


Stage = Literal["startup", "growth", "mature"]
FounderBackground = Literal["none", "executive", "phd_professor", "serial_exit"]
QualificationTier = Literal["none", "tech_sme", "hnte", "srdi_provincial", "little_giant", "champion"]
Round = Literal["none", "angel", "a", "b", "c_plus", "pre_ipo"]
TaxGrade = Literal["A", "B", "M", "C", "D"]
LoanClass = Literal["normal", "special_mention", "substandard", "doubtful", "loss"]
SecurityType = Literal["credit", "ip_pledge", "guarantee"]

_CODE_FIELDS = ("firm_id",)  # text fields that are codes besides those with a pattern (full-width folded)


def _err(rule: str, msg: str) -> PydanticCustomError:
    """Custom pydantic error whose type is our rule code (message passed via ctx: no brace parsing)."""
    return PydanticCustomError(rule, "{msg}", {"msg": msg})


def _missing(v: Any) -> bool:
    """Empty string, None, NaN and NaT all mean 'not submitted'."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    try:
        return bool(v != v)  # NaN / NaT
    except (TypeError, ValueError):
        return False


def _normalise_value(name: str, kind: str, v: Any, unit: str = "", code: bool = False) -> Any:
    """Input tolerance of the field's kind (features/kinds.py); empty = missing."""
    if _missing(v):
        if name == "firm_id":
            raise _err("required", "firm_id (统一社会信用代码) is required")
        return None
    try:
        if kind == "enum":
            return kinds.enum_value(v, FIELD_SPECS[name].enum)
        if kind == "bool":
            return kinds.bool_value(v)
        if kind == "date":
            return kinds.date_value(v)
        if kind == "text":
            return kinds.text_value(v, code)
        if kind in ("number", "integer"):
            return kinds.number_value(v, name, kind, unit)
    except kinds.KindError as exc:
        raise _err(exc.rule, str(exc)) from None
    return v


def _normaliser(name: str, kind: str, unit: str = "", code: bool = False) -> Callable[[Any], Any]:
    """Field `name`'s before-validator: values already of the field's JSON type take a shortcut.

    Same results as `_normalise_value` (a JSON body is mostly such values, and ~80 generic calls a
    profile were half of its validation time).
    """
    slow = functools.partial(_normalise_value, name, kind, unit=unit, code=code)
    if kind in ("number", "integer"):
        def number(v: Any) -> Any:
            t = type(v)
            if t is int:
                return v
            if t is float:
                return None if v != v else v  # NaN = missing
            return slow(v)
        return number
    if kind == "bool":
        return lambda v: v if type(v) is bool else slow(v)
    if kind == "enum":
        def enum(v: Any) -> Any:
            if type(v) is str:  # the field's values in any case (spellings are per field: a vs A)
                found = kinds.enum_spellings(FIELD_SPECS[name].enum)[0].get(v.strip().lower())
                if found is not None:
                    return found
            return slow(v)
        return enum
    if kind == "text":
        return lambda v: v if type(v) is str and v.strip() and (not code or v.isascii()) else slow(v)
    if kind == "date":
        def iso_date(v: Any) -> Any:
            if type(v) is str and len(v) == 10 and v[4] == v[7] == "-" and v.isascii():  # YYYY-MM-DD
                try:
                    d = date.fromisoformat(v)
                except ValueError:
                    return slow(v)
                if DATE_MIN <= d <= DATE_MAX:
                    return d
            return slow(v)
        return iso_date
    return slow


# --------------------------------------------------------------------------------------------
# Cross-field rules (written once; used by the pydantic model and by the frame validator)
# --------------------------------------------------------------------------------------------
def _num(x: Any) -> np.ndarray:
    """Float64 array, missing/unparseable -> NaN."""
    arr = np.asarray(x)
    if arr.dtype.kind in "biuf":  # fast path: clean frames are already float64
        return arr.astype(float, copy=False)
    return pd.to_numeric(pd.Series(np.asarray(x, dtype=object)), errors="coerce").to_numpy(float)


def _dt(x: Any) -> np.ndarray:
    """datetime64[ns] array, missing -> NaT; float day numbers (the clean columns' dates) as they are."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]")
    return pd.to_datetime(pd.Series(arr, dtype=object), errors="coerce").to_numpy("datetime64[ns]")


@dataclass(frozen=True)
class CrossRule:
    """A rule `fields[0] <= fields[1]` (numbers or dates); NaN/NaT/None never violates."""
    code: str
    field: str                      # the field blamed in rejects
    fields: tuple[str, str]         # (a, b): the rule is a <= b
    message_zh: str
    message_en: str
    on_dates: bool = False

    def violated(self, cols: Mapping[str, Any]) -> np.ndarray:
        """Boolean mask of rows violating the rule (comparisons with NaN/NaT are False)."""
        a, b = self.fields
        as_array = _dt if self.on_dates else _num
        return np.asarray(as_array(cols[a]) > as_array(cols[b]), dtype=bool)

    def violated_by(self, a: Any, b: Any) -> bool:
        """`violated` for one pair of validated values (None never violates), without numpy.

        Numbers compare as float64 and dates as dates, exactly as the vectorised check does.
        """
        if a is None or b is None:
            return False
        return bool(a > b) if self.on_dates else float(a) > float(b)


def _le_rule(code: str, a: str, b: str, zh: str, en: str) -> CrossRule:
    """Rule `a <= b` on numbers; blames `a`."""
    return CrossRule(code, a, (a, b), zh, en)


def _date_le_rule(code: str, a: str, b: str, zh: str, en: str, blame: str | None = None) -> CrossRule:
    """Rule `a <= b` on dates (NaT never violates)."""
    return CrossRule(code, blame or a, (a, b), zh, en, on_dates=True)


CROSS_RULES: tuple[CrossRule, ...] = (
    _le_rule("rd_staff_le_staff", "rd_staff", "staff_total",
             "研发人员数不得超过职工总数", "R&D staff must not exceed total staff"),
    _le_rule("sci_tech_staff_le_staff", "sci_tech_staff", "staff_total",
             "科技人员数不得超过职工总数", "science/tech staff must not exceed total staff"),
    _le_rule("bachelor_plus_le_staff", "bachelor_plus", "staff_total",
             "本科及以上学历人数不得超过职工总数", "bachelor+ staff must not exceed total staff"),
    _le_rule("masters_phd_le_bachelor_plus", "masters_phd", "bachelor_plus",
             "硕士及博士人数不得超过本科及以上学历人数", "master/PhD staff must not exceed bachelor+ staff"),
    _le_rule("talent_program_le_staff", "talent_program_members", "staff_total",
             "入选人才计划人数不得超过职工总数", "talent-programme members must not exceed total staff"),
    _date_le_rule("founded_on_le_as_of", "founded_on", "as_of",
                  "成立日期不得晚于评估基准日", "founding date must not be after the assessment date"),
    _date_le_rule("latest_round_date_le_as_of", "latest_round_date", "as_of",
                  "最近融资日期不得晚于评估基准日", "latest round date must not be after the assessment date"),
    _date_le_rule("latest_round_date_ge_founded_on", "founded_on", "latest_round_date",
                  "最近融资日期不得早于成立日期", "latest round date must not be before the founding date",
                  blame="latest_round_date"),
    _le_rule("paid_in_le_registered", "paid_in_capital", "registered_capital",
             "实缴资本不得超过注册资本", "paid-in capital must not exceed registered capital"),
    _le_rule("equity_2y_le_total", "equity_raised_2y", "equity_raised_total",
             "近两年股权融资额不得超过累计股权融资额", "equity raised in 2 years must not exceed total equity raised"),
    _le_rule("rd_capitalized_le_rd_expense", "rd_capitalized_y0", "rd_expense_y0",
             "资本化研发支出不得超过研发费用", "capitalised R&D must not exceed R&D expense"),
    _le_rule("hightech_revenue_le_revenue", "hightech_revenue_y0", "revenue_y0",
             "高新技术产品(服务)收入不得超过营业收入", "high-tech revenue must not exceed revenue"),
)


# Rules on the credit record and the credit-capacity fields: "when the first field shows X, the second
# must show Y" (domain brief §5: 90+ days past due with a "normal" loan class is an input error, not a pass).
@dataclass(frozen=True)
class FactRule(CrossRule):
    """A rule on two fields given by `clash(a, b) -> mask` (arrays) and `clash_one(a, b) -> bool` (one
    profile's validated values: the API checks a profile in microseconds, not through pandas); a missing
    value never violates. Both say the same (tests/features/test_schema.py checks them side by side)."""
    clash: Callable[[np.ndarray, np.ndarray], np.ndarray] = lambda a, b: np.zeros(len(a), dtype=bool)
    clash_one: Callable[[Any, Any], bool] = lambda a, b: False

    def violated(self, cols: Mapping[str, Any]) -> np.ndarray:
        a, b = self.fields
        return np.asarray(self.clash(np.asarray(cols[a]), np.asarray(cols[b])), dtype=bool)

    def violated_by(self, a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        return bool(self.clash_one(a, b))


_PERFORMING = ("normal", "special_mention")  # loan classes that say the loan performs


def _dpd90_needs_bad_class(dpd: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """90+ days past due beside a class that says the loan performs (normal / special mention)."""
    performing = pd.Series(cls, dtype=object).isin(_PERFORMING).to_numpy(dtype=bool)
    return (_num(dpd) >= 90) & performing


def _dpd90_needs_bad_class_one(dpd: Any, cls: Any) -> bool:
    return float(dpd) >= 90 and cls in _PERFORMING


def _overdue_needs_dpd(overdue: np.ndarray, dpd: np.ndarray) -> np.ndarray:
    return (_num(overdue) == 1) & (_num(dpd) == 0)


def _overdue_needs_dpd_one(overdue: Any, dpd: Any) -> bool:
    return float(overdue) == 1 and float(dpd) == 0


CROSS_RULES = CROSS_RULES + (
    FactRule("dpd90_needs_substandard", "worst_loan_class", ("max_dpd_24m", "worst_loan_class"),
             "近24个月逾期90天以上时，贷款最差五级分类应为次级、可疑或损失",
             "90+ days past due in 24 months needs a worst loan class of substandard, doubtful or loss",
             clash=_dpd90_needs_bad_class, clash_one=_dpd90_needs_bad_class_one),
    FactRule("overdue_needs_dpd", "max_dpd_24m", ("current_overdue", "max_dpd_24m"),
             "当前逾期时，近24个月最长逾期天数应大于0", "a loan currently overdue needs max days past due > 0",
             clash=_overdue_needs_dpd, clash_one=_overdue_needs_dpd_one),
    _le_rule("bank_loans_le_liabilities", "bank_loans_outstanding", "total_liabilities",
             "银行借款余额不得超过负债总额", "bank loans outstanding must not exceed total liabilities"),
    _le_rule("round_amount_le_equity_total", "latest_round_amount", "equity_raised_total",
             "最近一轮融资金额不得超过累计股权融资额", "the latest round's amount must not exceed total equity raised"),
)


def _document_rules(schema: dict[str, Any]) -> None:
    """JSON Schema (OpenAPI) of FirmProfile: the credit-code format, the date range and the
    cross-field rules, which the validators check but field constraints cannot express."""
    props = schema.get("properties", {})
    if "firm_id" in props:
        props["firm_id"].update(pattern=f"^{USCC_PATTERN}$", minLength=18, maxLength=18)
    for prop in props.values():
        if prop.get("kind") == "date":
            prop["description"] += f" (ISO date YYYY-MM-DD, {DATE_MIN}–{DATE_MAX})"
    rules = "; ".join(f"{r.code} ({r.message_en})" for r in CROSS_RULES)
    schema["description"] = (schema.get("description", "") + " The check character of firm_id follows "
                             "GB 32100-2015. Cross-field rules: " + rules + ".")


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class FirmProfile(BaseModel):
    """One firm's raw profile as an officer or a CSV row submits it (money in 万元)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True,
                              json_schema_extra=_document_rules)

    # identity
    firm_id: str = _f("firm_id", "统一社会信用代码", "Unified social credit code", "", "identity", "text",
                      note_zh="18位，含校验码(GB 32100-2015)", note_en="18 chars with check character (GB 32100-2015)",
                      required=True)
    name: Optional[str] = _f("name", "企业名称", "Company name", "", "identity", "text", max_length=200)
    region_code: Optional[str] = _f("region_code", "行政区划代码", "Administrative region code", "", "identity",
                                    "text", note_zh="6位数字", note_en="6 digits", pattern=r"^[0-9]{6}$")
    industry_code: Optional[str] = _f("industry_code", "国民经济行业代码", "Industry code (GB/T 4754)", "",
                                      "identity", "text", note_zh="门类字母A–T加2–4位数字，如I6513",
                                      note_en="letter A–T then 2–4 digits, e.g. I6513", pattern=r"^[A-T][0-9]{2,4}$")
    sei_category: Optional[int] = _f("sei_category", "战略性新兴产业分类", "Strategic emerging industry", "",
                                     "identity", "integer", note_zh="1–9，空为不属于",
                                     note_en="1–9, empty = none", ge=1, le=9)
    founded_on: Optional[date] = _f("founded_on", "成立日期", "Date founded", "date", "identity", "date")
    as_of: Optional[date] = _f("as_of", "评估基准日", "Assessment date", "date", "identity", "date",
                               note_zh="空则取运行日期", note_en="run date when empty")
    lifecycle_stage: Optional[Stage] = _f("lifecycle_stage", "企业发展阶段", "Lifecycle stage", "", "identity",
                                          "enum", note_zh="startup初创/growth成长/mature成熟，空则自动判定",
                                          note_en="startup, growth, mature, derived when empty")
    # financials
    revenue_y0: Optional[float] = _pos("revenue_y0", "营业收入(当年)", "Revenue, latest year", "万元", "financials")
    revenue_y1: Optional[float] = _pos("revenue_y1", "营业收入(上年)", "Revenue, previous year", "万元", "financials")
    revenue_y2: Optional[float] = _pos("revenue_y2", "营业收入(前年)", "Revenue, two years ago", "万元", "financials")
    cost_of_sales_y0: Optional[float] = _pos("cost_of_sales_y0", "营业成本(当年)", "Cost of sales, latest year",
                                             "万元", "financials")
    net_profit_y0: Optional[float] = _f("net_profit_y0", "净利润(当年)", "Net profit, latest year", "万元",
                                        "financials", "number")
    total_assets: Optional[float] = _pos("total_assets", "资产总额", "Total assets", "万元", "financials")
    total_liabilities: Optional[float] = _pos("total_liabilities", "负债总额", "Total liabilities", "万元",
                                              "financials")
    net_assets_y0: Optional[float] = _f("net_assets_y0", "净资产(当年)", "Net assets, latest year", "万元",
                                        "financials", "number")
    net_assets_y1: Optional[float] = _f("net_assets_y1", "净资产(上年)", "Net assets, previous year", "万元",
                                        "financials", "number")
    cash: Optional[float] = _pos("cash", "货币资金", "Cash and equivalents", "万元", "financials")
    operating_cash_flow_y0: Optional[float] = _f("operating_cash_flow_y0", "经营活动现金流量净额(当年)",
                                                 "Operating cash flow, latest year", "万元", "financials", "number")
    hightech_revenue_y0: Optional[float] = _pos("hightech_revenue_y0", "高新技术产品(服务)收入(当年)",
                                                "High-tech product revenue, latest year", "万元", "financials",
                                                note_zh="不超过营业收入", note_en="at most revenue")
    top5_customer_share: Optional[float] = _share("top5_customer_share", "前五大客户销售占比",
                                                  "Top-5 customer share of sales", "financials")
    # R&D
    rd_expense_y0: Optional[float] = _pos("rd_expense_y0", "研发费用(当年)", "R&D expense, latest year", "万元", "rd")
    rd_expense_y1: Optional[float] = _pos("rd_expense_y1", "研发费用(上年)", "R&D expense, previous year", "万元", "rd")
    rd_expense_y2: Optional[float] = _pos("rd_expense_y2", "研发费用(前年)", "R&D expense, two years ago", "万元", "rd")
    rd_capitalized_y0: Optional[float] = _pos("rd_capitalized_y0", "资本化研发支出(当年)",
                                              "Capitalised R&D, latest year", "万元", "rd",
                                              note_zh="不超过研发费用", note_en="at most R&D expense")
    rd_center_level: Optional[int] = _f("rd_center_level", "研发机构级别", "R&D centre level", "级", "rd", "integer",
                                        note_zh="0无/1市级/2省级/3国家级",
                                        note_en="0 none, 1 city, 2 provincial, 3 national", ge=0, le=3)
    univ_collaborations: Optional[int] = _pos("univ_collaborations", "产学研合作项目数",
                                              "University collaborations", "项", "rd", "integer")
    gov_grants_3y: Optional[float] = _pos("gov_grants_3y", "近三年政府科技补助", "Government R&D grants, 3 years",
                                          "万元", "rd")
    # talent
    staff_total: Optional[int] = _pos("staff_total", "职工总数", "Total staff", "人", "talent", "integer")
    insured_staff: Optional[int] = _pos("insured_staff", "社保缴纳人数(当期)", "Social-insured staff, current",
                                        "人", "talent", "integer")
    insured_staff_prev: Optional[int] = _pos("insured_staff_prev", "社保缴纳人数(上年同期)",
                                             "Social-insured staff, a year earlier", "人", "talent", "integer")
    rd_staff: Optional[int] = _pos("rd_staff", "研发人员数", "R&D staff", "人", "talent", "integer")
    sci_tech_staff: Optional[int] = _pos("sci_tech_staff", "科技人员数", "Science and technology staff", "人",
                                         "talent", "integer")
    bachelor_plus: Optional[int] = _pos("bachelor_plus", "本科及以上学历人数", "Staff with bachelor's degree or above",
                                        "人", "talent", "integer")
    masters_phd: Optional[int] = _pos("masters_phd", "硕士及博士人数", "Staff with master's or PhD", "人", "talent",
                                      "integer")
    talent_program_members: Optional[int] = _pos("talent_program_members", "入选人才计划人数",
                                                 "Talent-programme members", "人", "talent", "integer")
    founder_industry_years: Optional[float] = _f("founder_industry_years", "创始人行业从业年限",
                                                 "Founder's years in the industry", "年", "talent", "number",
                                                 ge=0, le=70)
    founder_background: Optional[FounderBackground] = _f(
        "founder_background", "创始人背景", "Founder background", "", "talent", "enum",
        note_zh="none无/executive高管/phd_professor博士或教授/serial_exit连续创业成功退出",
        note_en="none, executive, phd_professor, serial_exit")
    key_staff_turnover_12m: Optional[float] = _share("key_staff_turnover_12m", "核心人员近12个月流失率",
                                                     "Key staff turnover, 12 months", "talent")
    # IP
    invention_patents_granted: Optional[int] = _pos("invention_patents_granted", "发明专利授权数",
                                                    "Granted invention patents", "件", "ip", "integer")
    invention_patents_pending: Optional[int] = _pos("invention_patents_pending", "在审发明专利申请数",
                                                    "Pending invention patent applications", "件", "ip", "integer")
    utility_models: Optional[int] = _pos("utility_models", "实用新型专利数", "Utility model patents", "件", "ip",
                                         "integer")
    design_patents: Optional[int] = _pos("design_patents", "外观设计专利数", "Design patents", "件", "ip", "integer")
    pct_applications: Optional[int] = _pos("pct_applications", "PCT国际专利申请数", "PCT applications", "件", "ip",
                                           "integer")
    software_copyrights: Optional[int] = _pos("software_copyrights", "软件著作权数", "Software copyrights", "件",
                                              "ip", "integer")
    trademarks: Optional[int] = _pos("trademarks", "注册商标数", "Registered trademarks", "件", "ip", "integer")
    ip_new_3y: Optional[int] = _pos("ip_new_3y", "近三年新增知识产权数", "IP added in 3 years", "件", "ip", "integer")
    standards_national: Optional[int] = _pos("standards_national", "主导或参与制定国家标准数",
                                             "National standards drafted", "项", "ip", "integer")
    standards_industry: Optional[int] = _pos("standards_industry", "主导或参与制定行业标准数",
                                             "Industry standards drafted", "项", "ip", "integer")
    standards_group: Optional[int] = _pos("standards_group", "主导或参与制定团体标准数", "Group standards drafted",
                                          "项", "ip", "integer")
    tech_conversions_3y: Optional[int] = _pos("tech_conversions_3y", "近三年科技成果转化数",
                                              "Technology conversions, 3 years", "项", "ip", "integer")
    qualification_tier: Optional[QualificationTier] = _f(
        "qualification_tier", "企业资质等级", "Qualification tier", "", "ip", "enum",
        note_zh="none无/tech_sme科技型中小企业/hnte高新技术企业/srdi_provincial省级专精特新/"
                "little_giant专精特新小巨人/champion制造业单项冠军",
        note_en="none, tech_sme, hnte, srdi_provincial, little_giant, champion")
    sci_award_level: Optional[int] = _f("sci_award_level", "科技奖励级别", "Science award level", "级", "ip",
                                        "integer", note_zh="0无/1市级/2省级/3国家级",
                                        note_en="0 none, 1 city, 2 provincial, 3 national", ge=0, le=3)
    # capital
    registered_capital: Optional[float] = _pos("registered_capital", "注册资本", "Registered capital", "万元",
                                               "capital")
    paid_in_capital: Optional[float] = _pos("paid_in_capital", "实缴资本", "Paid-in capital", "万元", "capital",
                                            note_zh="不超过注册资本", note_en="at most registered capital")
    equity_raised_total: Optional[float] = _pos("equity_raised_total", "累计股权融资额", "Total equity raised",
                                                "万元", "capital")
    equity_raised_2y: Optional[float] = _pos("equity_raised_2y", "近两年股权融资额", "Equity raised in 2 years",
                                             "万元", "capital", note_zh="不超过累计股权融资额",
                                             note_en="at most total equity raised")
    latest_round: Optional[Round] = _f("latest_round", "最近融资轮次", "Latest funding round", "", "capital", "enum",
                                       note_zh="none/angel天使/a/b/c_plus(C轮及以后)/pre_ipo",
                                       note_en="none, angel, a, b, c_plus, pre_ipo")
    latest_round_date: Optional[date] = _f("latest_round_date", "最近融资日期", "Latest round date", "date",
                                           "capital", "date")
    institutional_investors: Optional[int] = _pos("institutional_investors", "机构投资者数",
                                                  "Institutional investors", "家", "capital", "integer")
    state_fund_backed: Optional[bool] = _f("state_fund_backed", "国资或政府引导基金投资",
                                           "Backed by a state or government guidance fund", "", "capital", "bool")
    listed_or_cvc_backed: Optional[bool] = _f("listed_or_cvc_backed", "上市公司或产业资本投资",
                                              "Backed by a listed company or CVC", "", "capital", "bool")
    redemption_clause: Optional[bool] = _f("redemption_clause", "存在回购(对赌)条款",
                                           "Redemption (valuation-adjustment) clause", "", "capital", "bool")
    # credit
    tax_grade: Optional[TaxGrade] = _f("tax_grade", "纳税信用等级", "Tax credit grade", "", "credit", "enum",
                                       note_zh="A/B/M/C/D", note_en="A, B, M, C, D")
    current_overdue: Optional[bool] = _f("current_overdue", "当前是否逾期", "Currently overdue", "", "credit", "bool")
    max_dpd_24m: Optional[int] = _f("max_dpd_24m", "近24个月最长逾期天数", "Max days past due, 24 months", "天",
                                    "credit", "integer", ge=0, le=730)
    worst_loan_class: Optional[LoanClass] = _f(
        "worst_loan_class", "贷款最差五级分类", "Worst loan classification", "", "credit", "enum",
        note_zh="normal正常/special_mention关注/substandard次级/doubtful可疑/loss损失",
        note_en="normal, special_mention, substandard, doubtful, loss")
    lawsuits_defendant_3y: Optional[int] = _pos("lawsuits_defendant_3y", "近三年作为被告涉诉案件数",
                                                "Lawsuits as defendant, 3 years", "件", "credit", "integer")
    lawsuit_amount_3y: Optional[float] = _pos("lawsuit_amount_3y", "近三年被诉涉案金额",
                                              "Amount in lawsuits as defendant, 3 years", "万元", "credit")
    enforcement_listed: Optional[bool] = _f("enforcement_listed", "被列为被执行人或失信被执行人",
                                            "Listed as judgment debtor or dishonest debtor", "", "credit", "bool")
    admin_penalties_3y: Optional[int] = _pos("admin_penalties_3y", "近三年行政处罚次数",
                                             "Administrative penalties, 3 years", "次", "credit", "integer")
    abnormal_operation_listed: Optional[bool] = _f("abnormal_operation_listed", "列入经营异常名录",
                                                   "Listed for abnormal operation", "", "credit", "bool")
    guarantees_outstanding: Optional[float] = _pos("guarantees_outstanding", "对外担保余额",
                                                   "Guarantees given, outstanding", "万元", "credit")
    lender_count: Optional[int] = _pos("lender_count", "授信银行家数", "Number of lenders", "家", "credit", "integer")
    credit_inquiries_6m: Optional[int] = _pos("credit_inquiries_6m", "近6个月贷款审批查询次数",
                                              "Credit inquiries, 6 months", "次", "credit", "integer")
    # credit capacity and product sizing (domain brief §3, §5): facts that replace guesses in the limit
    own_funds: Optional[float] = _pos("own_funds", "自有资金", "Own funds put into working capital", "万元",
                                      "financials", note_zh="企业自有投入的营运资金",
                                      note_en="the firm's own contribution to working capital")
    bank_loans_outstanding: Optional[float] = _pos("bank_loans_outstanding", "银行借款余额",
                                                   "Bank loans outstanding", "万元", "credit",
                                                   note_zh="不超过负债总额", note_en="at most total liabilities")
    ip_appraised_value: Optional[float] = _pos("ip_appraised_value", "知识产权评估价值",
                                               "Appraised value of pledgeable patents", "万元", "ip")
    latest_round_amount: Optional[float] = _pos("latest_round_amount", "最近一轮融资金额",
                                                "Amount of the latest funding round", "万元", "capital",
                                                note_zh="不超过累计股权融资额", note_en="at most total equity raised")
    conversion_contract_value: Optional[float] = _pos("conversion_contract_value", "科技成果转化合同金额",
                                                      "Technology-conversion contract value", "万元", "rd")
    # request
    requested_amount: Optional[float] = _pos("requested_amount", "申请金额", "Requested amount", "万元", "request")
    tenor_months: Optional[int] = _f("tenor_months", "申请期限(月)", "Requested tenor", "月", "request", "integer",
                                     ge=1, le=360)
    security_type: Optional[SecurityType] = _f("security_type", "担保方式", "Security type", "", "request", "enum",
                                               note_zh="credit信用/ip_pledge知识产权质押/guarantee保证",
                                               note_en="credit, ip_pledge, guarantee")

    @field_validator("firm_id")
    @classmethod
    def _check_uscc(cls, v: str) -> str:
        """统一社会信用代码 must have the right charset, length and check character."""
        if not uscc_is_valid(v):
            raise _err("uscc_check", f"invalid 统一社会信用代码 (length, charset or check character): {v!r}")
        return v

    @model_validator(mode="after")
    def _cross_rules(self) -> "FirmProfile":
        """Apply CROSS_RULES to this profile's values; one error listing every violated rule."""
        values = self.__dict__
        found = [r for r in CROSS_RULES if r.violated_by(values[r.fields[0]], values[r.fields[1]])]
        if found:
            text = "; ".join(f"{r.field} [{r.code}]: {r.message_zh} / {r.message_en}" for r in found)
            viol = [{"field": r.field, "rule": r.code, "value": getattr(self, r.field)} for r in found]
            raise PydanticCustomError("cross_rule", "{msg}", {"msg": text, "violations": viol})
        return self


# --------------------------------------------------------------------------------------------
# Derived exports
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """Flat description of one raw field, derived from FirmProfile.model_fields."""
    name: str
    kind: str
    label_zh: str
    label_en: str
    unit: str
    group: str
    description: str
    ge: float | None
    le: float | None
    enum: tuple[str, ...]
    required: bool
    pattern: str | None = None
    max_length: int | None = None


def _literal_values(annotation: Any) -> tuple[str, ...]:
    """Values of the Literal inside Optional[Literal[...]]."""
    for arg in get_args(annotation):
        if get_args(arg) and all(isinstance(a, str) for a in get_args(arg)):
            return tuple(get_args(arg))
    return ()


def _spec(name: str) -> FieldSpec:
    """Build a FieldSpec from the pydantic FieldInfo (metadata carries the constraints)."""
    fi = FirmProfile.model_fields[name]
    extra: dict[str, Any] = fi.json_schema_extra  # type: ignore[assignment]
    meta = {k: getattr(m, k) for m in fi.metadata for k in ("ge", "le", "pattern", "max_length")
            if getattr(m, k, None) is not None}
    return FieldSpec(name=name, kind=extra["kind"], label_zh=extra["label_zh"], label_en=extra["label_en"],
                     unit=extra["unit"], group=extra["group"], description=fi.description or "",
                     ge=meta.get("ge"), le=meta.get("le"), enum=_literal_values(fi.annotation),
                     required=fi.is_required(), pattern=meta.get("pattern"), max_length=meta.get("max_length"))


FIELD_NAMES: tuple[str, ...] = tuple(FirmProfile.model_fields)
FIELD_SPECS: dict[str, FieldSpec] = {n: _spec(n) for n in FIELD_NAMES}
ALIASES: dict[str, str] = {s.label_zh: n for n, s in FIELD_SPECS.items()}


# Import-time guards: the alias must start with the field's own name, labels must be unique.
assert all(FirmProfile.model_fields[n].validation_alias.choices[0] == n for n in FIELD_NAMES)  # type: ignore[union-attr]
assert len(ALIASES) == len(FIELD_NAMES), "label_zh values must be unique"
assert all(s.group in GROUPS for s in FIELD_SPECS.values())
assert not {v for s in FIELD_SPECS.values() for v in s.enum} - set(VALUE_LABELS), "enum value without a name"


# --------------------------------------------------------------------------------------------
# Messages shared by the pydantic path and the frame validator
# --------------------------------------------------------------------------------------------
_RULE_TEXT: dict[str, tuple[str, str]] = {
    "required": ("为必填项，不能为空", "is required"),
    "uscc_check": ("不是有效的统一社会信用代码(长度、字符集或校验码错误)",
                   "is not a valid unified social credit code (length, charset or check character)"),
    "type:number": ("不是有效数字", "is not a valid number"),
    "type:integer": ("不是有效整数", "is not a valid integer"),
    "integer": ("应为整数", "must be a whole number"),
    "type:bool": ("不是有效的是/否值(可用 1/0/true/false/yes/no/是/否/Y/N/有/无/√/×)",
                  "is not a yes/no value (use 1/0/true/false/yes/no/是/否/Y/N/有/无/√/×)"),
    "date": ("不是有效日期(如 2021-03-05、2021/3/5、2021年3月5日、20210305，1700–2199年)",
             "is not a valid date (e.g. 2021-03-05, 2021/3/5, 2021年3月5日, 20210305; years 1700–2199)"),
    "ambiguous:date": ("日期有歧义(日/月顺序或年份与Excel序号无法区分)，请写成年在前，如 2021-03-05",
                       "is an ambiguous date (day/month order, or a year vs an Excel serial); write the year "
                       "first, e.g. 2021-03-05"),
    "ambiguous:separator": ("占比字段中的逗号有歧义(千位分隔符还是小数点)，请写成 0.45 或 45%",
                            "has a comma in a share field, which is ambiguous (thousands or decimal?); "
                            "write 0.45 or 45%"),
    "unit": ("带有该字段不适用的单位", "carries a unit this field cannot take"),
    "pattern": ("格式不正确", "has the wrong format"),
    "max_length": ("超过最大长度", "is too long"),
    "type:text": ("应为文本", "must be text"),
}


def format_bound(x: float) -> str:
    """Bound as written in rule codes: 0 not 0.0."""
    return f"{x:g}"


def rule_text(field: str, rule: str) -> tuple[str, str]:
    """(zh, en) explanation of a rule for a field, without the value."""
    spec = FIELD_SPECS[field]
    if rule.startswith("ge:"):
        return f"应不小于 {rule[3:]}", f"must be ≥ {rule[3:]}"
    if rule.startswith("le:"):
        return f"应不大于 {rule[3:]}", f"must be ≤ {rule[3:]}"
    if rule == "enum":
        allowed = ", ".join(spec.enum)
        return f"不在允许值中({allowed})", f"is not one of the allowed values ({allowed})"
    if rule == "pattern":
        extra: dict[str, Any] = FirmProfile.model_fields[field].json_schema_extra  # type: ignore[assignment]
        zh, en = _RULE_TEXT[rule]
        return f"{zh}，应为{extra['note_zh']}", f"{en}, expected {extra['note_en']}"
    if rule == "max_length":
        return f"超过最大长度 {spec.max_length} 个字符", f"is longer than {spec.max_length} characters"
    cross = {r.code: r for r in CROSS_RULES}
    if rule in cross:
        return f"违反交叉校验：{cross[rule].message_zh}", f"breaks a cross-field rule: {cross[rule].message_en}"
    return _RULE_TEXT.get(rule) or (f"不符合规则 {rule}", f"breaks the rule {rule}")  # any rule pydantic adds


def message_template(field: str, rule: str) -> str:
    """Bilingual message with a `{value}` slot: '中文 / English', naming field, rule and value."""
    spec = FIELD_SPECS[field]
    zh, en = rule_text(field, rule)
    return (f"{spec.label_zh}({field}){zh}，输入值 '{{value}}' [规则 {rule}] / "
            f"{spec.label_en} ({field}) {en}, got '{{value}}' [rule {rule}]")


def violation_message(field: str, rule: str, value: Any) -> str:
    """Fill `message_template` for one value (None -> empty string)."""
    return message_template(field, rule).replace("{value}", "" if _missing(value) else str(value))


_PYDANTIC_RULES = {"literal_error": "enum", "string_pattern_mismatch": "pattern", "string_too_long": "max_length",
                   "float_parsing": "type:number", "float_type": "type:number", "finite_number": "type:number",
                   "int_parsing": "type:integer", "int_type": "type:integer", "int_from_float": "integer",
                   "int_parsing_size": "type:integer", "missing": "required", "string_type": "type:text"}


def _rule_of(err: Mapping[str, Any], field: str) -> str:
    """Translate one pydantic error into our rule code."""
    t, ctx = err["type"], err.get("ctx") or {}
    if t in ("greater_than_equal", "greater_than"):
        return f"ge:{format_bound(ctx.get('ge', ctx.get('gt')))}"
    if t in ("less_than_equal", "less_than"):
        return f"le:{format_bound(ctx.get('le', ctx.get('lt')))}"
    if t.startswith("date") and FIELD_SPECS[field].kind == "date":
        return "date"
    return _PYDANTIC_RULES.get(t, t)


def violations_from_error(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as reject-style dicts (field, rule, value, message), same wording as frames."""
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        if err["type"] == "cross_rule":
            items = [(v["field"], v["rule"], v["value"]) for v in err["ctx"]["violations"]]
        elif err["loc"] and err["loc"][0] in ALIASES:
            items = [(ALIASES[err["loc"][0]], None, err.get("input"))]
        else:
            items = [(str(err["loc"][0]) if err["loc"] else "", None, err.get("input"))]
        for field, rule, value in items:
            if err["type"] == "missing":  # pydantic's input of a missing field is the whole profile
                value = None
            if field not in FIELD_SPECS:  # extra='forbid' on an unknown key
                out.append({"field": field, "rule": "unknown_field", "value": value,
                            "message": f"未知字段 {field} / unknown field {field}"})
                continue
            rule = rule or _rule_of(err, field)
            out.append({"field": field, "rule": rule, "value": value,
                        "message": violation_message(field, rule, value)})
    return out


# --------------------------------------------------------------------------------------------
# Example firms (API docs, web page, tests)
# --------------------------------------------------------------------------------------------
def example_profiles() -> dict[str, dict[str, Any]]:
    """Three realistic example firms keyed startup / growth / mature (JSON-ready values)."""
    return {"startup": _startup(), "growth": _growth(), "mature": _mature()}


def _startup() -> dict[str, Any]:
    """A two-year-old AI vision start-up in Suzhou Industrial Park, angel + A round."""
    return {
        "firm_id": make_uscc("91320594MA27QX8K3"), "name": "苏州澄视智能科技有限公司",
        "region_code": "320594", "industry_code": "I6513", "sei_category": 1,
        "founded_on": "2023-03-15", "as_of": "2025-06-30", "lifecycle_stage": "startup",
        "revenue_y0": 320.0, "revenue_y1": 85.0, "revenue_y2": None, "cost_of_sales_y0": 150.0,
        "net_profit_y0": -680.0, "total_assets": 2600.0, "total_liabilities": 420.0,
        "net_assets_y0": 2180.0, "net_assets_y1": 1150.0, "cash": 1900.0, "operating_cash_flow_y0": -720.0,
        "hightech_revenue_y0": 300.0, "top5_customer_share": 0.82,
        "rd_expense_y0": 610.0, "rd_expense_y1": 380.0, "rd_expense_y2": None, "rd_capitalized_y0": 0.0,
        "rd_center_level": 0, "univ_collaborations": 1, "gov_grants_3y": 60.0,
        "staff_total": 28, "insured_staff": 26, "insured_staff_prev": 15, "rd_staff": 19, "sci_tech_staff": 21,
        "bachelor_plus": 25, "masters_phd": 12, "talent_program_members": 1, "founder_industry_years": 11.0,
        "founder_background": "phd_professor", "key_staff_turnover_12m": 0.05,
        "invention_patents_granted": 1, "invention_patents_pending": 6, "utility_models": 3, "design_patents": 0,
        "pct_applications": 1, "software_copyrights": 9, "trademarks": 2, "ip_new_3y": 20,
        "standards_national": 0, "standards_industry": 0, "standards_group": 1, "tech_conversions_3y": 1,
        "qualification_tier": "tech_sme", "sci_award_level": 0,
        "registered_capital": 1200.0, "paid_in_capital": 800.0, "equity_raised_total": 3500.0,
        "equity_raised_2y": 3000.0, "latest_round": "a", "latest_round_date": "2024-11-20",
        "institutional_investors": 3, "state_fund_backed": True, "listed_or_cvc_backed": False,
        "redemption_clause": True,
        "tax_grade": "M", "current_overdue": False, "max_dpd_24m": 0, "worst_loan_class": "normal",
        "lawsuits_defendant_3y": 0, "lawsuit_amount_3y": 0.0, "enforcement_listed": False,
        "admin_penalties_3y": 0, "abnormal_operation_listed": False, "guarantees_outstanding": 0.0,
        "lender_count": 1, "credit_inquiries_6m": 2,
        "own_funds": 800.0, "bank_loans_outstanding": 150.0, "ip_appraised_value": None,
        "latest_round_amount": 3000.0, "conversion_contract_value": None,
        "requested_amount": 500.0, "tenor_months": 12, "security_type": "credit",
    }


def _growth() -> dict[str, Any]:
    """A Shenzhen industrial-IoT high-tech enterprise with a B round and growing revenue."""
    return {
        "firm_id": make_uscc("91440300MA5DK7QX2"), "name": "深圳市联芯物联技术有限公司",
        "region_code": "440300", "industry_code": "C3969", "sei_category": 1,
        "founded_on": "2016-08-09", "as_of": "2025-06-30", "lifecycle_stage": "growth",
        "revenue_y0": 6800.0, "revenue_y1": 5200.0, "revenue_y2": 3900.0, "cost_of_sales_y0": 4150.0,
        "net_profit_y0": 410.0, "total_assets": 7600.0, "total_liabilities": 3300.0,
        "net_assets_y0": 4300.0, "net_assets_y1": 3890.0, "cash": 1450.0, "operating_cash_flow_y0": 380.0,
        "hightech_revenue_y0": 5300.0, "top5_customer_share": 0.46,
        "rd_expense_y0": 520.0, "rd_expense_y1": 430.0, "rd_expense_y2": 330.0, "rd_capitalized_y0": 60.0,
        "rd_center_level": 1, "univ_collaborations": 2, "gov_grants_3y": 180.0,
        "staff_total": 165, "insured_staff": 158, "insured_staff_prev": 137, "rd_staff": 48, "sci_tech_staff": 61,
        "bachelor_plus": 104, "masters_phd": 27, "talent_program_members": 2, "founder_industry_years": 16.0,
        "founder_background": "executive", "key_staff_turnover_12m": 0.08,
        "invention_patents_granted": 14, "invention_patents_pending": 9, "utility_models": 37, "design_patents": 5,
        "pct_applications": 2, "software_copyrights": 41, "trademarks": 12, "ip_new_3y": 46,
        "standards_national": 0, "standards_industry": 1, "standards_group": 3, "tech_conversions_3y": 6,
        "qualification_tier": "hnte", "sci_award_level": 1,
        "registered_capital": 3000.0, "paid_in_capital": 3000.0, "equity_raised_total": 12000.0,
        "equity_raised_2y": 8000.0, "latest_round": "b", "latest_round_date": "2024-04-18",
        "institutional_investors": 5, "state_fund_backed": True, "listed_or_cvc_backed": True,
        "redemption_clause": True,
        "tax_grade": "A", "current_overdue": False, "max_dpd_24m": 0, "worst_loan_class": "normal",
        "lawsuits_defendant_3y": 1, "lawsuit_amount_3y": 35.0, "enforcement_listed": False,
        "admin_penalties_3y": 0, "abnormal_operation_listed": False, "guarantees_outstanding": 0.0,
        "lender_count": 3, "credit_inquiries_6m": 3,
        "own_funds": 900.0, "bank_loans_outstanding": 1800.0, "ip_appraised_value": 1400.0,
        "latest_round_amount": 8000.0, "conversion_contract_value": 600.0,
        "requested_amount": 1500.0, "tenor_months": 24, "security_type": "ip_pledge",
    }


def _mature() -> dict[str, Any]:
    """A Hangzhou precision-instrument 'little giant' with steady profits and pre-IPO funding."""
    return {
        "firm_id": make_uscc("91330108743512869"), "name": "杭州精测仪器股份有限公司",
        "region_code": "330108", "industry_code": "C4016", "sei_category": 2,
        "founded_on": "2008-05-20", "as_of": "2025-06-30", "lifecycle_stage": "mature",
        "revenue_y0": 38500.0, "revenue_y1": 33800.0, "revenue_y2": 29600.0, "cost_of_sales_y0": 23100.0,
        "net_profit_y0": 4200.0, "total_assets": 52000.0, "total_liabilities": 19500.0,
        "net_assets_y0": 32500.0, "net_assets_y1": 28700.0, "cash": 8600.0, "operating_cash_flow_y0": 5100.0,
        "hightech_revenue_y0": 33200.0, "top5_customer_share": 0.31,
        "rd_expense_y0": 2450.0, "rd_expense_y1": 2120.0, "rd_expense_y2": 1880.0, "rd_capitalized_y0": 310.0,
        "rd_center_level": 2, "univ_collaborations": 4, "gov_grants_3y": 760.0,
        "staff_total": 480, "insured_staff": 472, "insured_staff_prev": 455, "rd_staff": 118, "sci_tech_staff": 150,
        "bachelor_plus": 260, "masters_phd": 64, "talent_program_members": 5, "founder_industry_years": 28.0,
        "founder_background": "executive", "key_staff_turnover_12m": 0.04,
        "invention_patents_granted": 58, "invention_patents_pending": 21, "utility_models": 96, "design_patents": 11,
        "pct_applications": 6, "software_copyrights": 33, "trademarks": 25, "ip_new_3y": 64,
        "standards_national": 2, "standards_industry": 4, "standards_group": 5, "tech_conversions_3y": 12,
        "qualification_tier": "little_giant", "sci_award_level": 2,
        "registered_capital": 12000.0, "paid_in_capital": 12000.0, "equity_raised_total": 26000.0,
        "equity_raised_2y": 15000.0, "latest_round": "pre_ipo", "latest_round_date": "2024-09-10",
        "institutional_investors": 9, "state_fund_backed": True, "listed_or_cvc_backed": True,
        "redemption_clause": False,
        "tax_grade": "A", "current_overdue": False, "max_dpd_24m": 0, "worst_loan_class": "normal",
        "lawsuits_defendant_3y": 2, "lawsuit_amount_3y": 120.0, "enforcement_listed": False,
        "admin_penalties_3y": 0, "abnormal_operation_listed": False, "guarantees_outstanding": 1500.0,
        "lender_count": 5, "credit_inquiries_6m": 2,
        "own_funds": 6000.0, "bank_loans_outstanding": 9000.0, "ip_appraised_value": 6000.0,
        "latest_round_amount": 15000.0, "conversion_contract_value": 1200.0,
        "requested_amount": 6000.0, "tenor_months": 36, "security_type": "credit",
    }
