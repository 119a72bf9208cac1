"""Credit recommendation per firm: segment, decision, limit with its arithmetic, products, joint-loan split.

Vectorised over a ScoreBatch and the clean columns it was scored from; every figure is produced by
a rule of the policy file and the record lists those rules (domain brief §5). Money in 万元.
Order of the checks: the product segment (科技型中小企业 size test and the bank's own rules), then
knock-outs (facts of the credit record), then the grade bands, then the limit. `Scorer` attaches a
recommendation to every batch it scores: `ScoreBatch.columns()` appends RECOMMENDATION_COLUMNS; the
API's `recommendation` object is shaped from these arrays at the service edge (service/api/answers.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from features.clean import CleanColumns
from features.stage import STAGES
from models.knockouts import knockout_matrix
from models.policy import Policy
from models.rules import isin, positions, rule_columns
from models.scaling import GRADES



class Scored(Protocol):
    """What a recommendation reads of a scored batch (models.scoring.ScoreBatch has it; this module does not
    import scoring, which attaches recommendations to its batches)."""

    index: Any  # the rows' labels (features.clean.CleanColumns.index)
    grade: np.ndarray
    score: np.ndarray
    pd: np.ndarray
    stage: np.ndarray
    stages: Any  # features.stage.StageAssessment | None: limit_stage is the stricter stage on a conflict
    knockouts: np.ndarray  # (n, K) bool
    insufficient: np.ndarray | None

    def __len__(self) -> int: ...

    def knockout_codes(self) -> np.ndarray: ...

# The limit's arithmetic as numbers: limit = min(limit_basis_amount × grade_factor, limit_cap) rounded down.
RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "decision", "decision_rule", "segment_rules", "limit", "limit_basis", "limit_basis_amount", "grade_factor",
    "limit_cap", "limit_cap_rule", "limit_assumptions", "products", "product_limits", "joint_loan_banks",
    "joint_loan_shares", "joint_loan_reason", "policy_version",
)
_MONEY_FIELDS = ("revenue_y0", "revenue_y1", "net_profit_y0", "total_liabilities", "equity_raised_2y",
                 "qualification_tier", "own_funds", "bank_loans_outstanding", "lender_count", "ip_appraised_value",
                 "invention_patents_granted", "latest_round_amount", "conversion_contract_value", "gov_grants_3y")
# Conservative bases used when a fact is not given: said in the answer (code, 中文, English).
_ASSUMPTIONS = {
    "own_funds": ("未提供自有资金：按营运资金需求的 {:g}% 视为企业自筹",
                  "own funds not given: the firm is taken to fund {:g}% of its need itself"),
    "loans_share": ("未提供银行借款余额：按营运资金需求的 {:g}% 计(不超过负债总额)",
                    "bank loans outstanding not given: taken as {:g}% of the need (at most the liabilities)"),
    "loans_none": ("未提供银行借款余额，授信银行家数为0：按0计",
                   "bank loans outstanding not given and no lender reported: taken as 0"),
    "ip_proxy": ("未提供知识产权评估价值：按每件发明专利 {:g} 万元估算(最多 {:d} 件)",
                 "no IP appraisal given: {:g} 万元 per granted invention patent as a proxy (at most {:d})"),
    "round_proxy": ("未提供最近一轮融资金额：按近两年股权融资额的 {:g}% 计",
                    "latest round's amount not given: taken as {:g}% of the equity raised in 2 years"),
    "grants_proxy": ("未提供成果转化合同金额：按近三年政府科技补助计",
                     "no conversion contract value given: the 3-year government grants are used"),
}

ASSUMPTION_CODES: list[str] = list(_ASSUMPTIONS)


def _nz(x: np.ndarray) -> np.ndarray:
    """Missing amounts count as 0 where the formula subtracts them."""
    return np.where(np.isnan(x), 0.0, x)


def _pos(x: np.ndarray) -> np.ndarray:
    """Amount where positive, else 0 (NaN included)."""
    return np.where(x > 0, x, 0.0)


@dataclass
class Bases:
    """Every basis a limit can be sized on, row-aligned (万元, 0 when the basis does not apply)."""

    revenue: np.ndarray
    net_margin: np.ndarray
    growth: np.ndarray
    growth_observed: np.ndarray  # bool: last year's growth was used (else the policy default)
    need: np.ndarray
    own_funds: np.ndarray
    own_given: np.ndarray
    existing_loans: np.ndarray
    loans_given: np.ndarray
    no_lender: np.ndarray
    working_capital: np.ndarray
    formula_ok: np.ndarray
    equity_2y: np.ndarray
    revenue_share: np.ndarray     # by stage: startup.revenue_share or working_capital.share_of_revenue_fallback
    ip_value: np.ndarray
    ip_proxy: np.ndarray          # bool: per-patent proxy used
    ip_pledge: np.ndarray
    conversion_value: np.ndarray
    grants_proxy: np.ndarray      # bool: grants used for lack of a contract
    tech_transfer: np.ndarray
    round_amount: np.ndarray
    round_proxy: np.ndarray       # bool: the 2-year equity stood in for the round's amount
    round_share: np.ndarray


def _bases(cols: dict[str, np.ndarray], startup: np.ndarray, policy: Policy) -> Bases:
    """Working-capital need with its deductions, and the alternative bases (vectorised)."""
    wc, sz = policy.working_capital, policy.sizing
    revenue, revenue_1 = cols["revenue_y0"], cols["revenue_y1"]
    with np.errstate(all="ignore"):
        margin = np.where(revenue > 0, cols["net_profit_y0"] / revenue, np.nan)
        observed = np.where(revenue_1 > 0, revenue / revenue_1 - 1.0, np.nan)
    growth_observed = wc.use_observed_growth & ~np.isnan(observed)
    growth = np.where(growth_observed, np.clip(observed, 0.0, wc.expected_growth_max), wc.expected_growth_default)
    margin_used = np.clip(margin, 0.0, 0.99)  # a loss adds no need; a margin of 1 would zero it
    need = revenue * (1.0 - margin_used) * (1.0 + growth) / (wc.turnover_default or np.nan)
    need0 = _nz(need)
    own_given = ~np.isnan(cols["own_funds"])
    own = np.where(own_given, cols["own_funds"], need0 * wc.own_funds_share_of_need)
    loans_given = ~np.isnan(cols["bank_loans_outstanding"])
    no_lender = cols["lender_count"] == 0
    liabilities = np.where(np.isnan(cols["total_liabilities"]), np.inf, cols["total_liabilities"])
    estimate = np.minimum(need0 * wc.existing_loans_share_of_need, liabilities)
    loans = np.where(loans_given, cols["bank_loans_outstanding"], np.where(no_lender, 0.0, estimate))
    formula_ok = (revenue > 0) & ~np.isnan(need)
    share = np.where(startup, policy.startup.revenue_share, wc.share_of_revenue_fallback)

    granted = cols["invention_patents_granted"]
    appraised = cols["ip_appraised_value"]
    ip_proxy = np.isnan(appraised) & (granted >= 1)
    ip_value = np.where(~np.isnan(appraised), appraised,
                        np.where(ip_proxy, np.minimum(_nz(granted), sz.ip_proxy_max_patents) * sz.ip_value_per_patent, 0.0))
    contract = cols["conversion_contract_value"]
    grants_proxy = ~(contract > 0) & (cols["gov_grants_3y"] > 0)
    conversion = np.where(contract > 0, contract, np.where(grants_proxy, cols["gov_grants_3y"], 0.0))
    round_proxy = np.isnan(cols["latest_round_amount"]) & (cols["equity_raised_2y"] > 0)
    round_amount = np.where(~np.isnan(cols["latest_round_amount"]), cols["latest_round_amount"],
                            np.where(round_proxy, _nz(cols["equity_raised_2y"]) * sz.round_amount_from_equity_2y, 0.0))
    return Bases(revenue, margin_used, growth, growth_observed, need0, own, own_given, loans, loans_given,
                 no_lender, np.maximum(need0 - own - loans, 0.0), formula_ok, cols["equity_raised_2y"],
                 _pos(revenue) * share, ip_value, ip_proxy, ip_value * sz.ip_pledge_rate, conversion, grants_proxy,
                 conversion * sz.conversion_share, round_amount, round_proxy, round_amount * sz.round_share)


# Categories are computed as small integer codes (cheap comparisons for one firm or a million) and
# turned into their labels once, by indexing these arrays.
_BASIS_EQUITY, _BASIS_NONE, _BASIS_WC, _BASIS_REVENUE, _BASIS_IP, _BASIS_TT = range(6)
_BASIS_NAMES = np.array(["equity", "none", "working_capital", "revenue_share", "ip_pledge", "tech_transfer"],
                        dtype=object)
_STAGES = STAGES  # code 3: any other stage (capped as growth)
_APPROVE, _REFER, _DECLINE, _OUTSIDE = range(4)
_DECISIONS = np.array(["approve", "refer", "decline", "outside_segment"], dtype=object)
_JOINT_NONE, _JOINT_FIRST, _JOINT_LIFT, _JOINT_STAR, _JOINT_SPLIT = range(5)
JOINT_KINDS = ("none", "first_loan", "cap_lift", "star", "appetite_split")  # by joint_kind code


def _choose_basis(b: Bases, startup: np.ndarray, equity_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Basis code and amount: the stage's own basis, else the largest alternative (revenue, IP, tech transfer)."""
    alternatives = np.stack([np.where(startup, b.revenue_share, 0.0), b.ip_pledge, b.tech_transfer], axis=1)
    best = np.argmax(alternatives, axis=1)
    best_amount = alternatives[np.arange(len(best)), best]
    alt_code = np.where(best_amount > 0, np.array([_BASIS_REVENUE, _BASIS_IP, _BASIS_TT])[best], _BASIS_NONE)
    own = np.where(startup, np.where(b.equity_2y > 0, _BASIS_EQUITY, -1),
                   np.where(b.formula_ok, _BASIS_WC, np.where(b.revenue > 0, _BASIS_REVENUE, -1)))
    code = np.where(own >= 0, own, alt_code)
    amount = np.select([code == _BASIS_EQUITY, code == _BASIS_WC, code == _BASIS_REVENUE, code == _BASIS_IP,
                        code == _BASIS_TT],
                       [_nz(b.equity_2y) * equity_share, b.working_capital, b.revenue_share, b.ip_pledge, b.tech_transfer], 0.0)
    return code, amount


