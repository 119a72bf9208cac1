"""Credit recommendation per firm: decision, limit with its arithmetic, products, joint-loan split.

Vectorised over a ScoreBatch and the clean frame it was scored from; every figure is produced by
a rule of the policy file and the record lists those rules (domain brief §5). Money in 万元.
`Scorer` attaches one to every batch it scores: `ScoreBatch.columns()` appends
RECOMMENDATION_COLUMNS and `ScoreBatch.record(i)` adds the `recommendation` object.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.stage import STAGES
from models.policy import Policy
from models.rules import Columns, columns_of, isin, positions, rule_columns
from models.scaling import GRADES

if TYPE_CHECKING:  # scoring attaches recommendations to its batches, so it imports this module
    from models.scoring import ScoreBatch

# The limit's arithmetic as numbers: limit = min(limit_basis_amount × grade_factor, limit_cap) rounded down.
RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "decision", "decision_rule", "limit", "limit_basis", "limit_basis_amount", "grade_factor", "limit_cap",
    "limit_cap_rule", "products", "joint_loan_banks", "joint_loan_shares", "policy_version",
)
_MONEY_FIELDS = ("revenue_y0", "revenue_y1", "net_profit_y0", "cash", "total_liabilities",
                 "equity_raised_2y", "qualification_tier")
_BASIS_TEXT = {
    "working_capital": ("营运资金测算", "working-capital need"),
    "revenue_share": ("营业收入比例", "share of revenue"),
    "equity": ("近两年股权融资比例", "share of equity raised in 2 years"),
    "none": ("无测算基础", "no basis"),
}


def _nz(x: np.ndarray) -> np.ndarray:
    """Missing amounts count as 0 where the formula subtracts them."""
    return np.where(np.isnan(x), 0.0, x)


@dataclass
class Recommendations:
    """Row-aligned recommendation arrays for n firms, with the policy that produced them."""

    policy: Policy
    # The batch's stages and grades, not the batch: it holds these recommendations, and a cycle
    # between the two would leave every scored batch for the garbage collector to free.
    stage: np.ndarray
    grade: np.ndarray
    decision: np.ndarray
    decision_rule: np.ndarray
    basis: np.ndarray
    revenue: np.ndarray
    net_margin: np.ndarray
    growth: np.ndarray
    growth_observed: np.ndarray  # bool: last year's growth was used (else the policy default)
    need: np.ndarray
    own_funds: np.ndarray
    existing_loans: np.ndarray
    equity_2y: np.ndarray
    base: np.ndarray
    factor: np.ndarray
    after_factor: np.ndarray
    cap: np.ndarray
    star: np.ndarray
    limit: np.ndarray
    products: np.ndarray  # (n, len(policy.products) + 1) bool; last column = joint loan
    product_hits: list[np.ndarray]  # per product (n, conditions) bool: which conditions held
    rule_values: dict[str, np.ndarray]  # the values the product conditions read (shown beside each rule)
    banks: np.ndarray

    def __len__(self) -> int:
        return len(self.limit)

    # ---------------------------------------------------------------- CSV
    def product_codes(self) -> list[str]:
        return [p.code for p in self.policy.products] + [self.policy.joint_loan.code]

    def columns(self) -> dict[str, Any]:
        """RECOMMENDATION_COLUMNS as numpy or Arrow arrays, to append after `ScoreBatch.columns()`."""
        products = np.full(len(self), "", dtype=object)
        for p, code in enumerate(self.product_codes()):
            hit = self.products[:, p]
            products[hit] = np.where(products[hit] == "", code, products[hit] + ";" + code)
        shares = np.full(len(self), "", dtype=object)
        for i in np.flatnonzero(self.banks >= 2):  # joint loans only: a few rows
            shares[i] = ";".join(f"{s:g}" for s in self.shares(i))
        text = partial(pa.array, type=pa.string())
        return {
            "decision": text(self.decision),
            "decision_rule": text(self.decision_rule),
            "limit": self.limit,
            "limit_basis": text(self.basis),
            "limit_basis_amount": np.round(self.base, 2),
            "grade_factor": self.factor,
            "limit_cap": self.cap,
            "limit_cap_rule": text(np.where(self.star, "star.cap", "caps." + self.stage.astype(object))),
            "products": text(products),
            "joint_loan_banks": self.banks,
            "joint_loan_shares": text(shares),
            "policy_version": pa.repeat(pa.scalar(self.policy.policy_version, pa.string()), len(self)),
        }

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

    def record(self, i: int) -> dict[str, Any]:
        """The `recommendation` object of firm i."""
        pol = self.policy
        zh, en = _BASIS_TEXT[self.basis[i]]
        return {
            "decision": self.decision[i],
            "decision_rule": self.decision_rule[i],
            "limit": float(self.limit[i]),
            "unit": "万元",
            "limit_basis": self.basis[i],
            "limit_basis_zh": zh,
            "limit_basis_en": en,
            "limit_steps": self.steps(i),
            "products": self.products_of(i),
            "joint_loan": self._joint(i),
            "policy_version": pol.policy_version,
            "policy_fingerprint": pol.fingerprint,
        }

    @cached_property
    def _rule_texts(self) -> dict[str, str]:
        """The steps' rule texts that depend on the policy only, formatted once per batch."""
        pol, wc = self.policy, self.policy.working_capital
        return {
            "growth": "revenue_y0 / revenue_y1 − 1, clipped to [0, %g]" % wc.expected_growth_max,
            "own_funds": f"cash × {wc.own_funds_cash_share:g} (missing → 0)",
            "existing_loans": f"total_liabilities × {wc.existing_loans_liabilities_share:g} (missing → 0)",
            "revenue_share": f"revenue × {wc.share_of_revenue_fallback:g} (no net profit or no turnover for the formula)",
            "equity": f"equity_raised_2y × {pol.startup.equity_share:g}",
            "star": f"star firm (grade {pol.star.min_grade} or better, tier in {', '.join(pol.star.tiers)}): star.cap",
            "limit": f"min(amount, cap) rounded down to {pol.limit.round_down_to:g}",
        }

    def steps(self, i: int) -> list[dict[str, Any]]:
        """The arithmetic of firm i's limit, one step per line, in the order it was computed."""
        wc, texts = self.policy.working_capital, self._rule_texts
        out: list[dict[str, Any]] = []

        def add(key: str, en: str, zh: str, value: float, rule: str) -> None:
            v = float(value)  # plain float: numpy's scalar isnan costs more than the rest of the line
            out.append({"key": key, "label_en": en, "label_zh": zh,
                        "value": None if v != v else round(v, 4), "rule": rule})

        basis = self.basis[i]
        if basis == "working_capital":
            growth_rule = texts["growth"] if self.growth_observed.item(i) else "policy expected_growth_default"
            add("revenue", "Revenue, latest year", "上年度营业收入", self.revenue.item(i), "revenue_y0")
            add("net_margin", "Net margin", "销售利润率", self.net_margin.item(i), "net_profit_y0 / revenue_y0, floored at 0")
            add("expected_growth", "Expected revenue growth", "预计销售收入增长率", self.growth.item(i), growth_rule)
            add("turnover", "Working-capital turnover", "营运资金周转次数", wc.turnover_default or np.nan,
                "policy working_capital.turnover_default")
            add("working_capital_need", "Working-capital need", "营运资金量", self.need.item(i),
                "revenue × (1 − net margin) × (1 + expected growth) / turnover")
            add("own_funds", "Less own funds", "减：自有资金", -self.own_funds.item(i), texts["own_funds"])
            add("existing_loans", "Less existing loans", "减：现有流动资金贷款", -self.existing_loans.item(i),
                texts["existing_loans"])
            add("basis", "Limit basis", "测算基础", self.base.item(i), "need − own funds − existing loans, floored at 0")
        elif basis == "revenue_share":
            add("revenue", "Revenue, latest year", "上年度营业收入", self.revenue.item(i), "revenue_y0")
            add("basis", "Limit basis", "测算基础", self.base.item(i), texts["revenue_share"])
        elif basis == "equity":
            add("equity_raised_2y", "Equity raised in 2 years", "近两年股权融资额", self.equity_2y.item(i), "equity_raised_2y")
            add("basis", "Limit basis", "测算基础", self.base.item(i), texts["equity"])
        else:
            why = "no equity raised in 2 years" if self.stage[i] == "startup" else "no revenue"
            add("basis", "Limit basis", "测算基础", 0.0, f"{why}: nothing to lend against")
        add("grade_factor", "Grade factor", "评级系数", self.factor.item(i), f"grade_factors.{self.grade[i]}")
        after, cap = self.after_factor.item(i), self.cap.item(i)
        add("after_grade_factor", "Basis × grade factor", "测算基础×评级系数", after, "basis × grade factor")
        cap_rule = texts["star"] if self.star.item(i) else f"caps.{self.stage[i]}"
        add("cap", "Cap", "上限", cap, cap_rule + (" — applied" if after > cap else " — not binding"))
        if self.decision[i] == "decline":
            add("limit", "Limit", "建议额度", 0.0, "declined: no limit")
        else:
            add("limit", "Limit", "建议额度", self.limit.item(i), texts["limit"])
        return out

    def products_of(self, i: int) -> list[dict[str, Any]]:
        """Eligible products of firm i, each with the conditions that made it eligible."""
        out = []
        eligible = self.products[i].tolist()
        for p, prod in enumerate(self.policy.products):
            if not eligible[p]:
                continue
            hits = self.product_hits[p][i].tolist()
            held = [f"{c.description} (firm: {_show(self.rule_values[c.field].item(i))})"
                    for c, hit in zip(prod.all_of + prod.any_of, hits) if hit]
            out.append({"code": prod.code, "name_zh": prod.name_zh, "name_en": prod.name_en, "rules": held})
        if eligible[-1]:
            jl = self.policy.joint_loan
            out.append({"code": jl.code, "name_zh": jl.name_zh, "name_en": jl.name_en,
                        "rules": [f"limit {self.limit.item(i):g} > joint_loan.single_bank_appetite {jl.single_bank_appetite:g}"]})
        return out

    def _joint(self, i: int) -> dict[str, Any] | None:
        shares = self.shares(i)
        if not shares:
            return None
        total = float(self.limit[i])
        return {"banks": len(shares), "single_bank_appetite": self.policy.joint_loan.single_bank_appetite,
                "shares": [{"bank": b + 1, "role": "lead" if b == 0 else "participant", "amount": s,
                            "share": round(s / total, 4)} for b, s in enumerate(shares)]}


