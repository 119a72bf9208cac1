"""Synthetic tech-SME portfolio with a known, public true PD (domain.md §6).

``generate(rows, seed)`` returns raw firm profiles exactly as a bank would submit them
(column order = fields_spec order, realistic mess included) followed by ``default_12m``
(0/1) and ``true_pd``.  ``true_pd_of(frame)`` is a deterministic function of the fields
*as submitted* (after mess), so the oracle AUC ``roc_auc_score(default_12m, true_pd)`` is
the best any model can reach from the profile.  ``default_12m ~ Bernoulli(true_pd)``.

Generative story
----------------
Stage (45% startup / 40% growth / 15% mature) fixes firm age and revenue so that the
domain.md §5 rules derive it; mature firms are tech SMEs inside the 科技型中小企业 band
(revenue and total assets ≤ 20000 万元, ≤ 500 staff), so they are declared mature (the revenue
rule would call them growth). A latent firm quality q ~ N(0, 1) (and the stage) drives
every attribute, so attributes are correlated; a credit latent c = 0.6 q + 0.8 ε drives
the credit record, which is coherent (90+ days past due ⇒ substandard or worse; overdue ⇒
days past due > 0). Credit capacity (own funds, bank loans) and product sizing (IP appraisal,
round amount, conversion contract) are drawn in ``_capacity`` / ``_capital``.  Counts are zero-inflated negative binomials, money log-normal, ratios
beta / logit-normal.  Mess: 2–30% missing per optional field (informative: weaker firms
hide more), ~4% enum cells in case/whitespace variants and ~4% bool cells as
true/yes/是/Y, and in ~0.75% of rows one genuinely invalid value (code typo, negative
count, rd_staff > staff_total, share written as 35, paid-in > registered, future date,
bad USCC check character, 90+ days past due with a "normal" loan class …) which the
validator must reject (``Synthetic.invalid_rows``).

True PD (a value that breaks its field's bound, an unparseable code or an empty cell
counts as *missing*; missing has its own, usually adverse, effect)
-----------------------------------------------------------------------------------------
logit(true_pd) = INTERCEPT + MAIN_SCALE · (credit + operations + rd_input + talent
                 + tech_ip + capital) + (a) + (b) + (c),
INTERCEPT = −3.4, MAIN_SCALE = 0.6.  Calibrated (100k rows, seed 1): base rate ≈ 4.8%,
oracle AUC ≈ 0.85, the three interactions ≈ 10% of the variance of the true log-odds.

Notation: g = ln((rev0+1)/(rev1+1)) revenue log-growth; ri = rd0/rev0 R&D intensity
(undefined, NaN, when revenue is 0: no intensity term); sat(x, k) = 1 − exp(−x/k) (saturating, 0 if missing);
na = max(net assets, 1).

credit      tax grade A −0.45 / B 0 / M +0.45 / C +1.1 / D +2.0 / missing +0.35;
            current_overdue +2.5 (missing +0.1); DPD thresholds +0.5 (≥1), +0.8 more (≥30),
            +2.2 more (≥90), missing +0.25; worst loan class special_mention +0.8,
            substandard +1.8, doubtful +2.3, loss +2.8, missing +0.15; enforcement +1.3;
            abnormal operation +0.7; 0.3·ln(1+lawsuits); 0.4·min(lawsuit amount/na, 2);
            0.15·min(penalties, 5); 0.25·min(guarantees/na, 3);
            0.08·clip(lenders − 3, 0, 8); 0.1·min(inquiries_6m, 8).
operations  −0.12·clip(ln(1+rev0) − 6, −6, 6), revenue missing +0.45;
            +0.9·min(max(−g, 0), 1.5) − 0.15·min(max(g, 0), 1), growth missing +0.1;
            gross margin −0.9·(clip(gm, −0.5, 0.9) − 0.35); net margin −1.2·clip(nm, −1, 0.3)
            (pre-revenue +0.1: the revenue level already prices having no sales); leverage
            dta = liabilities/assets: 0.6·min(dta, 1.5)
            + 1.6·max(dta − 0.6, 0), missing +0.2; negative net assets +0.5; cash runway
            (months of cash at the operating burn) +0.9·clip((12 − runway)/12, 0, 1),
            missing +0.15; +0.8·max(top-5 share − 0.5, 0); −0.25·high-tech revenue share.
rd_input    U-shaped intensity min(0.22·ln(clip(ri, 0.005, 5)/0.07)², 0.9) − 0.3 (lowest at
            7%); below the HNTE threshold (5/4/3% for revenue < 5000 / ≤ 20000 / above)
            +0.2; −0.08·ln(1+rd0), R&D missing +0.2; +0.9·capitalised share;
            −0.12·centre level; −0.06·min(university collaborations, 5); −0.06·ln(1+grants).
talent      −0.5·bachelor+ ratio; −0.5·min(master/PhD ratio, 0.5); −0.3·min(R&D staff
            ratio, 0.6); −0.35·sat(founder years, 8); background none +0.15, executive −0.1,
            phd_professor 0, serial_exit −0.25, missing +0.1; +1.4·key staff turnover
            (missing +0.1); +0.8·min(max(−h, 0), 1) with h = ln((insured+1)/(insured_prev+1));
            −0.1·min(talent programme members, 3).
tech_ip     −0.55·sat(invention patents granted, 8); −0.1·sat(pending, 10); PCT filed −0.1;
            −0.08·min(ln(1+ip_new_3y), 4); −0.15·sat(3·national + 2·industry + group
            standards, 6); −0.05·min(conversions, 4); tier none +0.1, tech_sme 0, hnte −0.15,
            srdi_provincial −0.25, little_giant −0.4, champion −0.5, missing +0.1;
            −0.1·science award level.
capital     round none +0.15, angel +0.1, a −0.05, b −0.15, c_plus −0.25, pre_ipo −0.3,
            missing +0.15; −0.06·ln(1+equity raised 2y); stale round +0.25·clip((months
            since round − 30)/30, 0, 1); −0.07·min(institutional investors, 5); state fund
            −0.2; listed/CVC −0.15; redemption clause +0.3; −0.35·paid-in/registered.
Cross-dimension interactions (not scaled by MAIN_SCALE):
  (a) rd_input × operations — R&D burn without cash: +IA·hi·short, IA = 2.4,
      hi = clip(ln(ri/0.10)/ln 4, 0, 1) (0 at 10% intensity, 1 at 40%; 0.5 for a pre-revenue
      firm with R&D spend),
      short = clip(1 − cash/(2·rd0), 0, 1) (cash covers < 2 years of R&D spend).
  (b) capital × operations — redemption (对赌) clause with falling revenue:
      +IB·redemption·clip(−g/0.3, 0, 1), IB = 2.4.
  (c) tech_ip × operations — strong IP mitigates a thin operating history:
      −IC·clip((3 − age)/3, 0, 1)·sat(invention patents granted, 4), IC = 1.2.

Reading a written CSV back: use ``keep_default_na=False, na_values=[""]`` (as
``features.io.read_table`` does) so that only empty cells are missing.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

from features import kinds
from features.schema import FIELD_NAMES, FIELD_SPECS, USCC_CHARSET, uscc_check_index

__all__ = ["FIELD_NAMES", "LABEL_COLUMNS", "AS_OF_DEFAULT", "Synthetic", "generate",
           "generate_detailed", "true_pd_of", "log_odds_parts", "write_profiles"]

# ---------------------------------------------------------------------------
# Field catalogue (FIELD_NAMES, schema order, comes from features.schema)
# ---------------------------------------------------------------------------
LABEL_COLUMNS: tuple[str, ...] = ("default_12m", "true_pd")
AS_OF_DEFAULT = date(2026, 6, 30)

# Kinds and bounds come from the schema (features/schema.py), never re-declared here.
def _of_kind(*kinds_: str) -> tuple[str, ...]:
    return tuple(f for f in FIELD_NAMES if FIELD_SPECS[f].kind in kinds_)


ENUMS: dict[str, tuple[str, ...]] = {f: FIELD_SPECS[f].enum for f in _of_kind("enum")}
BOOL_FIELDS: tuple[str, ...] = _of_kind("bool")
DATE_FIELDS: tuple[str, ...] = _of_kind("date")
TEXT_FIELDS: tuple[str, ...] = _of_kind("text")
INT_FIELDS: tuple[str, ...] = _of_kind("integer")
FLOAT_FIELDS: tuple[str, ...] = _of_kind("number")

# USCC (GB 32100-2015) check character, vectorised here with the schema's constants.
_USCC_CHARS = USCC_CHARSET
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])  # GB 11714 organisation code

# Tech hubs: (region code, city label used in names, weight).
_REGIONS = (
    ("110108", "北京", 0.12), ("310115", "上海", 0.11), ("440305", "深圳", 0.11),
    ("320500", "苏州", 0.09), ("330100", "杭州", 0.09), ("320100", "南京", 0.06),
    ("440100", "广州", 0.06), ("420100", "武汉", 0.05), ("510100", "成都", 0.05),
    ("340100", "合肥", 0.05), ("610100", "西安", 0.04), ("430100", "长沙", 0.03),
    ("370200", "青岛", 0.03), ("350200", "厦门", 0.03), ("330200", "宁波", 0.02),
    ("120116", "天津", 0.02), ("320200", "无锡", 0.02), ("500112", "重庆", 0.02),
)
# Strategic emerging industry 1–9: (share, GB/T 4754 codes, name word, gross-margin base).
_SEI = (
    (0.30, ("I6513", "I6511", "I6520", "I6531", "I6550", "C3976", "C3973", "C3914"), "信息", 0.55),
    (0.16, ("C3491", "C3421", "C3743", "C4011", "C3492"), "智能装备", 0.32),
    (0.10, ("C2659", "C3985", "C3091"), "新材料", 0.30),
    (0.12, ("C2761", "C2770", "C3581", "M7340"), "生物", 0.50),
    (0.05, ("C3612", "C3670", "C3841"), "新能源汽车", 0.22),
    (0.07, ("C3825", "C3415", "D4416"), "能源", 0.25),
    (0.06, ("C3591", "N7721", "N7722"), "环保", 0.30),
    (0.06, ("I6572", "I6579", "M7492"), "数字", 0.50),
    (0.08, ("M7320", "M7520", "M7530", "M7519"), "技术服务", 0.45),
)
_BRAND = np.array(list("华科创智云芯博远恒泰瑞新联微光达睿航信锐思源宏星海峰启明诚中天合安卓越"), dtype=object)

STAGE_SHARES = (0.45, 0.40, 0.15)
DIMENSIONS: tuple[str, ...] = ("tech_ip", "rd_input", "talent", "capital", "operations", "credit")


@dataclass(frozen=True)
class Synthetic:
    """A generated portfolio plus what only the generator knows."""

    frame: pd.DataFrame
    invalid_rows: np.ndarray  # positions of deliberately corrupted rows
    stage: np.ndarray  # intended stage code 0/1/2 (startup/growth/mature)
    quality: np.ndarray  # latent firm quality q


# ---------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------
def _logit(p: float) -> float:
    """Log-odds of a probability."""
    return float(np.log(p / (1 - p)))


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from an (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return (u > cum).sum(axis=1)


def _ordinal(z: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    """Cut a standard-normal-ish score into ordered classes with the given shares."""
    cuts = ndtri(np.cumsum(shares)[:-1])
    return np.searchsorted(cuts, z)


def _trunc_lognormal(rng: np.random.Generator, mu: np.ndarray, sigma: float,
                     lo: float | np.ndarray, hi: float | np.ndarray) -> np.ndarray:
    """Log-normal draw truncated to [lo, hi] by inverse CDF (no rejection loop)."""
    with np.errstate(divide="ignore"):
        a = ndtr((np.log(lo) - mu) / sigma)
        b = ndtr((np.log(hi) - mu) / sigma)
    u = np.clip(a + (b - a) * rng.random(len(mu)), 1e-12, 1 - 1e-12)
    return np.clip(np.exp(mu + sigma * ndtri(u)), lo, hi)


def _zinb(rng: np.random.Generator, p_zero: np.ndarray, mean: np.ndarray,
          shape: float) -> np.ndarray:
    """Zero-inflated negative binomial (gamma–Poisson) counts: heavy-tailed."""
    lam = mean * rng.gamma(shape, 1.0 / shape, len(mean))
    return np.where(rng.random(len(mean)) < p_zero, 0, rng.poisson(lam)).astype(float)


def _binom(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binomial draw that tolerates n = 0."""
    return rng.binomial(np.maximum(n, 0).astype(np.int64), np.clip(p, 0, 1)).astype(float)