@dataclass
class Recommendations:
    """Row-aligned recommendation arrays for n firms, with the policy that produced them."""

    policy: Policy
    # The stages and grades the limits used, not the batch: it holds these recommendations, and a cycle
    # between the two would leave every scored batch for the garbage collector to free.
    stage: np.ndarray
    grade: np.ndarray
    decision: np.ndarray
    decision_rule: np.ndarray
    segment: np.ndarray   # (n, len(policy.segment)) bool: segment rules the firm falls foul of
    segment_values: dict[str, np.ndarray]
    basis: np.ndarray
    b: Bases
    base: np.ndarray
    factor: np.ndarray
    after_factor: np.ndarray
    single_cap: np.ndarray
    joint_cap: np.ndarray
    cap: np.ndarray       # the cap in effect (joint cap for a joint loan)
    star: np.ndarray
    limit: np.ndarray
    products: np.ndarray  # (n, len(policy.products) + 1) bool; last column = joint loan
    product_limits: np.ndarray  # (n, len(policy.products) + 1) 万元, 0 where not listed
    product_bases: np.ndarray   # (n, len(policy.products)) the amount each product is sized on
    product_caps: np.ndarray
    product_hits: list[np.ndarray]  # per product (n, conditions) bool: which conditions held
    rule_values: dict[str, np.ndarray]  # the values the product conditions read (shown beside each rule)
    banks: np.ndarray
    joint_kind: np.ndarray

    def __len__(self) -> int:
        return len(self.limit)

    # ---------------------------------------------------------------- CSV
    def product_codes(self) -> list[str]:
        return [p.code for p in self.policy.products] + [self.policy.joint_loan.code]

    def _joined(self, mask: np.ndarray, labels: list[str], values: np.ndarray | None = None) -> np.ndarray:
        """Per row, the labels whose column of `mask` holds, ';'-joined (with `:value` when given)."""
        out = np.full(len(self), "", dtype=object)
        for k, label in enumerate(labels):
            hit = mask[:, k]
            if not hit.any():
                continue
            if values is None:
                cell = np.full(hit.sum(), label, dtype=object)
            else:  # a comprehension over the listed rows formats faster than numpy's string ops
                cell = np.array([f"{label}:{v:g}" for v in values[hit, k].tolist()], dtype=object)
            out[hit] = np.where(out[hit] == "", cell, out[hit] + ";" + cell)
        return out

    def assumption_codes(self) -> np.ndarray:
        """Per row, the ';'-joined codes of the conservative bases used (see _ASSUMPTIONS)."""
        return self._assumption_cells

    @cached_property
    def _assumption_cells(self) -> np.ndarray:
        return self._joined(self.assumption_flags, ASSUMPTION_CODES)

    @cached_property
    def assumption_flags(self) -> np.ndarray:
        """(n, len(ASSUMPTION_CODES)) bool: the conservative bases each row's limit or products used."""
        b = self.b
        uses_wc = self.basis == "working_capital"
        flags = np.stack([uses_wc & ~b.own_given, uses_wc & ~b.loans_given & ~b.no_lender,
                          uses_wc & ~b.loans_given & b.no_lender, b.ip_proxy & self.product_limits_any("ip_pledge"),
                          b.round_proxy & self.product_limits_any("round_share"),
                          b.grants_proxy & self.product_limits_any("conversion")], axis=1)
        flags[:, 3] |= (self.basis == "ip_pledge") & b.ip_proxy
        flags[:, 5] |= (self.basis == "tech_transfer") & b.grants_proxy
        return flags

    def product_limits_any(self, sizing: str) -> np.ndarray:
        """Rows where a product sized on `sizing` is listed."""
        out = np.zeros(len(self), dtype=bool)
        for p, prod in enumerate(self.policy.products):
            if prod.sizing == sizing:
                out |= self.products[:, p]
        return out

    def columns(self) -> dict[str, Any]:
        """RECOMMENDATION_COLUMNS as numpy or Arrow arrays, to append after `ScoreBatch.columns()`."""
        codes = self.product_codes()
        shares = np.full(len(self), "", dtype=object)
        reasons = np.full(len(self), "", dtype=object)
        for i in np.flatnonzero(self.banks >= 2):  # joint loans only: a few rows
            shares[i] = ";".join(f"{s:g}" for s in self.shares(i))
            reasons[i] = self.joint_reason(i)[1]
        text = partial(pa.array, type=pa.string())
        return {
            "decision": text(self.decision),
            "decision_rule": text(self.decision_rule),
            "segment_rules": text(self._joined(self.segment, [r.code for r in self.policy.segment])),
            "limit": self.limit,
            "limit_basis": text(self.basis),
            "limit_basis_amount": np.round(self.base, 2),
            "grade_factor": self.factor,
            "limit_cap": self.cap,
            "limit_cap_rule": text(self.cap_rules),
            "limit_assumptions": text(self.assumption_codes()),
            "products": text(self._joined(self.products, codes)),
            "product_limits": text(self._joined(self.products, codes, self.product_limits)),
            "joint_loan_banks": self.banks,
            "joint_loan_shares": text(shares),
            "joint_loan_reason": text(reasons),
            "policy_version": pa.repeat(pa.scalar(self.policy.policy_version, pa.string()), len(self)),
        }

    @cached_property
    def cap_rules(self) -> np.ndarray:
        """The policy key of each row's cap, picked from a small table (single / joint / star × stage);
        computed once per batch: records read it row by row."""
        table = np.array([[f"caps.{s}" for s in _STAGES] + ["caps.growth"],
                          [f"joint_loan.caps.{s}" for s in _STAGES] + ["joint_loan.caps.growth"],
                          ["star.cap"] * 4], dtype=object)
        joint = self.banks >= 2
        kind = np.where(joint & self.star, 2, np.where(joint, 1, 0))
        return table[kind, positions(self.stage, _STAGES)]

    # ---------------------------------------------------------------- API
    def shares(self, i: int) -> list[float]:
        """Joint-loan amounts per bank, lead bank first (empty without a joint loan)."""
        banks = int(self.banks[i])
        if banks < 2:
            return []
        step = self.policy.limit.round_down_to
        units = int(round(self.limit[i] / step))
        q, r = divmod(units, banks)
        return [(q + (1 if b < r else 0)) * step for b in range(banks)]

    @cached_property
    def assumption_texts(self) -> dict[str, tuple[str, str]]:
        """Each conservative basis (code of `assumption_codes`) in Chinese and English, with the policy's figures."""
        wc, sz = self.policy.working_capital, self.policy.sizing
        args = {"own_funds": (wc.own_funds_share_of_need * 100,), "loans_share": (wc.existing_loans_share_of_need * 100,),
                "loans_none": (), "ip_proxy": (sz.ip_value_per_patent, sz.ip_proxy_max_patents),
                "round_proxy": (sz.round_amount_from_equity_2y * 100,), "grants_proxy": ()}
        return {c: (zh.format(*args[c]), en.format(*args[c])) for c, (zh, en) in _ASSUMPTIONS.items()}

    def joint_reason(self, i: int) -> tuple[str, str]:
        """Why the limit is shared, in Chinese and English."""
        jl, kind = self.policy.joint_loan, int(self.joint_kind[i])
        banks, appetite = int(self.banks[i]), jl.single_bank_appetite
        single, joint, after = self.single_cap.item(i), self.joint_cap.item(i), self.after_factor.item(i)
        if kind == _JOINT_FIRST:
            return (f"初创企业联合首贷(首贷难)：额度需求 {after:g} 超过单一银行上限 {single:g}，由 {banks} 家银行按份额共担风险，"
                    f"联合贷上限 {joint:g}",
                    f"joint first loan for a startup: the need {after:g} exceeds the single-bank cap {single:g}; "
                    f"{banks} banks share the risk by share, joint cap {joint:g}")
        if kind == _JOINT_STAR:
            return (f"明星项目(评级与资质达标)：额度需求 {after:g} 超过单一银行上限 {single:g}，联合贷上限 {joint:g}，"
                    f"每家银行不超过 {appetite:g}，共 {banks} 家",
                    f"star project: the need {after:g} exceeds the single-bank cap {single:g}; joint cap {joint:g}, "
                    f"each bank at most its appetite {appetite:g}: {banks} banks")
        if kind == _JOINT_LIFT:
            return (f"联合贷提高上限：额度需求 {after:g} 超过单一银行上限 {single:g}，联合贷上限 {joint:g}，"
                    f"每家银行不超过 {appetite:g}，共 {banks} 家",
                    f"joint loan lifts the cap: the need {after:g} exceeds the single-bank cap {single:g}; joint cap "
                    f"{joint:g}, each bank at most its appetite {appetite:g}: {banks} banks")
        return (f"额度 {self.limit.item(i):g} 超过单一银行风险偏好 {appetite:g}，由 {banks} 家银行分担",
                f"the limit {self.limit.item(i):g} exceeds one bank's appetite {appetite:g}: shared by {banks} banks")


