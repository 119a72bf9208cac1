"""The API's answers, shaped at the service edge from what `models/` returns (arrays and dataclasses).

Every JSON answer of the scoring routes is built here **through its pydantic response model**
(service/api/models.py, service/api/decision_models.py): plain data is assembled in the model's field
order and validated once with `model_validate` (pydantic's core; the models forbid undeclared keys),
so a record that does not fit the published contract raises here instead of reaching a client.

- audited routes (POST /v1/scores, /v1/scores/batch, /v1/scores/rows) get a `Checked`: the validated
  model and the bytes sent, which are the audit record's bytes too (written before the reply). The
  bytes are the data that passed validation, encoded by orjson as before (equal, byte for byte, to the
  model's own serialisation `dump`: tests check it on every route; orjson is 5× faster);
- what-if and next-grade return the model itself; FastAPI checks it against the route's
  `response_model` and serialises it (set keys only).

Builders: `assessment` (Assessment), `row_assessment` + `rows_result` (RowsResult), `batch_error`
(BatchItem), `what_if_result` (WhatIfResult), `next_grade_result` (NextGradeResult), `recommendation`
(the `recommendation` object's data). Work that does not depend on the firm is done once: per
catalogue the reasons' fixed fields and each indicator's display, values already shown (stage
medians, counts, levels), per batch the arrays as Python lists (`_View`, kept while the batch lives:
the micro-batcher answers a batch's requests one by one).
"""
from __future__ import annotations

import threading
import weakref
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

import orjson
import numpy as np
from fastapi.responses import Response
from pydantic import BaseModel

from features.registry import DIMENSIONS, INDICATORS
from models.catalogue import Catalogue
from models.decision import ASSUMPTION_CODES, JOINT_KINDS, Recommendations
from models.reasons import KINDS, Display, comparison, display_of, sentence_texts
from models.scoring import DIMENSION_KEYS, ScoreBatch
from models.whatif import NextGrade, WhatIf
from service.api.models import Assessment, BatchItem, RowsResult
from service.api.decision_models import NextGradeResult, WhatIfResult
from service.store.audit import AuditRecord

__all__ = ["Checked", "JsonAnswer", "assessment", "audit_record", "batch_error", "batch_item_json", "batch_result_json", "dump",
           "json_bytes", "next_grade_result", "recommendation", "row_assessment", "rows_result", "score_record", "timestamp", "what_if_result"]


class JsonAnswer(Response):
    """The reply of an audited route: the bytes of its checked answer (`Checked.json`), which are also the audit
    record's bytes (written before the reply is sent, so the answer is serialised once)."""

    media_type = "application/json"


class Checked(NamedTuple):
    """An answer that passed its response model: the validated model and the JSON bytes to send and audit."""

    model: Any
    json: bytes


def json_bytes(data: Any) -> bytes:
    """Plain data (numpy values included) as the JSON bytes every answer of the API is sent as."""
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


def _checked(model: type[BaseModel], data: dict[str, Any]) -> Checked:
    """`data` validated by `model` (ValidationError if it breaks the contract), and its JSON bytes."""
    return Checked(model.model_validate(data), json_bytes(data))


def dump(answer: BaseModel) -> bytes:
    """The validated answer as JSON bytes (what is sent and what the audit trail keeps): pydantic's serialiser
    (the same bytes orjson gave for these plain floats, strings and lists), by alias, set keys only."""
    # warnings=False: the values were validated into these very fields, there is nothing left to warn about
    return answer.__pydantic_serializer__.to_json(answer, by_alias=True, exclude_unset=True, warnings=False)