def _r2(x: np.ndarray) -> np.ndarray:
    """Round money to 2 decimals so CSV round-trips exactly."""
    return np.round(x, 2)


# ---------------------------------------------------------------------------
# USCC
# ---------------------------------------------------------------------------
def _uscc_vec(region6: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Vectorised USCC: '91' + region + 8-digit org code + its check + USCC check."""
    n = len(serial)
    digits = (serial[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    org_c = 11 - (digits @ _ORG_WEIGHTS) % 11  # GB 11714: 10 → 'X', 11 → '0'
    org_val = np.where(org_c == 11, 0, org_c)
    reg = np.frombuffer("".join(region6).encode(), dtype=np.uint8).reshape(n, 6) - 48
    body = np.empty((n, 17), dtype=np.int64)
    body[:, 0], body[:, 1] = 9, 1
    body[:, 2:8] = reg
    body[:, 8:16] = digits
    # 'X' is index 29 of the USCC charset; digits are their own index.
    body[:, 16] = np.where(org_val == 10, _USCC_CHARS.index("X"), org_val)
    check = uscc_check_index(body)
    chars = np.frombuffer(_USCC_CHARS.encode(), dtype=np.uint8)
    codes = np.concatenate([chars[body], chars[check][:, None]], axis=1).astype(np.uint8)
    return codes.view("S18").ravel().astype(str).astype(object)


# ---------------------------------------------------------------------------
# Generation, block by block (internal arrays: float with NaN, enums as int codes −1)
# ---------------------------------------------------------------------------
def _identity(rng: np.random.Generator, n: int, stage: np.ndarray, as_of: date) -> dict:
    """Stage-consistent age, region, industry, ids and names."""
    young = (stage == 0) & (rng.random(n) < 0.55)
    age = np.select(
        [young, stage == 0, stage == 1],
        [rng.uniform(0.3, 2.95, n), 3.05 + np.minimum(rng.gamma(1.5, 1.8, n), 17),
         3.05 + np.minimum(rng.gamma(2.0, 2.5, n), 27)],
        8.05 + np.minimum(rng.gamma(2.2, 3.5, n), 32))
    w = np.array([r[2] for r in _REGIONS])
    reg = _pick(rng, np.broadcast_to(w / w.sum(), (n, len(w))))
    sei_w = np.array([s[0] for s in _SEI])
    sei = _pick(rng, np.broadcast_to(sei_w / sei_w.sum(), (n, 9)))
    ind = np.empty(n, dtype=object)
    u = rng.random(n)
    for k, (_, codes, _, _) in enumerate(_SEI):  # loop over 9 categories, not rows
        m = sei == k
        ind[m] = np.array(codes, dtype=object)[(u[m] * len(codes)).astype(int)]
    region6 = np.array([r[0] for r in _REGIONS], dtype=object)[reg]
    a_mul = int(rng.integers(1, 10 ** 7)) * 10 + 3  # odd, not a multiple of 5 → bijection
    serial = (np.arange(n, dtype=np.int64) * a_mul + int(rng.integers(0, 10 ** 8))) % 10 ** 8
    city = np.array([r[1] for r in _REGIONS], dtype=object)[reg]
    word = np.array([s[2] for s in _SEI], dtype=object)[sei]
    suffix = np.where((stage == 2) & (rng.random(n) < 0.5), "股份有限公司", "科技有限公司")
    b = _BRAND[rng.integers(0, len(_BRAND), (n, 2))]
    name = city + b[:, 0] + b[:, 1] + word + suffix.astype(object)
    as_of64 = np.datetime64(as_of, "D")
    founded = as_of64 - np.floor(age * 365.25).astype("timedelta64[D]")
    return dict(age=age, young=young, region6=region6, sei=sei + 1.0, industry=ind,
                firm_id=_uscc_vec(region6, serial), name=name, founded=founded,
                as_of64=np.full(n, as_of64))


def _revenue(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray, age: np.ndarray,
             young: np.ndarray) -> np.ndarray:
    """Latest revenue, truncated per stage so the §5 rules reproduce the stage."""
    n = len(q)
    r_young = np.minimum(np.exp(np.log(120) + 0.35 * q + 0.3 * age + 1.1 * rng.standard_normal(n)), 15000)
    r_young = np.where(rng.random(n) < 0.25, 0.0, r_young)
    r_old = np.where(rng.random(n) < 0.12, 0.0,
                     _trunc_lognormal(rng, np.log(200) + 0.3 * q, 0.9, 1.0, 499.99))
    r_grow = _trunc_lognormal(rng, np.log(2500) + 0.45 * q + 0.05 * age, 1.0, 500.0,
                              np.where(age < 7.95, 50000.0, 19999.99))
    # Mature tech SMEs stay inside the 科技型中小企业 band (revenue ≤ 20000 万元); they are declared mature
    # (generate_detailed), since the §5 rule would call them growth below 20000.
    r_mat = _trunc_lognormal(rng, np.log(12000) + 0.3 * q, 0.5, 5000.0, 20000.0)
    rev = np.select([young, stage == 0, stage == 1], [r_young, r_old, r_grow], r_mat)
    return _r2(rev)


def _capital(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray, age: np.ndarray,
             as_of64: np.datetime64, founded: np.ndarray) -> dict:
    """Registered capital, funding rounds, investors, redemption clauses."""
    n = len(q)
    reg_base = np.array([300.0, 1500.0, 8000.0])[stage]
    reg = _r2(np.exp(np.log(reg_base) + 0.3 * q + 0.8 * rng.standard_normal(n)))
    paid_share = np.where(rng.random(n) < 0.35, 1.0, rng.beta(2, 2, n))
    paid = np.minimum(_r2(reg * paid_share), reg)
    shares = {0: (.40, .30, .24, .05, .01, 0.0), 1: (.35, .08, .25, .18, .11, .03),
              2: (.40, .01, .09, .15, .20, .15)}
    z = 0.6 * q + 0.8 * rng.standard_normal(n)
    rnd = np.zeros(n, dtype=np.int64)
    for s, sh in shares.items():  # loop over 3 stages
        m = stage == s
        rnd[m] = _ordinal(z[m], sh)
    amount_med = np.array([0, 300, 2500, 9000, 25000, 50000.0])[rnd]
    last_amt = amount_med * np.exp(0.6 * rng.standard_normal(n) + 0.2 * q)
    total = _r2(last_amt * np.where(rnd >= 2, 1 + rng.uniform(0, 1.2, n), 1.0))
    months = rng.uniform(0, 1, n) ** np.exp(0.2 * q) * np.minimum(age * 12, 72)
    rdate = as_of64 - np.floor(months * 30.44).astype("timedelta64[D]")
    rdate = np.maximum(rdate, founded)
    eq2 = np.where(months <= 24, np.minimum(_r2(last_amt), total), 0.0)
    inst = np.where(rnd == 0, 0.0, np.where(rnd == 1, rng.poisson(0.4, n),
                                            1 + rng.poisson(0.8 * rnd, n))).astype(float)
    state = (rng.random(n) < expit(-3 + 0.5 * rnd + 0.4 * q)).astype(float)
    cvc = (rng.random(n) < expit(-3.3 + 0.4 * rnd + 0.3 * q)).astype(float)
    p_red = np.where(rnd >= 2, expit(_logit(0.4) - 0.4 * q), 0.03)
    red = (rng.random(n) < p_red).astype(float)
    rdate = np.where(rnd == 0, np.datetime64("NaT"), rdate)
    return dict(registered_capital=reg, paid_in_capital=paid, equity_raised_total=total,
                equity_raised_2y=eq2, latest_round_amount=np.where(rnd == 0, np.nan, np.minimum(_r2(last_amt), total)),
                latest_round=rnd, latest_round_date=rdate,
                institutional_investors=inst, state_fund_backed=state,
                listed_or_cvc_backed=cvc, redemption_clause=red)


def _financials(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray, age: np.ndarray,
                sei: np.ndarray, rev0: np.ndarray, cap: dict) -> dict:
    """Income statement, balance sheet, cash flow and R&D spend."""
    n = len(q)
    drop = rng.random(n) < expit(-2.0 - 0.8 * q)  # some firms shrink
    mu_g = np.array([0.45, 0.2, 0.08])[stage] + 0.15 * q
    lg1 = mu_g + 0.35 * rng.standard_normal(n) - drop * np.abs(0.4 + 0.25 * rng.standard_normal(n))
    lg2 = mu_g + 0.35 * rng.standard_normal(n)
    rev1 = np.where(age < 1, np.nan, _r2(rev0 / np.exp(lg1)))
    rev2 = np.where(age < 2, np.nan, _r2(rev1 / np.exp(lg2)))
    gm_base = np.array([s[3] for s in _SEI])[sei.astype(int) - 1]
    gm = expit(np.log(gm_base / (1 - gm_base)) + 0.35 * q + 0.55 * rng.standard_normal(n))
    gm = np.where(rng.random(n) < expit(-3.2 - 0.6 * q), -rng.uniform(0, 0.4, n), gm)
    cos = _r2(rev0 * (1 - gm))
    ri = np.exp(np.log(np.array([0.18, 0.075, 0.045])[stage]) + 0.2 * q + 0.7 * rng.standard_normal(n))
    rd0 = np.where(rev0 > 0, ri * rev0, np.exp(np.log(60) + 0.3 * q + 0.8 * rng.standard_normal(n)))
    rd0 = _r2(rd0)
    rd1 = np.where(age < 1, np.nan, _r2(rd0 / np.exp(0.2 + 0.3 * rng.standard_normal(n))))
    rd2 = np.where(age < 2, np.nan, _r2(rd1 / np.exp(0.2 + 0.3 * rng.standard_normal(n))))
    capsh = np.where(rng.random(n) < expit(-0.6 - 0.5 * q), rng.beta(2, 5, n), 0.0)
    rdcap = np.minimum(_r2(rd0 * capsh), rd0)
    sga = rng.beta(2, 8, n) + np.where(stage == 0, 0.12, 0.0)
    admin = np.exp(np.log(40) + 0.6 * rng.standard_normal(n))
    npf = np.where(rev0 > 0, rev0 * (gm - sga) - rd0 * (1 - capsh) + rev0 * 0.05 * rng.standard_normal(n),
                   -(rd0 * (1 - capsh) + admin))
    npf = _r2(npf)
    ocf = _r2(npf + np.abs(rev0) * (0.03 + 0.06 * rng.standard_normal(n)) + 0.3 * rdcap)
    eq_tot, eq2 = cap["equity_raised_total"], cap["equity_raised_2y"]
    ta = _r2(rev0 * np.exp(np.log(1.1) + 0.45 * rng.standard_normal(n)) + 0.5 * eq_tot
             + rng.uniform(20, 300, n))
    ta = np.where(stage == 2, np.minimum(ta, _r2(rng.uniform(15000, 20000, n))), ta)  # inside the SME band
    dta = 1.2 * expit(_logit(0.42 / 1.2) - 0.4 * q + 0.6 * rng.standard_normal(n))
    tl = _r2(ta * dta)
    na0 = _r2(ta - tl)
    na1 = _r2(na0 - npf * rng.uniform(0.7, 1.0, n) - 0.4 * eq2 * rng.random(n))
    cash = _r2(np.minimum(ta * rng.beta(2, 4, n) * np.exp(0.15 * q) + 0.3 * eq2, 0.95 * ta))
    return dict(revenue_y1=rev1, revenue_y2=rev2, cost_of_sales_y0=cos, net_profit_y0=npf,
                total_assets=ta, total_liabilities=tl, net_assets_y0=na0, net_assets_y1=na1,
                cash=cash, operating_cash_flow_y0=ocf, rd_expense_y0=rd0, rd_expense_y1=rd1,
                rd_expense_y2=rd2, rd_capitalized_y0=rdcap)


def _talent(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray,
            rev0: np.ndarray) -> dict:
    """Headcount, qualifications, founder and turnover."""
    n = len(q)
    base = np.array([12.0, 70.0, 250.0])[stage]
    med = np.array([150.0, 2500.0, 12000.0])[stage]
    staff = np.maximum(np.round(np.exp(np.log(base) + 0.45 * (np.log1p(rev0) - np.log1p(med))
                                       + 0.2 * q + 0.45 * rng.standard_normal(n))), 1)
    staff = np.where(stage == 2, np.minimum(staff, 500), staff)  # mature tech SMEs: at most 500 staff
    staff = np.where(rng.random(n) < 0.002, 0.0, staff)  # extreme but valid: no staff yet
    insured = _binom(rng, staff, rng.beta(9, 1.5, n))
    ins_prev = np.round(insured / np.exp(0.12 + 0.1 * q + 0.25 * rng.standard_normal(n)))
    p_rd = expit(_logit(0.3) + 0.3 * q + 0.4 * (stage == 0) + 0.4 * rng.standard_normal(n))
    rd_staff = _binom(rng, staff, p_rd)
    sci = rd_staff + _binom(rng, staff - rd_staff, np.full(n, 0.2))
    bach = _binom(rng, staff, expit(_logit(0.65) + 0.35 * q + 0.4 * rng.standard_normal(n)))
    mphd = _binom(rng, bach, expit(_logit(0.22) + 0.3 * q + 0.5 * rng.standard_normal(n)))
    tp = np.minimum(_zinb(rng, expit(1.4 - 0.5 * q), np.exp(0.3 * q), 1.0), staff)
    fy = np.round(np.clip(rng.gamma(3, 4, n) + 1.6 * q, 0, 45), 1)
    fb_logits = np.stack([0.3 - 0.4 * q, 0.3 + 0 * q, -0.6 + 0.3 * q, -1.0 + 0.5 * q], axis=1)
    fb = _pick(rng, np.exp(fb_logits))
    to = np.round(np.clip(rng.beta(1.5, 9, n) * np.exp(-0.3 * q), 0, 1), 4)
    return dict(staff_total=staff, insured_staff=insured, insured_staff_prev=ins_prev,
                rd_staff=rd_staff, sci_tech_staff=sci, bachelor_plus=bach, masters_phd=mphd,
                talent_program_members=tp, founder_industry_years=fy, founder_background=fb,
                key_staff_turnover_12m=to)


def _ip(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray, sei: np.ndarray) -> dict:
    """Patents, copyrights, standards, qualification tier, awards."""
    n = len(q)
    soft = np.isin(sei, (1, 8, 9))
    p0 = expit(np.log(np.array([0.6, 0.28, 0.12]) / np.array([0.4, 0.72, 0.88]))[stage] - 0.6 * q)
    lam = np.exp(np.log(np.array([2.0, 8.0, 35.0])[stage]) + 0.6 * q) * rng.gamma(0.8, 1 / 0.8, n)
    active = rng.random(n) >= p0
    inv = np.where(active, rng.poisson(lam), 0).astype(float)
    pend = np.where(active | (rng.random(n) < 0.3), rng.poisson(0.6 * lam + 0.5), 0).astype(float)
    util = _zinb(rng, np.where(soft, 0.6, 0.3), np.where(soft, 0.5, 1.5) * lam + 1, 0.8)
    design = _zinb(rng, np.full(n, 0.75), 0.3 * lam + 0.5, 0.6)
    pct = np.where(rng.random(n) < expit(-2.5 + 0.6 * q + 0.8 * stage), rng.poisson(0.1 * lam + 1), 0).astype(float)
    swc = _zinb(rng, np.where(soft, 0.05, 0.4), np.where(soft, 12.0, 3.0) * np.exp(0.3 * q + 0.4 * stage), 1.0)
    tm = _zinb(rng, np.full(n, 0.3), 4.0 * np.exp(0.5 * stage), 0.8)
    ipnew = np.round((inv + util + design + swc) * rng.beta(2, 3, n) + rng.poisson(0.5 * pend))
    s_rate = np.exp(-3 + 0.5 * q + 0.9 * stage)
    std_n = rng.poisson(0.2 * s_rate).astype(float)
    std_i = rng.poisson(0.5 * s_rate).astype(float)
    std_g = rng.poisson(1.0 * s_rate).astype(float)
    conv = _zinb(rng, expit(1.0 - 0.5 * q), 1.5 * np.exp(0.3 * stage), 0.7)
    # Population mean 0.2, sd 1.41: fixed constants keep each row independent of the sample.
    zt = 0.6 * q + 0.35 * np.log1p(inv) + np.array([-0.9, 0.2, 1.0])[stage] + 0.6 * rng.standard_normal(n)
    tier = _ordinal((zt - 0.2) / 1.41, (0.30, 0.30, 0.28, 0.08, 0.035, 0.005))
    tier = np.where((tier == 5) & (stage < 2), 4, tier)  # champions are mature firms
    award = _ordinal(0.5 * q + 0.5 * stage + 0.8 * rng.standard_normal(n) - 0.5, (0.9, 0.06, 0.03, 0.01))
    return dict(invention_patents_granted=inv, invention_patents_pending=pend,
                utility_models=util, design_patents=design, pct_applications=pct,
                software_copyrights=swc, trademarks=tm, ip_new_3y=ipnew,
                standards_national=std_n, standards_industry=std_i, standards_group=std_g,
                tech_conversions_3y=conv, qualification_tier=tier, sci_award_level=award.astype(float))


def _rd_other(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray) -> dict:
    """R&D centre level, university collaborations, grants."""
    n = len(q)
    level = _ordinal(0.6 * q + 0.5 * stage + 0.7 * rng.standard_normal(n) - 0.4, (0.7, 0.18, 0.09, 0.03))
    univ = _zinb(rng, np.full(n, 0.5), np.exp(0.2 + 0.4 * q + 0.3 * stage), 1.0)
    grants = np.where(rng.random(n) < 0.45, 0.0,
                      _r2(np.exp(np.log(50) + 0.5 * stage + 0.3 * q + rng.standard_normal(n))))
    return dict(rd_center_level=level.astype(float), univ_collaborations=univ, gov_grants_3y=grants)


def _credit(rng: np.random.Generator, stage: np.ndarray, q: np.ndarray, age: np.ndarray,
            na0: np.ndarray) -> dict:
    """Tax grade, delinquency, loan class, litigation, enforcement, lenders."""
    n = len(q)
    c = 0.6 * q + 0.8 * rng.standard_normal(n)
    tax = 4 - _ordinal(c, (0.006, 0.044, 0.11, 0.42, 0.42))  # D worst at the low end
    tax = np.where((age < 1) & (rng.random(n) < 0.6), 2, tax)  # new taxpayers are M
    dpd = np.where(rng.random(n) < expit(-2.4 - 0.9 * c),
                   np.clip(np.round(np.exp(np.log(12) - 0.6 * c + 1.1 * rng.standard_normal(n))), 1, 730), 0.0)
    overdue = (rng.random(n) < expit(-5.35 - 1.2 * c)).astype(float)
    dpd = np.where(overdue == 1, np.maximum(dpd, rng.integers(1, 120, n)), dpd)
    w_bad = _pick(rng, np.broadcast_to([0.6, 0.25, 0.15], (n, 3))) + 2
    wlc = np.where(dpd >= 90, w_bad, np.where(dpd >= 30, (rng.random(n) < 0.7) * 1,
                                              (rng.random(n) < 0.01) * 1))
    law = np.where(rng.random(n) < expit(-1.7 - 0.6 * c + 0.3 * stage),
                   1 + rng.poisson(np.exp(0.2 - 0.4 * c)), 0).astype(float)
    lamt = np.where(law > 0, _r2(np.exp(np.log(30) + 0.5 * stage - 0.3 * c + 1.3 * rng.standard_normal(n))), 0.0)
    enf = (rng.random(n) < expit(-6.0 - 1.2 * c)).astype(float)
    pen = np.where(rng.random(n) < expit(-2.2 - 0.4 * c), 1 + rng.poisson(0.3, n), 0).astype(float)
    abn = (rng.random(n) < expit(-4.6 - 0.8 * c)).astype(float)
    guar = np.where(rng.random(n) < 0.12 + 0.05 * stage,
                    _r2(np.maximum(na0, 100) * np.exp(np.log(0.4) + 0.9 * rng.standard_normal(n))), 0.0)
    lenders = rng.poisson(np.exp(np.log(np.array([0.8, 2.5, 4.5])[stage]) - 0.2 * c)).astype(float)
    inq = rng.poisson(np.exp(-0.35 * c)).astype(float)
    return dict(tax_grade=tax, current_overdue=overdue, max_dpd_24m=dpd, worst_loan_class=wlc,
                lawsuits_defendant_3y=law, lawsuit_amount_3y=lamt, enforcement_listed=enf,
                admin_penalties_3y=pen, abnormal_operation_listed=abn,
                guarantees_outstanding=guar, lender_count=lenders, credit_inquiries_6m=inq)


def _capacity(rng: np.random.Generator, q: np.ndarray, cols: dict) -> dict:
    """Credit capacity and product sizing: own funds, bank debt, IP appraisal, conversion contracts.

    Own funds are the working capital the firm finances itself: a share of about 30% of revenue
    (its working-capital need at three turns a year) for firms with sales, of cash before sales,
    never above positive net assets; bank debt a share of revenue, at most the liabilities (0 without
    a lender); an
    appraisal exists for a third of patent holders (patents × a log-normal value per patent);
    conversion contracts for half the firms with conversions. The round's amount comes from `_capital`.
    """
    n = len(q)
    na0, tl, rev0 = cols["net_assets_y0"], cols["total_liabilities"], cols["revenue_y0"]
    scale = np.where(rev0 > 0, 0.3 * rev0, cols["cash"])
    own = np.minimum(_r2(scale * rng.beta(2, 5, n) * np.exp(0.15 * q)), np.maximum(na0, 0))
    # bank debt finances part of the working capital: a share of revenue (of liabilities before sales)
    debt = np.where(rev0 > 0, np.minimum(0.3 * rev0 * rng.beta(1.5, 6, n), tl), tl * rng.beta(1.5, 7, n))
    loans = np.where(cols["lender_count"] == 0, 0.0, _r2(debt))
    inv = cols["invention_patents_granted"]
    per_patent = np.exp(np.log(60) + 0.2 * q + 0.7 * rng.standard_normal(n))
    appraised = np.where((inv >= 1) & (rng.random(n) < 0.35), _r2(np.minimum(inv, 60) * per_patent), np.nan)
    conv = cols["tech_conversions_3y"]
    contract = np.where((conv >= 1) & (rng.random(n) < 0.5),
                        _r2(np.exp(np.log(120) + 0.3 * q + 0.9 * rng.standard_normal(n)) * np.sqrt(np.maximum(conv, 1))),
                        np.nan)
    return dict(own_funds=own, bank_loans_outstanding=loans, ip_appraised_value=appraised,
                conversion_contract_value=contract)


def _request(rng: np.random.Generator, stage: np.ndarray) -> dict:
    """Optional loan request."""
    n = len(stage)
    amt = np.round(np.exp(np.log(np.array([300.0, 1500.0, 5000.0])[stage]) + 0.7 * rng.standard_normal(n)), -1)
    tenor = np.array([6, 12, 12, 24, 36, 60], dtype=float)[rng.integers(0, 6, n)]
    sec = _pick(rng, np.broadcast_to([0.55, 0.25, 0.20], (n, 3)))
    return dict(requested_amount=np.maximum(amt, 10.0), tenor_months=tenor, security_type=sec)


# Base missing rates (hard-to-get fields higher).
_MISSING: dict[str, float] = {
    "name": 0.02, "region_code": 0.03, "industry_code": 0.06, "sei_category": 0.08,
    "founded_on": 0.02, "lifecycle_stage": 0.65,
    "revenue_y0": 0.05, "revenue_y1": 0.10, "revenue_y2": 0.15, "cost_of_sales_y0": 0.12,
    "net_profit_y0": 0.08, "total_assets": 0.08, "total_liabilities": 0.08,
    "net_assets_y0": 0.10, "net_assets_y1": 0.15, "cash": 0.12,
    "operating_cash_flow_y0": 0.18, "hightech_revenue_y0": 0.22, "top5_customer_share": 0.30,
    "rd_expense_y0": 0.08, "rd_expense_y1": 0.14, "rd_expense_y2": 0.20,
    "rd_capitalized_y0": 0.22, "rd_center_level": 0.15, "univ_collaborations": 0.20,
    "gov_grants_3y": 0.18,
    "staff_total": 0.04, "insured_staff": 0.10, "insured_staff_prev": 0.20, "rd_staff": 0.08,
    "sci_tech_staff": 0.15, "bachelor_plus": 0.12, "masters_phd": 0.15,
    "talent_program_members": 0.25, "founder_industry_years": 0.22,
    "founder_background": 0.15, "key_staff_turnover_12m": 0.30,
    "invention_patents_granted": 0.05, "invention_patents_pending": 0.10,
    "utility_models": 0.08, "design_patents": 0.10, "pct_applications": 0.15,
    "software_copyrights": 0.08, "trademarks": 0.10, "ip_new_3y": 0.15,
    "standards_national": 0.20, "standards_industry": 0.20, "standards_group": 0.20,
    "tech_conversions_3y": 0.25, "qualification_tier": 0.08, "sci_award_level": 0.20,
    "registered_capital": 0.03, "paid_in_capital": 0.10, "equity_raised_total": 0.12,
    "equity_raised_2y": 0.18, "latest_round": 0.08, "latest_round_date": 0.15,
    "institutional_investors": 0.15, "state_fund_backed": 0.12,
    "listed_or_cvc_backed": 0.15, "redemption_clause": 0.20,
    "tax_grade": 0.05, "current_overdue": 0.05, "max_dpd_24m": 0.08,
    "worst_loan_class": 0.08, "lawsuits_defendant_3y": 0.08, "lawsuit_amount_3y": 0.15,
    "enforcement_listed": 0.05, "admin_penalties_3y": 0.10,
    "abnormal_operation_listed": 0.06, "guarantees_outstanding": 0.20, "lender_count": 0.10,
    "credit_inquiries_6m": 0.15,
    "own_funds": 0.35, "bank_loans_outstanding": 0.25, "ip_appraised_value": 0.10,
    "latest_round_amount": 0.20, "conversion_contract_value": 0.10,
}
_FIN_BLOCK = ("revenue_y0", "revenue_y1", "revenue_y2", "cost_of_sales_y0", "net_profit_y0",
              "total_assets", "total_liabilities", "net_assets_y0", "net_assets_y1", "cash",
              "operating_cash_flow_y0", "hightech_revenue_y0", "top5_customer_share")
_REQUEST = ("requested_amount", "tenor_months", "security_type")


def _apply_missing(rng: np.random.Generator, cols: dict, q: np.ndarray) -> None:
    """Blank cells in place: informative (weaker firms hide more), some whole blocks."""
    n = len(q)
    tilt = np.exp(-0.35 * q - 0.35 ** 2 / 2)  # mean 1: keeps the base rate on average
    no_fin = rng.random(n) < 0.04 * np.exp(-0.6 * q - 0.18)  # no statements at all
    no_req = rng.random(n) < 0.30
    for f in FIELD_NAMES:  # loop over columns, vectorised over rows
        mask = rng.random(n) < _MISSING.get(f, 0.0) * tilt
        if f in _FIN_BLOCK:
            mask |= no_fin
        if f in _REQUEST:
            mask = no_req
        _blank(cols, f, mask)


def _blank(cols: dict, f: str, mask: np.ndarray) -> None:
    """Set cells of one internal column to missing."""
    a = cols[f]
    if f in ENUMS:
        a[mask] = -1
    elif a.dtype.kind == "M":
        a[mask] = np.datetime64("NaT")
    elif a.dtype == object:
        a[mask] = None
    else:
        a[mask] = np.nan


def _extremes(rng: np.random.Generator, cols: dict) -> None:
    """A few extreme but valid values a real register contains."""
    n = len(cols["firm_id"])
    pick = lambda p: rng.random(n) < p  # noqa: E731 - tiny local helper
    cols["top5_customer_share"][pick(0.003) & ~np.isnan(cols["top5_customer_share"])] = 1.0
    cols["key_staff_turnover_12m"][pick(0.002) & ~np.isnan(cols["key_staff_turnover_12m"])] = 1.0
    m = pick(0.001)
    cols["max_dpd_24m"][m], cols["current_overdue"][m], cols["worst_loan_class"][m] = 730, 1, 4
    cols["founder_industry_years"][pick(0.0005)] = 70.0
    inv = cols["invention_patents_granted"]
    m = pick(0.001) & ~np.isnan(inv)
    inv[m] = inv[m] * 40 + 800


# ---------------------------------------------------------------------------
# From internal arrays to the submitted frame (variants, corruption)
# ---------------------------------------------------------------------------
_BOOL_STYLES = (("true", "false"), ("yes", "no"), ("是", "否"), ("Y", "N"), ("True", "False"))


def _enum_strings(rng: np.random.Generator, f: str, codes: np.ndarray) -> np.ndarray:
    """Canonical labels with ~4% case/whitespace variants the validator accepts."""
    labels = np.array(ENUMS[f] + (None,), dtype=object)
    out = labels[np.where(codes < 0, len(labels) - 1, codes)]
    n = len(out)
    var = (rng.random(n) < 0.04) & (codes >= 0)
    kind = rng.integers(0, 4, n)
    s = pd.Series(out[var], dtype=object)
    k = kind[var]
    swapped = s.str.swapcase()  # hnte → HNTE, A → a
    s = pd.Series(np.select([k == 0, k == 1, k == 2], [swapped, s.str.title(), " " + s], s + " "))
    s = s.where(s != "None", "NONE")  # pandas' read_csv would take a bare "None" for missing
    out[var] = s.to_numpy(dtype=object)
    return out


def _bool_strings(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """'1'/'0' with ~4% other accepted spellings; None for missing."""
    n = len(x)
    out = np.where(np.isnan(x), None, np.where(x == 1, "1", "0")).astype(object)
    var = (rng.random(n) < 0.04) & ~np.isnan(x)
    style = np.array(_BOOL_STYLES, dtype=object)[rng.integers(0, len(_BOOL_STYLES), n)]
    out[var] = np.where(x[var] == 1, style[var, 0], style[var, 1])
    return out


_TYPOS = (("qualification_tier", "hnet"), ("latest_round", "seriesA"), ("tax_grade", "AA"),
          ("founder_background", "phd"), ("worst_loan_class", "nromal"),
          ("lifecycle_stage", "startups"), ("security_type", "mortgage"))
_NEG_COUNTS = ("staff_total", "invention_patents_granted", "lawsuits_defendant_3y",
               "utility_models", "lender_count")


def _corrupt(rng: np.random.Generator, out: dict, n: int, as_of64: np.datetime64) -> np.ndarray:
    """Put one genuinely invalid value in ~0.75% of rows; return their positions."""
    rows = np.flatnonzero(rng.random(n) < 0.0075)
    kinds = rng.integers(0, len(_CORRUPTORS), len(rows))
    for k in range(len(_CORRUPTORS)):  # loop over corruption kinds, vectorised over rows
        r = rows[kinds == k]
        if len(r):
            _CORRUPTORS[k](rng, out, r, as_of64)
    return rows


def _c_typo(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Code typo the validator cannot normalise."""
    which = rng.integers(0, len(_TYPOS), len(r))
    for j, (f, bad) in enumerate(_TYPOS):
        out[f][r[which == j]] = bad


def _c_negative(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Negative count."""
    which = rng.integers(0, len(_NEG_COUNTS), len(r))
    for j, f in enumerate(_NEG_COUNTS):
        out[f][r[which == j]] = -rng.integers(1, 6, (which == j).sum()).astype(float)


def _c_rd_staff(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """rd_staff > staff_total."""
    staff = np.nan_to_num(out["staff_total"][r], nan=12.0)
    out["staff_total"][r] = staff
    out["rd_staff"][r] = staff + rng.integers(1, 10, len(r))


def _c_share(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Share typed as a percentage (35 instead of 0.35)."""
    f = np.where(rng.random(len(r)) < 0.5, "top5_customer_share", "key_staff_turnover_12m")
    for name in ("top5_customer_share", "key_staff_turnover_12m"):
        out[name][r[f == name]] = rng.integers(5, 96, (f == name).sum()).astype(float)


def _c_paid_in(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Paid-in above registered capital."""
    reg = np.nan_to_num(out["registered_capital"][r], nan=500.0)
    out["registered_capital"][r] = reg
    out["paid_in_capital"][r] = _r2(reg * 1.5 + 10)


def _c_future_date(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Founding or round date after as_of."""
    later = as_of64 + rng.integers(1, 400, len(r)).astype("timedelta64[D]")
    f = rng.random(len(r)) < 0.5
    out["founded_on"][r[f]] = later[f]
    out["latest_round_date"][r[~f]] = later[~f]


def _c_hightech(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """High-tech revenue above total revenue."""
    rev = np.nan_to_num(out["revenue_y0"][r], nan=800.0)
    out["revenue_y0"][r] = rev
    out["hightech_revenue_y0"][r] = _r2(rev * 1.3 + 10)


def _c_uscc(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Wrong USCC check character (a transcription typo)."""
    ids = pd.Series(out["firm_id"][r], dtype=object)
    last = ids.str[-1].map({ch: i for i, ch in enumerate(_USCC_CHARS)}).to_numpy(dtype=np.int64)
    newc = np.array(list(_USCC_CHARS), dtype=object)[(last + rng.integers(1, 31, len(r))) % 31]
    out["firm_id"][r] = ids.str[:-1].to_numpy(dtype=object) + newc


def _c_masters(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """masters_phd > bachelor_plus."""
    b = np.nan_to_num(out["bachelor_plus"][r], nan=5.0)
    out["bachelor_plus"][r] = b
    out["masters_phd"][r] = b + rng.integers(1, 5, len(r))


def _c_negative_money(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Negative R&D spend or DPD beyond 730."""
    f = rng.random(len(r)) < 0.5
    out["rd_expense_y0"][r[f]] = -_r2(rng.uniform(10, 500, f.sum()))
    out["max_dpd_24m"][r[~f]] = 900.0


def _c_codes(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """Out-of-range category or malformed region code."""
    f = rng.random(len(r)) < 0.5
    out["sei_category"][r[f]] = 12.0
    out["region_code"][r[~f]] = "32050"


def _c_credit(rng: np.random.Generator, out: dict, r: np.ndarray, as_of64: np.datetime64) -> None:
    """An incoherent credit record: 90+ days past due beside a "normal" loan class."""
    out["max_dpd_24m"][r] = rng.integers(90, 731, len(r)).astype(float)
    out["worst_loan_class"][r] = "normal"


_CORRUPTORS = (_c_typo, _c_negative, _c_rd_staff, _c_share, _c_paid_in, _c_future_date,
               _c_hightech, _c_uscc, _c_masters, _c_negative_money, _c_codes, _c_credit)


def _to_frame(out: dict) -> pd.DataFrame:
    """Typed DataFrame in schema order: Int64 counts, float money, str codes, dates."""
    data = {}
    for f in FIELD_NAMES:
        a = out[f]
        if f in INT_FIELDS:
            data[f] = pd.array(np.nan_to_num(a, nan=0).astype(np.int64), dtype="Int64")
            data[f][np.isnan(a)] = pd.NA
        elif f in DATE_FIELDS:
            data[f] = pd.Series(a.astype("datetime64[ns]"))
        elif a.dtype == object:
            data[f] = pd.Series(a, dtype=object)
        else:
            data[f] = pd.Series(a.astype(float))
    return pd.DataFrame(data)


def generate_detailed(rows: int, seed: int, as_of: date = AS_OF_DEFAULT) -> Synthetic:
    """Generate the portfolio and return it with generator-side truth."""
    rng = np.random.default_rng(seed)
    n = int(rows)
    stage = _pick(rng, np.broadcast_to(STAGE_SHARES, (n, 3)))
    q = rng.standard_normal(n)
    ident = _identity(rng, n, stage, as_of)
    age, sei = ident["age"], ident["sei"]
    rev0 = _revenue(rng, stage, q, age, ident["young"])
    cap = _capital(rng, stage, q, age, np.datetime64(as_of, "D"), ident["founded"])
    cols: dict = dict(firm_id=ident["firm_id"], name=ident["name"], region_code=ident["region6"].copy(),
                      industry_code=ident["industry"], sei_category=sei.copy(),
                      founded_on=ident["founded"], as_of=ident["as_of64"],
                      lifecycle_stage=stage.copy(), revenue_y0=rev0)
    cols.update(_financials(rng, stage, q, age, sei, rev0, cap))
    ipd = _ip(rng, stage, q, sei)
    hts = np.where(ipd["qualification_tier"] >= 2, rng.beta(8, 2, n), rng.beta(3, 3, n))
    cols["hightech_revenue_y0"] = np.minimum(_r2(rev0 * hts), rev0)
    top5 = rng.beta(np.array([4.0, 3, 2])[stage], np.array([2.0, 3, 4])[stage])
    cols["top5_customer_share"] = np.round(np.clip(top5 - 0.05 * q, 0.01, 1), 4)
    cols.update(_rd_other(rng, stage, q))
    cols.update(_talent(rng, stage, q, rev0))
    cols.update(ipd)
    cols.update(cap)
    cols.update(_credit(rng, stage, q, age, cols["net_assets_y0"]))
    cols.update(_capacity(rng, q, cols))
    cols.update(_request(rng, stage))
    _extremes(rng, cols)
    _apply_missing(rng, cols, q)
    cols["lifecycle_stage"][stage == 2] = 2  # mature firms are declared (the revenue rule would say growth)
    out = {}
    for f in FIELD_NAMES:
        if f in ENUMS:
            out[f] = _enum_strings(rng, f, cols[f])
        elif f in BOOL_FIELDS:
            out[f] = _bool_strings(rng, cols[f])
        else:
            out[f] = cols[f]
    bad = _corrupt(rng, out, n, np.datetime64(as_of, "D"))
    frame = _to_frame(out)
    pd_true = true_pd_of(frame, as_of)
    frame["default_12m"] = (rng.random(n) < pd_true).astype(np.int64)
    frame["true_pd"] = pd_true
    return Synthetic(frame=frame, invalid_rows=bad, stage=stage, quality=q)


def generate(rows: int, seed: int, as_of: date = AS_OF_DEFAULT) -> pd.DataFrame:
    """Raw profiles (schema order, with mess) plus default_12m and true_pd."""
    return generate_detailed(rows, seed, as_of).frame


# ---------------------------------------------------------------------------
# True PD: a public function of the fields as submitted
# ---------------------------------------------------------------------------
INTERCEPT = -3.4
MAIN_SCALE = 0.6  # common scale of the six dimension terms (sets the oracle AUC)
IA, IB, IC = 2.4, 2.4, 1.2  # interaction strengths (a), (b), (c)
RD_HI_FROM, RD_HI_SPAN = 0.10, 4.0  # (a) high intensity: 0 at 10%, 1 at 40%
CASH_YEARS = 2.0  # (a) cash short when it covers < 2 years of R&D spend
FALL_FULL = 0.3  # (b) full effect at a revenue log-drop of 0.3
PRE_REVENUE_HI = 0.5  # (a) a pre-revenue firm's R&D burn counts as half the high-intensity effect
# Severe delinquency weighs as in real books: 90+ days past due alone multiplies the odds of default
# by about e^(0.6·3.5) ≈ 8 before its loan class (substandard +1.8 more); see the README's effect sizes.
DPD_STEPS = (0.5, 0.8, 2.2)  # added at ≥ 1, ≥ 30 and ≥ 90 days past due


def _num(df: pd.DataFrame, f: str) -> np.ndarray:
    """Numeric column as the number/integer kind reads it (features/kinds.py); refused or out of the
    field's bounds → NaN."""
    spec = FIELD_SPECS[f]
    x, _, _ = kinds.COLUMN_PARSERS[spec.kind](df[f], spec)
    lo = -np.inf if spec.ge is None else spec.ge
    hi = np.inf if spec.le is None else spec.le
    return np.where((x >= lo) & (x <= hi), x, np.nan)


def _code(df: pd.DataFrame, f: str) -> np.ndarray:
    """Enum column as int code (−1 = missing or refused), read by the enum kind."""
    values, _, _ = kinds.parse_enums(df[f], FIELD_SPECS[f])
    lut = {v: i for i, v in enumerate(ENUMS[f])}
    return np.array([lut.get(v, -1) for v in values], dtype=np.int64)


def _flag(df: pd.DataFrame, f: str) -> np.ndarray:
    """Bool column as 1.0/0.0/NaN, read by the bool kind (only the spellings the schema accepts)."""
    return kinds.parse_bools(df[f], FIELD_SPECS[f])[0]


def _days(df: pd.DataFrame, f: str) -> np.ndarray:
    """Date column as float days since epoch (NaN when missing or refused), read by the date kind."""
    d = kinds.parse_dates(df[f], FIELD_SPECS[f])[0].astype("datetime64[D]")
    return np.where(np.isnat(d), np.nan, d.astype("float64"))


def _lut(codes: np.ndarray, values: tuple[float, ...], missing: float) -> np.ndarray:
    """Look up an effect per enum code, with an effect for missing."""
    return np.where(codes < 0, missing, np.asarray(values)[np.maximum(codes, 0)])


def _nz(x: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """NaN → fill."""
    return np.where(np.isnan(x), fill, x)


def _sat(x: np.ndarray, k: float) -> np.ndarray:
    """Saturating 1 − exp(−x/k), 0 for missing."""
    return _nz(1 - np.exp(-x / k))


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / b, np.nan)


def _parsed(df: pd.DataFrame, as_of_default: date) -> dict[str, np.ndarray]:
    """Every field parsed the tolerant way, out-of-bound → missing."""
    p = {f: _num(df, f) for f in FIELD_NAMES
         if f not in ENUMS and f not in BOOL_FIELDS and f not in DATE_FIELDS and f not in TEXT_FIELDS}
    p.update({f: _code(df, f) for f in ENUMS})
    p.update({f: _flag(df, f) for f in BOOL_FIELDS})
    as_of = _nz(_days(df, "as_of"), float(np.datetime64(as_of_default, "D").astype("int64")))
    age = (as_of - _days(df, "founded_on")) / 365.25
    p["age"] = np.where(age >= 0, age, np.nan)
    months = (as_of - _days(df, "latest_round_date")) / 30.44
    p["round_months"] = np.where(months >= 0, months, np.nan)
    return p


def _credit_terms(p: dict) -> np.ndarray:
    """Credit & compliance log-odds."""
    dpd = p["max_dpd_24m"]
    na = np.maximum(_nz(p["net_assets_y0"], 1.0), 1.0)
    return (_lut(p["tax_grade"], (-0.45, 0.0, 0.45, 1.1, 2.0), 0.35)
            + 2.5 * _nz(p["current_overdue"]) + 0.1 * np.isnan(p["current_overdue"])
            + np.where(np.isnan(dpd), 0.25, DPD_STEPS[0] * (dpd >= 1) + DPD_STEPS[1] * (dpd >= 30)
                       + DPD_STEPS[2] * (dpd >= 90))
            + _lut(p["worst_loan_class"], (0.0, 0.8, 1.8, 2.3, 2.8), 0.15)
            + 1.3 * _nz(p["enforcement_listed"]) + 0.7 * _nz(p["abnormal_operation_listed"])
            + 0.3 * np.log1p(_nz(p["lawsuits_defendant_3y"]))
            + 0.4 * np.minimum(_nz(p["lawsuit_amount_3y"]) / na, 2.0)
            + 0.15 * np.minimum(_nz(p["admin_penalties_3y"]), 5)
            + 0.25 * np.minimum(_nz(p["guarantees_outstanding"]) / na, 3.0)
            + 0.08 * np.clip(_nz(p["lender_count"]) - 3, 0, 8)
            + 0.1 * np.minimum(_nz(p["credit_inquiries_6m"]), 8))


def _growth(p: dict) -> np.ndarray:
    """Revenue log-growth y1 → y0 (NaN when either is missing)."""
    return np.log((p["revenue_y0"] + 1) / (p["revenue_y1"] + 1))


def _intensity(p: dict) -> np.ndarray:
    """R&D intensity; undefined (NaN) for pre-revenue firms: R&D without sales is not "500% intensity"."""
    return _ratio(p["rd_expense_y0"], p["revenue_y0"])


def _pre_revenue(p: dict) -> np.ndarray:
    """Pre-revenue firms that spend on R&D (their burn is judged by the cash that covers it)."""
    return (p["revenue_y0"] == 0) & (p["rd_expense_y0"] > 0)


def _operations_terms(p: dict) -> np.ndarray:
    """Operations & growth log-odds."""
    rev, g = p["revenue_y0"], _growth(p)
    gm = _ratio(p["revenue_y0"] - p["cost_of_sales_y0"], rev)
    nm = _ratio(p["net_profit_y0"], rev)
    dta = _ratio(p["total_liabilities"], p["total_assets"])
    burn = np.maximum(-p["operating_cash_flow_y0"], 0)
    runway = np.where(burn > 0, 12 * p["cash"] / np.where(burn > 0, burn, 1), np.inf)
    runway = np.where(np.isnan(p["operating_cash_flow_y0"]) | np.isnan(p["cash"]), np.nan, runway)
    return (np.where(np.isnan(rev), 0.45, -0.12 * np.clip(np.log1p(_nz(rev)) - 6, -6, 6))
            + np.where(np.isnan(g), 0.1, 0.9 * np.minimum(np.maximum(-_nz(g), 0), 1.5)
                       - 0.15 * np.minimum(np.maximum(_nz(g), 0), 1))
            + _nz(-0.9 * (np.clip(gm, -0.5, 0.9) - 0.35))
            + np.where(rev == 0, 0.1, _nz(-1.2 * np.clip(nm, -1, 0.3)))
            + np.where(np.isnan(dta), 0.2, 0.6 * np.minimum(_nz(dta), 1.5) + 1.6 * np.maximum(_nz(dta) - 0.6, 0))
            + 0.5 * (p["net_assets_y0"] < 0)
            + np.where(np.isnan(runway), 0.15, 0.9 * np.clip((12 - _nz(runway)) / 12, 0, 1))
            + 0.8 * np.maximum(_nz(p["top5_customer_share"]) - 0.5, 0)
            - 0.25 * _nz(np.clip(_ratio(p["hightech_revenue_y0"], rev), 0, 1)))


def _rd_terms(p: dict) -> np.ndarray:
    """R&D input log-odds (U-shaped intensity)."""
    ri, rev, rd0 = _intensity(p), p["revenue_y0"], p["rd_expense_y0"]
    u = np.minimum(0.22 * np.log(np.clip(ri, 0.005, 5) / 0.07) ** 2, 0.9) - 0.3
    thr = np.where(rev < 5000, 0.05, np.where(rev <= 20000, 0.04, 0.03))
    return (_nz(u) + 0.2 * (ri < thr)
            - 0.08 * np.log1p(_nz(rd0)) + 0.2 * np.isnan(rd0)
            + 0.9 * _nz(np.clip(_ratio(p["rd_capitalized_y0"], rd0), 0, 1))
            - 0.12 * _nz(p["rd_center_level"]) - 0.06 * np.minimum(_nz(p["univ_collaborations"]), 5)
            - 0.06 * np.log1p(_nz(p["gov_grants_3y"])))


def _talent_terms(p: dict) -> np.ndarray:
    """Talent & team log-odds."""
    st = p["staff_total"]
    h = np.log((p["insured_staff"] + 1) / (p["insured_staff_prev"] + 1))
    return (-0.5 * _nz(np.clip(_ratio(p["bachelor_plus"], st), 0, 1))
            - 0.5 * _nz(np.clip(_ratio(p["masters_phd"], st), 0, 0.5))
            - 0.3 * _nz(np.clip(_ratio(p["rd_staff"], st), 0, 0.6))
            - 0.35 * _sat(p["founder_industry_years"], 8)
            + _lut(p["founder_background"], (0.15, -0.1, 0.0, -0.25), 0.1)
            + np.where(np.isnan(p["key_staff_turnover_12m"]), 0.1, 1.4 * _nz(p["key_staff_turnover_12m"]))
            + 0.8 * np.minimum(np.maximum(-_nz(h), 0), 1)
            - 0.1 * np.minimum(_nz(p["talent_program_members"]), 3))


def _ip_terms(p: dict) -> np.ndarray:
    """Technology & IP log-odds (saturating counts)."""
    std = 3 * _nz(p["standards_national"]) + 2 * _nz(p["standards_industry"]) + _nz(p["standards_group"])
    return (-0.55 * _sat(p["invention_patents_granted"], 8) - 0.1 * _sat(p["invention_patents_pending"], 10)
            - 0.1 * (p["pct_applications"] > 0) - 0.08 * np.minimum(np.log1p(_nz(p["ip_new_3y"])), 4)
            - 0.15 * (1 - np.exp(-std / 6)) - 0.05 * np.minimum(_nz(p["tech_conversions_3y"]), 4)
            + _lut(p["qualification_tier"], (0.1, 0.0, -0.15, -0.25, -0.4, -0.5), 0.1)
            - 0.1 * _nz(p["sci_award_level"]))


def _capital_terms(p: dict) -> np.ndarray:
    """Capital background log-odds."""
    m = p["round_months"]
    return (_lut(p["latest_round"], (0.15, 0.1, -0.05, -0.15, -0.25, -0.3), 0.15)
            - 0.06 * np.log1p(_nz(p["equity_raised_2y"]))
            + 0.25 * np.clip((_nz(m) - 30) / 30, 0, 1)
            - 0.07 * np.minimum(_nz(p["institutional_investors"]), 5)
            - 0.2 * _nz(p["state_fund_backed"]) - 0.15 * _nz(p["listed_or_cvc_backed"])
            + 0.3 * _nz(p["redemption_clause"])
            - 0.35 * _nz(np.clip(_ratio(p["paid_in_capital"], p["registered_capital"]), 0, 1)))


def _interaction_terms(p: dict) -> dict[str, np.ndarray]:
    """The three documented cross-dimension interactions."""
    ri, rd0 = _intensity(p), p["rd_expense_y0"]
    hi = np.where(_pre_revenue(p), PRE_REVENUE_HI, _nz(np.clip(np.log(ri / RD_HI_FROM) / np.log(RD_HI_SPAN), 0, 1)))
    short = _nz(np.clip(1 - _ratio(p["cash"], CASH_YEARS * rd0), 0, 1))
    fall = _nz(np.clip(-_growth(p) / FALL_FULL, 0, 1))
    thin = _nz(np.clip((3 - p["age"]) / 3, 0, 1))
    return {"rd_x_cash": IA * hi * short,
            "redemption_x_falling_revenue": IB * _nz(p["redemption_clause"]) * fall,
            "ip_x_thin_history": -IC * thin * _sat(p["invention_patents_granted"], 4)}


def log_odds_parts(profiles: pd.DataFrame, as_of_default: date = AS_OF_DEFAULT) -> dict[str, np.ndarray]:
    """True log-odds split into intercept, six dimensions and each interaction."""
    p = _parsed(profiles, as_of_default)
    n = len(profiles)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = {"intercept": np.full(n, INTERCEPT), "credit": _credit_terms(p),
                 "operations": _operations_terms(p), "rd_input": _rd_terms(p),
                 "talent": _talent_terms(p), "tech_ip": _ip_terms(p), "capital": _capital_terms(p)}
        for k in DIMENSIONS:
            parts[k] = MAIN_SCALE * parts[k]
        parts.update(_interaction_terms(p))
    return parts


def true_pd_of(profiles: pd.DataFrame, as_of_default: date = AS_OF_DEFAULT) -> np.ndarray:
    """True 12-month PD of each submitted profile (see the module docstring)."""
    return expit(np.sum(list(log_odds_parts(profiles, as_of_default).values()), axis=0))


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
def write_profiles(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write CSV (UTF-8) or Parquet by extension, atomically and byte-deterministically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if path.suffix.lower() in (".parquet", ".pq"):
                _write_parquet(df, fh)
            else:
                # %.12g: ints without ".0", exact round trip for our 2-/4-decimal values.
                df.to_csv(fh, index=False, float_format="%.12g", date_format="%Y-%m-%d",
                          lineterminator="\n", encoding="utf-8")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_parquet(df: pd.DataFrame, fh) -> None:
    """Parquet without attrs or index so equal frames give equal bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = pd.DataFrame({c: df[c] for c in df.columns})  # drops attrs
    table = pa.Table.from_pandas(plain, preserve_index=False)
    pq.write_table(table, fh, compression="zstd")