def recommend(batch: Scored, clean: CleanColumns, policy: Policy, stage: np.ndarray | None = None) -> Recommendations:
    """Segment, decision, limit, products and joint-loan split for every scored firm.

    `clean` holds the clean columns the batch was scored from (row-aligned). `stage` (optional) is the
    stage the caps and bases use (e.g. a stricter effective stage); the batch's own stage otherwise.
    """
    if stage is None:  # a declared stage the data contradicts: the stricter of the two sets basis and cap
        stage = batch.stage if batch.stages is None else batch.stages.limit_stage
    stage = np.asarray(stage, dtype=object)
    cols = {f: clean[f] for f in _MONEY_FIELDS}
    grade_idx = positions(batch.grade, GRADES)  # best 0; len(GRADES) for an unknown grade
    stage_idx = positions(stage, _STAGES)
    startup = stage_idx == 0
    b = _bases(cols, startup, policy)
    basis_code, base = _choose_basis(b, startup, policy.startup.equity_share)
    factor = policy.grade_factors.at(grade_idx)
    after = base * factor
    star = (grade_idx <= GRADES.index(policy.star.min_grade)) & isin(cols["qualification_tier"], tuple(policy.star.tiers))
    caps, jl = policy.caps, policy.joint_loan
    single_cap = np.array([caps.startup, caps.growth, caps.mature, caps.growth])[stage_idx]
    joint_cap = np.where(star, policy.star.cap,
                         np.array([jl.caps.startup, jl.caps.growth, jl.caps.mature, jl.caps.growth])[stage_idx])
    step = policy.limit.round_down_to
    single = _round_down(np.minimum(after, single_cap), step)

    seg_fields = {c.field for r in policy.segment for c in r.any_of}
    segment = knockout_matrix(clean, policy.segment)
    outside = segment.any(axis=1)
    knocked = batch.knockouts.any(axis=1) if batch.knockouts.size else np.zeros(len(batch), dtype=bool)
    by_grade = _by_grade(grade_idx, policy)
    approve = (by_grade == _APPROVE) & ~knocked & ~outside

    first_loan = cols["lender_count"] <= jl.startup_first_loan_max_lenders  # missing is not a first loan
    above = after > single_cap
    joint = approve & ((above & (~startup | first_loan)) | (single > jl.single_bank_appetite))
    limit = np.where(joint, _round_down(np.minimum(after, joint_cap), step), single)
    joint &= limit > 0
    kind = np.select([~joint, ~above, startup & ~star, star], [_JOINT_NONE, _JOINT_SPLIT, _JOINT_FIRST, _JOINT_STAR],
                     _JOINT_LIFT)
    banks = np.where(joint, np.maximum(jl.min_banks, np.ceil(limit / jl.single_bank_appetite - 1e-9)), 0).astype(np.int64)
    cap = np.where(joint, joint_cap, single_cap)

    decision, rule = _decide(batch, grade_idx, by_grade, limit, basis_code, knocked, segment, policy)
    closed = (decision == _DECISIONS[_DECLINE]) | (decision == _DECISIONS[_OUTSIDE])
    limit = np.where(closed, 0.0, limit)
    products, hits, values, plimits, pbases, pcaps = _products(batch, clean, limit, cap, factor, b, decision, policy)
    products[:, -1] = joint & (decision == "approve")
    plimits[:, -1] = np.where(products[:, -1], limit, 0.0)
    return Recommendations(policy, stage, batch.grade, decision, rule, segment,
                           rule_columns(clean, seg_fields), _BASIS_NAMES[basis_code], b,
                           base, factor, after, single_cap, joint_cap, cap, star, limit, products, plimits, pbases,
                           pcaps, hits, values, banks, kind)