def _show(v: Any) -> str:
    """A rule value as an officer reads it (dates are float days in rule columns and never shown)."""
    if v is None or (isinstance(v, float) and v != v):  # NaN
        return "missing"
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


# Categories are computed as small integer codes (cheap comparisons for one firm or a million) and
# turned into their labels once, by indexing these arrays.
_BASIS_EQUITY, _BASIS_NONE, _BASIS_WC, _BASIS_REVENUE = range(4)
_BASIS_NAMES = np.array(["equity", "none", "working_capital", "revenue_share"], dtype=object)
_STAGES = STAGES  # code 3: any other stage (capped as growth)
_APPROVE, _REFER, _DECLINE = range(3)
_DECISIONS = np.array(["approve", "refer", "decline"], dtype=object)


def recommend(batch: ScoreBatch, clean: Columns, policy: Policy) -> Recommendations:
    """Decision, limit, products and joint-loan split for every scored firm.

    `clean` is the clean frame the batch was scored from (aligned by index) or its column mapping.
    """
    if isinstance(clean, pd.DataFrame) and not clean.index.equals(batch.index):
        clean = clean.loc[batch.index]
    cols = columns_of(clean, _MONEY_FIELDS)
    wc = policy.working_capital
    grade_idx = positions(batch.grade, GRADES)  # best 0; len(GRADES) for an unknown grade
    stage_idx = positions(batch.stage, _STAGES)
    startup = stage_idx == 0

    revenue, revenue_1 = cols["revenue_y0"], cols["revenue_y1"]
    with np.errstate(all="ignore"):
        margin = np.where(revenue > 0, cols["net_profit_y0"] / revenue, np.nan)
        observed = np.where(revenue_1 > 0, revenue / revenue_1 - 1.0, np.nan)
    growth_observed = wc.use_observed_growth & ~np.isnan(observed)
    growth = np.where(growth_observed, np.clip(observed, 0.0, wc.expected_growth_max), wc.expected_growth_default)
    margin_used = np.clip(margin, 0.0, 0.99)  # a loss adds no need; a margin of 1 would zero it
    turnover = wc.turnover_default or np.nan
    need = revenue * (1.0 - margin_used) * (1.0 + growth) / turnover
    own = _nz(cols["cash"]) * wc.own_funds_cash_share
    loans = _nz(cols["total_liabilities"]) * wc.existing_loans_liabilities_share
    has_revenue = revenue > 0
    formula_ok = has_revenue & ~np.isnan(need)
    equity = cols["equity_raised_2y"]
    basis_code = np.where(startup, np.where(equity > 0, _BASIS_EQUITY, _BASIS_NONE),
                          np.where(formula_ok, _BASIS_WC, np.where(has_revenue, _BASIS_REVENUE, _BASIS_NONE)))
    base = np.where(basis_code == _BASIS_EQUITY, _nz(equity) * policy.startup.equity_share,
                    np.where(basis_code == _BASIS_WC, np.maximum(_nz(need) - own - loans, 0.0),
                             np.where(basis_code == _BASIS_REVENUE, _nz(revenue) * wc.share_of_revenue_fallback, 0.0)))
    basis = _BASIS_NAMES[basis_code]
    factor = policy.grade_factors.at(grade_idx)
    after = base * factor
    star_tier = isin(cols["qualification_tier"], tuple(policy.star.tiers))
    star = (grade_idx <= GRADES.index(policy.star.min_grade)) & star_tier
    caps = policy.caps
    stage_cap = np.array([caps.startup, caps.growth, caps.mature, caps.growth])[stage_idx]
    cap = np.where(star, policy.star.cap, stage_cap)
    step = policy.limit.round_down_to
    limit = np.floor(np.minimum(after, cap) / step + 1e-9) * step

    decision, rule = _decide(batch, grade_idx, limit, basis_code, policy)
    limit = np.where(decision == "decline", 0.0, limit)
    products, hits, values = _products(batch, clean, limit, decision, policy)
    appetite = policy.joint_loan.single_bank_appetite
    joint = (decision != "decline") & (limit > appetite)
    products[:, -1] = joint
    banks = np.where(joint, np.ceil(limit / appetite - 1e-9), 0).astype(np.int64)
    return Recommendations(policy, batch.stage, batch.grade, decision, rule, basis, revenue, margin_used, growth,
                           growth_observed, _nz(need), own, loans, equity, base, factor, after, cap, star, limit,
                           products, hits, values, banks)