# ------------------------------------------------------------------------------------------
# Scores
# ------------------------------------------------------------------------------------------
class _Reasons:
    """A catalogue's constant reason parts: per kind (models.reasons.KINDS) and feature the fixed fields
    (code, indicator, dimension, labels, sentences), per feature its display and unit, and the texts of
    stage medians already shown (a few values per feature and stage)."""

    def __init__(self, catalogue: Catalogue):
        self.fixed: list[list[tuple[str, ...]]] = []
        for kind in KINDS:
            row = []
            for f in catalogue.features:
                zh, en = sentence_texts(f, kind)
                row.append((f"{f.code}{kind}", f.key, f.group, f.label_zh, f.label_en, zh, en))
            self.fixed.append(row)
        self.displays: list[Display] = [display_of(f.key, f.unit) for f in catalogue.features]
        self.texts: list[Callable[[float], tuple[float | None, str | None, str | None]]] = [
            d.texts for d in self.displays]
        self.units = [d.unit[0] if d.kind in ("log", "number", "percent") else "" for d in self.displays]
        self.categories = [f.categories for f in catalogue.features]
        self.dimensions = [(key, zh, en) for key, (zh, en) in catalogue.groups.items()]
        self.remembered: dict[tuple[int, float], tuple[float | None, str | None, str | None]] = {}

    def shown(self, f: int, value: float) -> tuple[float | None, str | None, str | None]:
        """`Display.texts` of feature f's value, remembered: stage medians are a few values per feature, and
        counts, levels and flags repeat from firm to firm."""
        key = (f, value)
        out = self.remembered.get(key)
        if out is None:
            if len(self.remembered) >= 20_000:  # continuous values rarely repeat: start again rather than grow
                self.remembered.clear()
            out = self.remembered[key] = self.texts[f](value)
        return out