def _round_down(x: np.ndarray, step: float) -> np.ndarray:
    return np.floor(x / step + 1e-9) * step


def _by_grade(grade_idx: np.ndarray, policy: Policy) -> np.ndarray:
    d = policy.decision
    approve_idx, refer_idx = GRADES.index(d.approve_min_grade), GRADES.index(d.refer_min_grade)
    return np.where(grade_idx <= approve_idx, _APPROVE, np.where(grade_idx <= refer_idx, _REFER, _DECLINE))


def _decide(batch: Scored, grade_idx: np.ndarray, by_grade: np.ndarray, limit: np.ndarray,
            basis_code: np.ndarray, knocked: np.ndarray, segment: np.ndarray,
            policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Decision with the rule that set it ("中文 / English", the Chinese part free of " / "): segment
    first, then knock-outs, then grade bands, then the limit."""
    d = policy.decision
    approve_idx, refer_idx = GRADES.index(d.approve_min_grade), GRADES.index(d.refer_min_grade)
    # The rule text depends on the grade only: one text per grade, picked by index (no per-row formatting).
    zh_texts = [f"评级 {g} 不低于准入等级 {d.approve_min_grade}：批准" if k <= approve_idx else
                f"评级 {g} 低于 {d.approve_min_grade}、不低于 {d.refer_min_grade}：转人工审查" if k <= refer_idx else
                f"评级 {g} 低于 {d.refer_min_grade}：拒绝" for k, g in enumerate(GRADES)]
    en_texts = [f"grade {g} at least decision.approve_min_grade {d.approve_min_grade}" if k <= approve_idx else
                f"grade {g} below {d.approve_min_grade}, at least decision.refer_min_grade {d.refer_min_grade}"
                if k <= refer_idx else f"grade {g} below decision.refer_min_grade {d.refer_min_grade}"
                for k, g in enumerate(GRADES)]
    zh = np.array(zh_texts + ["评级未知"], dtype=object)[grade_idx]
    en = np.array(en_texts + ["grade unknown"], dtype=object)[grade_idx]
    no_limit = (by_grade == _APPROVE) & (limit <= 0)
    code = np.where(knocked, _DECLINE, np.where(no_limit, _REFER, by_grade))
    if no_limit.any():
        none = basis_code[no_limit] == _BASIS_NONE
        zh[no_limit] = zh[no_limit] + np.where(none, "；但无额度测算基础→转人工", "；但按政策额度为0→转人工").astype(object)
        en[no_limit] = en[no_limit] + np.where(none, "; but no basis for a limit → refer",
                                               "; but the policy gives a limit of 0 → refer").astype(object)
    # Too little data in a dimension (models.evidence): refer to collect it, whatever the grade says.
    insufficient = (~knocked & batch.insufficient) if batch.insufficient is not None else np.zeros(len(batch), dtype=bool)
    if insufficient.any():
        code = np.where(insufficient, _REFER, code)
        zh[insufficient] = "资料不足，转人工审查(维度数据覆盖率低于下限)"
        en[insufficient] = "refer: insufficient data (dimension coverage below the minimum)"
    if knocked.any():
        codes = batch.knockout_codes()[knocked]
        zh[knocked] = "否决项：" + codes
        en[knocked] = "knock-out: " + codes
    outside = segment.any(axis=1)
    if outside.any():
        code = np.where(outside, _OUTSIDE, code)
        codes = np.full(len(zh), "", dtype=object)
        for k, r in enumerate(policy.segment):
            hit = segment[:, k]
            codes[hit] = np.where(codes[hit] == "", f"{r.code} ({r.rule})", codes[hit] + f"; {r.code} ({r.rule})")
        zh[outside] = "不属于产品客群(评分仅供参考)：" + codes[outside]
        en[outside] = "outside the product segment (score for information): " + codes[outside]
    return _DECISIONS[code], zh + " / " + en

def _product_basis(sizing: str, b: Bases, limit: np.ndarray) -> np.ndarray:
    return {"limit": limit, "ip_pledge": b.ip_pledge, "conversion": b.tech_transfer, "round_share": b.round_share}[sizing]

def _products(batch: Scored, clean: CleanColumns, limit: np.ndarray, cap: np.ndarray, factor: np.ndarray, b: Bases,
              decision: np.ndarray, policy: Policy
              ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Eligibility and limit of each product (listed only with a limit > 0; last column: the joint loan)."""
    fields = {c.field for p in policy.products for c in p.all_of + p.any_of}
    cols = rule_columns(clean, fields)
    cols |= {"grade": batch.grade, "score": batch.score, "pd": batch.pd, "stage": batch.stage, "limit": limit}
    n, k_products = len(batch), len(policy.products)
    eligible = np.zeros((n, k_products + 1), dtype=bool)
    plimits = np.zeros((n, k_products + 1))
    pbases, pcaps = np.zeros((n, k_products)), np.zeros((n, k_products))
    hits: list[np.ndarray] = []
    open_ = (decision == "approve") | (decision == "refer")
    step = policy.limit.round_down_to
    for p, prod in enumerate(policy.products):
        conds = prod.all_of + prod.any_of
        m = np.empty((n, len(conds)), dtype=bool)
        for j, c in enumerate(conds):
            m[:, j] = c.evaluate(cols)
        k = len(prod.all_of)
        ok = m[:, :k].all(axis=1) & (m[:, k:].any(axis=1) if prod.any_of else True)
        base = _product_basis(prod.sizing, b, limit)
        pcap = np.minimum(cap, prod.cap) if prod.cap else cap
        sized = limit if prod.sizing == "limit" else _round_down(np.minimum(base * factor, pcap), step)
        eligible[:, p] = open_ & ok & (sized > 0)
        plimits[:, p] = np.where(eligible[:, p], sized, 0.0)
        pbases[:, p], pcaps[:, p] = base, pcap
        hits.append(m)
    return eligible, hits, cols, plimits, pbases, pcaps