def _decide(batch: ScoreBatch, grade_idx: np.ndarray, limit: np.ndarray, basis_code: np.ndarray,
            policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """approve / refer / decline with the rule that set it: knock-outs first, then grade bands, then the limit."""
    d = policy.decision
    approve_idx, refer_idx = GRADES.index(d.approve_min_grade), GRADES.index(d.refer_min_grade)
    knocked = batch.knockouts.any(axis=1) if batch.knockouts.size else np.zeros(len(batch), dtype=bool)
    by_grade = np.where(grade_idx <= approve_idx, _APPROVE, np.where(grade_idx <= refer_idx, _REFER, _DECLINE))
    # The rule text depends on the grade only: one text per grade, picked by index (no per-row formatting).
    texts = [f"grade {g} at least decision.approve_min_grade {d.approve_min_grade}" if k <= approve_idx else
             f"grade {g} below {d.approve_min_grade}, at least decision.refer_min_grade {d.refer_min_grade}"
             if k <= refer_idx else f"grade {g} below decision.refer_min_grade {d.refer_min_grade}"
             for k, g in enumerate(GRADES)]
    rule = np.array(texts + ["grade unknown"], dtype=object)[grade_idx]
    no_limit = (by_grade == _APPROVE) & (limit <= 0)
    decision = _DECISIONS[np.where(knocked, _DECLINE, np.where(no_limit, _REFER, by_grade))]
    if no_limit.any():
        why = np.where(basis_code[no_limit] == _BASIS_NONE, "; but no basis for a limit → refer",
                       "; but the policy gives a limit of 0 → refer")
        rule[no_limit] = rule[no_limit] + why.astype(object)
    if knocked.any():
        rule[knocked] = "knock-out: " + batch.knockout_codes()[knocked]
    return decision, rule


def _products(batch: ScoreBatch, clean: Columns, limit: np.ndarray, decision: np.ndarray,
              policy: Policy) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    """Eligibility matrix (last column reserved for the joint loan) and per-product condition hits."""
    fields = {c.field for p in policy.products for c in p.all_of + p.any_of}
    cols = rule_columns(clean, fields)
    cols |= {"grade": batch.grade, "score": batch.score, "pd": batch.pd, "stage": batch.stage, "limit": limit}
    n = len(batch)
    eligible = np.zeros((n, len(policy.products) + 1), dtype=bool)
    hits: list[np.ndarray] = []
    open_ = decision != "decline"
    for p, prod in enumerate(policy.products):
        conds = prod.all_of + prod.any_of
        m = np.empty((n, len(conds)), dtype=bool)
        for j, c in enumerate(conds):
            m[:, j] = c.evaluate(cols)
        k = len(prod.all_of)
        ok = m[:, :k].all(axis=1) & (m[:, k:].any(axis=1) if prod.any_of else True)
        eligible[:, p] = open_ & ok
        hits.append(m)
    return eligible, hits, cols