def _by_identity(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`build(obj)` made once per object (a catalogue, a policy: neither is hashable), for the last few objects."""
    made: dict[int, tuple[Any, Any]] = {}

    def get(obj: Any) -> Any:
        hit = made.get(id(obj))
        if hit is None or hit[0] is not obj:
            if len(made) >= 8:  # models reloaded many times: keep the recent ones
                made.clear()
            hit = made[id(obj)] = (obj, build(obj))  # the object is kept, so its id is not reused meanwhile
        return hit[1]

    return get


_reasons_of = _by_identity(_Reasons)


class _View:
    """One batch's arrays as Python lists (one conversion per array, not a numpy scalar per cell)."""

    def __init__(self, batch: ScoreBatch):
        n = len(batch)
        rows = np.arange(n)[:, None]
        self.pd, self.score, self.base = batch.pd.tolist(), batch.score.tolist(), batch.base_points.tolist()
        self.clip, self.points, self.ratings = batch.clip_points.tolist(), batch.dimension_points.tolist(), batch.ratings.tolist()
        self.knockouts = batch.knockouts.tolist()
        relative = batch.points if batch.relative is None else batch.relative
        self.reasons = {}
        for side, idx in (("down", batch.reasons_down), ("up", batch.reasons_up)):
            at = np.maximum(idx, 0)  # −1 pads: any column, never read
            self.reasons[side] = (idx.tolist(), batch.values[rows, at].tolist(), batch.stage_medians[rows, at].tolist(),
                                  relative[rows, at].tolist(), batch.reason_kinds(idx, side).tolist())
        self.recommendations = None if batch.recommendations is None else _RecView(batch.recommendations)


_views: dict[int, tuple[weakref.ref, _View]] = {}
_views_lock = threading.Lock()


def _view(batch: ScoreBatch) -> _View:
    """The batch's `_View`, made at its first record and dropped with the batch."""
    key = id(batch)
    hit = _views.get(key)
    if hit is not None and hit[0]() is batch:
        return hit[1]
    view = _View(batch)
    with _views_lock:
        _views[key] = (weakref.ref(batch, lambda _, k=key: _views.pop(k, None)), view)
    return view


def _reason_list(batch: ScoreBatch, view: _View, i: int, side: str) -> list[dict[str, Any]]:
    """Row i's reasons down or up, strongest first, values in the field's unit (never in model units)."""
    consts = _reasons_of(batch.catalogue)
    fixed, units, categories = consts.fixed, consts.units, consts.categories
    remembered, shown_as = consts.remembered, consts.shown
    idx, values, medians, points, kinds = (part[i] for part in view.reasons[side])
    out = []
    for f, value, median, pts, kind in zip(idx, values, medians, points, kinds):
        if f < 0:
            break
        code, indicator, dimension, label_zh, label_en, text_zh, text_en = fixed[kind][f]
        if value != value:  # NaN: not provided
            shown = value_zh = value_en = None
        else:
            shown, value_zh, value_en = remembered.get((f, value)) or shown_as(f, value)
        if median != median:
            median_shown = median_zh = median_en = None
        else:
            median_shown, median_zh, median_en = remembered.get((f, median)) or shown_as(f, median)
        reason = {"code": code, "indicator": indicator, "dimension": dimension, "label_zh": label_zh,
                  "label_en": label_en, "value": shown, "stage_median": median_shown, "points": round(pts, 2),
                  "text_zh": text_zh, "text_en": text_en, "comparison": comparison(value, median), "unit": units[f],
                  "value_text_zh": value_zh, "stage_median_text_zh": median_zh, "value_text_en": value_en,
                  "stage_median_text_en": median_en}
        if categories[f]:  # a categorical column: its value is the category's position
            reason["category"] = None if value != value else categories[f][int(value)]
        out.append(reason)
    return out


_INSUFFICIENT_ZH = "数据不足，无法给出可靠评级：请补充所列字段后重新评分"
_INSUFFICIENT_EN = "Insufficient data for a reliable grade: collect the fields listed and score again"


def _insufficient(batch: ScoreBatch, i: int) -> dict[str, Any] | None:
    """None, or the dimensions below the minimum coverage and the fields to collect (the decision is then
    "refer": the score is shown for information, not as a grade the data supports)."""
    if batch.insufficient is None or not batch.insufficient[i] or batch.explainer is None:
        return None
    groups, minimum = batch.catalogue.groups, batch.explainer.min_coverage
    low = [(g, c) for g, c in zip(batch.catalogue.group_keys, batch.coverage[i].tolist()) if c < minimum]
    return {"decision": "refer: insufficient data", "min_coverage": minimum,
            "dimensions": [{"key": g, "label_zh": groups[g][0], "label_en": groups[g][1], "coverage": round(c, 3)}
                           for g, c in low],
            "fields_to_collect": batch.fields_to_collect(i), "text_zh": _INSUFFICIENT_ZH, "text_en": _INSUFFICIENT_EN}


def _stage_check(batch: ScoreBatch, i: int) -> dict[str, Any] | None:
    """Declared stage checked against the data; the stricter sets the limit's cap."""
    st = batch.stages
    if st is None:
        return None
    conflict = bool(st.conflict[i])
    out = {"declared": st.declared[i], "from_data": st.data[i], "used": batch.stage[i], "conflict": conflict,
           "limit_stage": st.limit_stage[i]}
    if conflict:
        out["text_zh"] = f"申报阶段（{st.declared[i]}）与数据（{st.data[i]}）不符：额度按较严格的{st.limit_stage[i]}阶段"
        out["text_en"] = (f"The declared stage ({st.declared[i]}) contradicts the data ({st.data[i]}): "
                          f"limits use the stricter {st.limit_stage[i]} stage")
    return out


def score_record(batch: ScoreBatch, i: int, head: dict[str, Any] | None = None) -> dict[str, Any]:
    """Row i's score as plain data in `ScoreRecord`'s field order, after `head` (e.g. the assessment id)."""
    view = _view(batch)
    points, ratings = view.points[i], view.ratings[i]
    consts = _reasons_of(batch.catalogue)
    out = {} if head is None else dict(head)
    out |= {
        "firm_id": batch.firm_id[i],
        "lifecycle_stage": batch.stage[i],
        "pd": view.pd[i],
        "score": view.score[i],
        "grade": batch.grade[i],
        "base_points": view.base[i],
        "dimensions": [{"key": key, "label_zh": zh, "label_en": en, "points": points[d], "rating": ratings[d]}
                       for d, (key, zh, en) in enumerate(consts.dimensions)],
        "clip_points": view.clip[i],
        "knockouts": [{"code": ko.code, "rule": ko.rule, "text_zh": ko.text_zh, "text_en": ko.text_en}
                      for ko, hit in zip(batch.knockout_rules, view.knockouts[i]) if hit],
        "reasons_down": _reason_list(batch, view, i, "down"),
        "reasons_up": _reason_list(batch, view, i, "up"),
        "model_version": batch.model_version,
        "insufficient_data": _insufficient(batch, i),
        "stage_check": _stage_check(batch, i),
    }
    if view.recommendations is not None:
        out["recommendation"] = view.recommendations.record(i)
    return out


def timestamp() -> str:
    """Now, as an answer's `assessed_at` (UTC, to the microsecond)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def assessment(batch: ScoreBatch, i: int, assessment_id: str, at: str) -> Checked:
    """Row i of a scored batch as a recorded `Assessment` (checked), with its bytes."""
    return _checked(Assessment, score_record(batch, i, {"assessment_id": assessment_id, "assessed_at": at}))


def audit_record(out: Checked, raw_input: str | bytes, key_id: str, channel: str) -> AuditRecord:
    """The audit trail's record of a checked `Assessment`: what was received and the very bytes answered."""
    a = out.model
    return AuditRecord(a.assessment_id, a.assessed_at, a.firm_id, key_id, channel, a.model_version, raw_input, out.json)


def row_assessment(batch: ScoreBatch, i: int, assessment_id: str, at: str) -> dict[str, Any]:
    """A row scored in the model's own columns (POST /v1/scores/rows: no firm id or policy in generic mode), as
    plain data; `rows_result` checks it as a `RowAssessment` with the rest of the answer."""
    return score_record(batch, i, {"assessment_id": assessment_id, "assessed_at": at})


def batch_error(index: int, errors: list[dict[str, Any]]) -> Checked:
    """A firm of a JSON batch that was not scored, with its field errors (a checked `BatchItem`)."""
    return _checked(BatchItem, {"index": index, "ok": False, "errors": errors})


def batch_item_json(index: int, assessment_json: bytes) -> bytes:
    """`BatchItem(index, ok=True, assessment)` as JSON around a checked assessment's bytes (the audit record's
    bytes too): a batch of 1000 firms is neither validated nor serialised twice."""
    return b'{"index":%d,"ok":true,"assessment":%s}' % (index, assessment_json)


def batch_result_json(scored: int, rejected: int, items: list[bytes]) -> bytes:
    """`BatchResult` as JSON around its checked items' bytes (`batch_item_json`, `batch_error`)."""
    return b'{"scored":%d,"rejected":%d,"results":[%s]}' % (scored, rejected, b",".join(items))


def rows_result(scored: int, rejected: int, items: list[dict[str, Any]]) -> Checked:
    """POST /v1/scores/rows' answer (a checked `RowsResult`): per row its assessment (`row_assessment`) or its errors."""
    return _checked(RowsResult, {"scored": scored, "rejected": rejected, "results": items})


# ------------------------------------------------------------------------------------------
# Recommendation
# ------------------------------------------------------------------------------------------
_BASIS_TEXT = {
    "working_capital": ("营运资金测算", "working-capital need"),
    "revenue_share": ("营业收入比例", "share of revenue"),
    "equity": ("近两年股权融资比例", "share of equity raised in 2 years"),
    "ip_pledge": ("知识产权质押价值", "IP-pledge value"),
    "tech_transfer": ("科技成果转化合同(或补助)比例", "share of the technology-conversion contract (or grants)"),
    "none": ("无测算基础", "no basis"),
}
_SIZING_TEXT = {"ip_pledge": ("知识产权价值×质押率 =", "IP value × pledge rate ="),
                "conversion": ("成果转化合同(或补助)×比例 =", "conversion contract (or grants) × share ="),
                "round_share": ("最近一轮融资×比例 =", "latest round × round share =")}
_JOINT_SIZING = "企业授信额度，多家银行分担 / the firm's limit, shared by banks"


def _show(v: Any) -> str:
    """A rule value as an officer reads it (dates are float days in rule columns and never shown)."""
    if v is None or (isinstance(v, float) and v != v):  # NaN
        return "missing"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _value(v: Any) -> Any:
    """A value for JSON: NaN → None, whole floats stay floats."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    return float(v) if isinstance(v, (float, int)) and not isinstance(v, bool) else v


def _step(key: str, en: str, zh: str, value: float, rule: str) -> dict[str, Any]:
    return {"key": key, "label_en": en, "label_zh": zh, "value": None if value != value else round(value, 4),
            "rule": rule}


def _policy_texts(policy: Any) -> dict[str, Any]:
    """The limit steps' rule texts that depend on the policy only."""
    pol, wc, sz = policy, policy.working_capital, policy.sizing
    return {
        "growth": "revenue_y0 / revenue_y1 − 1, clipped to [0, %g]" % wc.expected_growth_max,
        "own_funds": "own_funds (profile)",
        "own_funds_assumed": f"not given: need × working_capital.own_funds_share_of_need {wc.own_funds_share_of_need:g}",
        "loans": "bank_loans_outstanding (profile)",
        "loans_assumed": f"not given: min(need × working_capital.existing_loans_share_of_need "
                         f"{wc.existing_loans_share_of_need:g}, total_liabilities)",
        "loans_none": "not given and lender_count = 0: 0",
        "equity": f"equity_raised_2y × startup.equity_share {pol.startup.equity_share:g}",
        "ip_pledge": f"IP value × sizing.ip_pledge_rate {sz.ip_pledge_rate:g}",
        "tech_transfer": f"conversion contract (or 3-year grants) × sizing.conversion_share {sz.conversion_share:g}",
        "limit": f"min(amount, cap) rounded down to {pol.limit.round_down_to:g}",
        "startup_share": f"revenue × {pol.startup.revenue_share:g}",
        "fallback_share": f"revenue × {wc.share_of_revenue_fallback:g}",
        "turnover": wc.turnover_default or float("nan"),
    }


_rule_texts = _by_identity(_policy_texts)


class _RecView:
    """A batch's recommendation arrays as Python lists, read row by row by `record`."""

    def __init__(self, recs: Recommendations):
        self.recs = recs
        b, pol = recs.b, recs.policy
        self.policy, self.texts = pol, _rule_texts(pol)
        self.decision, self.rule = recs.decision.tolist(), recs.decision_rule.tolist()
        self.basis, self.stage, self.grade = recs.basis.tolist(), recs.stage.tolist(), recs.grade.tolist()
        self.limit, self.base, self.factor = recs.limit.tolist(), recs.base.tolist(), recs.factor.tolist()
        self.after, self.cap, self.cap_rules = recs.after_factor.tolist(), recs.cap.tolist(), recs.cap_rules.tolist()
        self.segment = recs.segment.tolist()
        self.assumptions = recs.assumption_flags.tolist()
        self.products = recs.products.tolist()
        self.banks = recs.banks.tolist()
        self.conditions = [prod.all_of + prod.any_of for prod in pol.products]
        self.product_hits = [m.tolist() for m in recs.product_hits]
        self.rule_values = {name: np.asarray(v).tolist() for name, v in recs.rule_values.items()}
        self.b = {name: getattr(b, name).tolist() for name in (
            "revenue", "net_margin", "growth", "growth_observed", "need", "own_funds", "own_given", "existing_loans",
            "loans_given", "no_lender", "equity_2y", "ip_value", "ip_proxy", "conversion_value", "grants_proxy")}

    def record(self, i: int) -> dict[str, Any]:
        """The `recommendation` object of firm i (`Recommendation`'s field order)."""
        recs, pol = self.recs, self.policy
        rule = self.rule[i]
        rule_zh, _, rule_en = rule.partition(" / ")  # the Chinese part never holds " / "
        basis = self.basis[i]
        basis_zh, basis_en = _BASIS_TEXT[basis]
        texts = recs.assumption_texts
        return {
            "decision": self.decision[i],
            "decision_rule": rule,
            "decision_rule_zh": rule_zh,
            "decision_rule_en": rule_en,
            "segment": self._segment(i) if any(self.segment[i]) else [],
            "limit": self.limit[i],
            "unit": "万元",
            "limit_basis": basis,
            "limit_basis_zh": basis_zh,
            "limit_basis_en": basis_en,
            "limit_steps": self._steps(i),
            "assumptions": [{"code": c, "text_zh": texts[c][0], "text_en": texts[c][1]}
                            for c, used in zip(ASSUMPTION_CODES, self.assumptions[i]) if used],
            "products": self._products(i),
            "joint_loan": self._joint(i) if self.banks[i] >= 2 else None,
            "policy_version": pol.policy_version,
            "policy_fingerprint": pol.fingerprint,
        }

    def _segment(self, i: int) -> list[dict[str, Any]]:
        """The segment rules firm i falls foul of, each with the firm's values."""
        recs = self.recs
        return [{"code": rule.code, "rule": rule.rule, "text_zh": rule.text_zh, "text_en": rule.text_en,
                 "values": {c.field: _value(recs.segment_values[c.field].item(i)) for c in rule.any_of}}
                for rule, hit in zip(self.policy.segment, self.segment[i]) if hit]

    def _steps(self, i: int) -> list[dict[str, Any]]:
        """The arithmetic of firm i's limit, one step per line, in the order it was computed."""
        texts, b, basis = self.texts, self.b, self.basis[i]
        base = self.base[i]
        if basis == "working_capital":
            out = [
                _step("revenue", "Revenue, latest year", "上年度营业收入", b["revenue"][i], "revenue_y0"),
                _step("net_margin", "Net margin", "销售利润率", b["net_margin"][i], "net_profit_y0 / revenue_y0, floored at 0"),
                _step("expected_growth", "Expected revenue growth", "预计销售收入增长率", b["growth"][i],
                      texts["growth"] if b["growth_observed"][i] else "policy expected_growth_default"),
                _step("turnover", "Working-capital turnover", "营运资金周转次数", float(texts["turnover"]),
                      "policy working_capital.turnover_default"),
                _step("working_capital_need", "Working-capital need", "营运资金量", b["need"][i],
                      "revenue × (1 − net margin) × (1 + expected growth) / turnover"),
                _step("own_funds", "Less own funds", "减：自有资金", -b["own_funds"][i],
                      texts["own_funds"] if b["own_given"][i] else texts["own_funds_assumed"]),
                _step("existing_loans", "Less existing bank loans", "减：现有银行借款", -b["existing_loans"][i],
                      texts["loans"] if b["loans_given"][i] else texts["loans_none"] if b["no_lender"][i]
                      else texts["loans_assumed"]),
                _step("basis", "Limit basis", "测算基础", base, "need − own funds − existing loans, floored at 0"),
            ]
        elif basis == "revenue_share":
            share = texts["startup_share"] if self.stage[i] == "startup" else texts["fallback_share"]
            out = [_step("revenue", "Revenue, latest year", "上年度营业收入", b["revenue"][i], "revenue_y0"),
                   _step("basis", "Limit basis", "测算基础", base, share)]
        elif basis == "equity":
            out = [_step("equity_raised_2y", "Equity raised in 2 years", "近两年股权融资额", b["equity_2y"][i], "equity_raised_2y"),
                   _step("basis", "Limit basis", "测算基础", base, texts["equity"])]
        elif basis == "ip_pledge":
            out = [_step("ip_value", "IP value", "知识产权价值", b["ip_value"][i],
                         "per-patent proxy" if b["ip_proxy"][i] else "ip_appraised_value"),
                   _step("basis", "Limit basis", "测算基础", base, texts["ip_pledge"])]
        elif basis == "tech_transfer":
            out = [_step("conversion_value", "Conversion contract value", "成果转化合同金额", b["conversion_value"][i],
                         "gov_grants_3y" if b["grants_proxy"][i] else "conversion_contract_value"),
                   _step("basis", "Limit basis", "测算基础", base, texts["tech_transfer"])]
        else:
            out = [_step("basis", "Limit basis", "测算基础", 0.0,
                         "no revenue, recent equity, patents or conversion contract: nothing to lend against")]
        after, cap, decision = self.after[i], self.cap[i], self.decision[i]
        out.append(_step("grade_factor", "Grade factor", "评级系数", self.factor[i], f"grade_factors.{self.grade[i]}"))
        out.append(_step("after_grade_factor", "Basis × grade factor", "测算基础×评级系数", after, "basis × grade factor"))
        out.append(_step("cap", "Cap", "上限", cap, self.cap_rules[i] + (" — applied" if after > cap else " — not binding")))
        if decision in ("decline", "outside_segment"):
            out.append(_step("limit", "Limit", "建议额度", 0.0, f"{decision}: no limit"))
        else:
            out.append(_step("limit", "Limit", "建议额度", self.limit[i], texts["limit"]))
        return out

    def _products(self, i: int) -> list[dict[str, Any]]:
        """Listed products of firm i (limit > 0 each), with the conditions that made it eligible and its sizing."""
        recs, eligible = self.recs, self.products[i]
        if not any(eligible):
            return []
        out = []
        factor = self.factor[i]
        hits_of, values_of = self.product_hits, self.rule_values
        for p, prod in enumerate(self.policy.products):
            if not eligible[p]:
                continue
            held = [f"{c.description} (firm: {_show(values_of[c.field][i])})"
                    for c, hit in zip(self.conditions[p], hits_of[p][i]) if hit]
            if prod.sizing == "limit":
                sizing = "企业授信额度 / the firm's limit"
            else:
                zh, en = _SIZING_TEXT[prod.sizing]
                base, cap = recs.product_bases[i, p].item(), recs.product_caps[i, p].item()
                sizing = (f"{zh} {base:g} × 评级系数 {factor:g}，上限 {cap:g} / "
                          f"{en} {base:g} × grade factor {factor:g}, cap {cap:g}")
            out.append({"code": prod.code, "name_zh": prod.name_zh, "name_en": prod.name_en,
                        "limit": recs.product_limits[i, p].item(), "sizing": sizing, "rules": held})
        if eligible[-1]:
            jl = self.policy.joint_loan
            zh, en = recs.joint_reason(i)
            out.append({"code": jl.code, "name_zh": jl.name_zh, "name_en": jl.name_en, "limit": self.limit[i],
                        "sizing": _JOINT_SIZING, "rules": [f"{zh} / {en}"]})
        return out

    def _joint(self, i: int) -> dict[str, Any] | None:
        recs = self.recs
        shares = recs.shares(i)
        if not shares:
            return None
        total = self.limit[i]
        zh, en = recs.joint_reason(i)
        return {"banks": len(shares), "kind": JOINT_KINDS[int(recs.joint_kind[i])],
                "single_bank_appetite": self.policy.joint_loan.single_bank_appetite,
                "single_bank_cap": recs.single_cap[i].item(), "joint_cap": recs.joint_cap[i].item(),
                "reason_zh": zh, "reason_en": en,
                "shares": [{"bank": k + 1, "role": "lead" if k == 0 else "participant", "amount": s,
                            "share": round(s / total, 4)} for k, s in enumerate(shares)]}


def recommendation(recs: Recommendations, i: int) -> dict[str, Any]:
    """Firm i's `recommendation` object as plain data (what `Recommendation` validates)."""
    return _RecView(recs).record(i)


# ------------------------------------------------------------------------------------------
# What-if and next grade
# ------------------------------------------------------------------------------------------
def _num(v: float) -> float | None:
    return None if v != v else v


def _side(batch: ScoreBatch, view: _View, i: int) -> dict[str, Any]:
    rec = view.recommendations.record(i)  # type: ignore[union-attr]  # Scorer.score attaches them
    return {"score": view.score[i], "grade": batch.grade[i], "pd": view.pd[i], "decision": rec["decision"],
            "limit": rec["limit"], "products": [p["code"] for p in rec["products"]],
            "knockouts": [k for k in batch.knockout_codes()[i].split(";") if k], "recommendation": rec}


def _what_if_data(w: WhatIf) -> dict[str, Any]:
    """Old beside new (`WhatIfResult`'s field order): score, grade, limit, the points moved per dimension and
    indicator, the changes and the changed profile."""
    batch, before, after = w.batch, w.before, w.after
    view = _view(batch)
    points = view.points
    dims = [{"key": key, "label_zh": DIMENSIONS[key][0], "label_en": DIMENSIONS[key][1],
             "before": points[before][d], "after": points[after][d],
             "points": round(points[after][d] - points[before][d], 2)}
            for d, key in enumerate(DIMENSION_KEYS)]
    moved = (batch.points[after] - batch.points[before]).tolist()
    values_before, values_after = batch.values[before].tolist(), batch.values[after].tolist()
    indicators = [{"code": ind.code, "indicator": ind.key, "dimension": ind.dimension, "label_zh": ind.label_zh,
                   "label_en": ind.label_en, "before": _num(values_before[f]), "after": _num(values_after[f]),
                   "points": round(moved[f], 2)}
                  for f, ind in enumerate(INDICATORS) if abs(moved[f]) >= 0.005]
    indicators.sort(key=lambda r: -abs(r["points"]))
    return {
        "before": _side(batch, view, before),
        "after": _side(batch, view, after),
        "score_change": round(view.score[after] - view.score[before], 2),
        "clip_points_change": round(view.clip[after] - view.clip[before], 2),
        "dimensions": dims,
        "indicators": indicators,
        "model_version": batch.model_version,
        "policy_version": batch.recommendations.policy.policy_version,  # type: ignore[union-attr]
        "firm_id": w.firm_id,
        "changes": [{"field": m.field, "change": m.change, "from": m.before, "to": m.after} for m in w.changes],
        "changed_profile": w.changed_profile,
    }


def what_if_result(w: WhatIf) -> WhatIfResult:
    """`models.whatif.what_if`'s outcome as the API's answer."""
    return WhatIfResult.model_validate(_what_if_data(w))


def next_grade_result(n: NextGrade) -> NextGradeResult:
    """`NextGradeSearch.run`'s outcome as the API's answer."""
    return NextGradeResult.model_validate({
        "firm_id": n.firm_id,
        "lifecycle_stage": n.stage,
        "current": {"score": n.score, "grade": n.grade, "pd": n.pd},
        "knockouts": n.knockouts,
        "max_changes": n.max_changes,
        "policy_version": n.policy_version,
        "model_version": n.model_version,
        "reachable": n.reachable,
        "target_grade": n.target_grade,
        "target_pd_below": n.target_pd_below,
        "points_needed": n.points_needed,
        "candidates_scored": n.candidates_scored,
        "steps": [{"field": s.field, "label_zh": s.label_zh, "label_en": s.label_en, "change": s.change,
                   "changes": [{"field": m.field, "from": m.before, "to": m.after} for m in s.moves],
                   "points": s.points, "grade_after": s.grade_after} for s in n.steps],
        "changes": n.changes,
        "result": None if n.result is None else _what_if_data(n.result),
        "levers": [{"field": lv.field, "label_zh": lv.label_zh, "label_en": lv.label_en, "status": lv.status,
                    "reason_zh": lv.reason_zh, "reason_en": lv.reason_en} for lv in n.levers],
        "message": n.message,
    })
