"""Tests for training.synthetic: determinism, the public true PD, calibration, realism."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.metrics import roc_auc_score

from features.schema import FIELD_NAMES, FIELD_SPECS, make_uscc, uscc_valid_mask
from training import synthetic as S

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def big() -> S.Synthetic:
    """One 40k-row portfolio shared by the statistical tests."""
    return S.generate_detailed(40_000, seed=2024)


def _read_csv(path: Path) -> pd.DataFrame:
    """Read back the way features.io does: only empty cells are missing."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _violations(df: pd.DataFrame) -> np.ndarray:
    """Rows breaking any bound, enum, pattern, date or cross rule of fields_spec."""
    bad = ~uscc_valid_mask(df["firm_id"])
    for f in S.ENUMS:
        s = df[f].astype("string").str.strip()
        s = s.str.upper() if f == "tax_grade" else s.str.lower()
        bad |= (s.notna() & ~s.isin(S.ENUMS[f])).to_numpy(dtype=bool)
    tokens = {"1", "0", "true", "false", "yes", "no", "是", "否", "y", "n"}
    for f in S.BOOL_FIELDS:
        s = df[f].astype("string").str.strip().str.lower()
        bad |= (s.notna() & ~s.isin(tokens)).to_numpy(dtype=bool)
    num = {f: pd.to_numeric(df[f]).to_numpy(dtype=float, na_value=np.nan)
           for f in S.INT_FIELDS + S.FLOAT_FIELDS}
    for f in S.INT_FIELDS + S.FLOAT_FIELDS:  # the schema's bounds
        spec = FIELD_SPECS[f]
        bad |= (num[f] < (-np.inf if spec.ge is None else spec.ge)) | (num[f] > (np.inf if spec.le is None else spec.le))
    for f in S.INT_FIELDS:
        bad |= ~np.isnan(num[f]) & (num[f] != np.round(num[f]))
    for a, b in [("rd_staff", "staff_total"), ("sci_tech_staff", "staff_total"),
                 ("bachelor_plus", "staff_total"), ("masters_phd", "bachelor_plus"),
                 ("talent_program_members", "staff_total"), ("paid_in_capital", "registered_capital"),
                 ("equity_raised_2y", "equity_raised_total"), ("rd_capitalized_y0", "rd_expense_y0"),
                 ("hightech_revenue_y0", "revenue_y0"), ("bank_loans_outstanding", "total_liabilities"),
                 ("latest_round_amount", "equity_raised_total")]:
        bad |= num[a] > num[b]
    # a coherent credit record: 90+ days past due needs substandard or worse; overdue needs dpd > 0
    cls = df["worst_loan_class"].astype("string").str.strip().str.lower()
    bad |= (num["max_dpd_24m"] >= 90) & cls.isin(["normal", "special_mention"]).to_numpy(dtype=bool)
    bad |= (S._flag(df, "current_overdue") == 1) & (num["max_dpd_24m"] == 0)
    d = {f: pd.to_datetime(df[f]) for f in S.DATE_FIELDS}
    bad |= ((d["founded_on"] > d["as_of"]) | (d["latest_round_date"] > d["as_of"])
            | (d["founded_on"] > d["latest_round_date"])).to_numpy()
    bad |= ~df["region_code"].fillna("000000").str.fullmatch(r"[0-9]{6}").to_numpy(dtype=bool)
    bad |= ~df["industry_code"].fillna("A00").str.fullmatch(r"[A-T][0-9]{2,4}").to_numpy(dtype=bool)
    return bad


def _stage(df: pd.DataFrame) -> np.ndarray:
    """Declared stage when valid, else the domain.md §5 rule."""
    decl = df["lifecycle_stage"].astype("string").str.strip().str.lower()
    age = (pd.to_datetime(df["as_of"]) - pd.to_datetime(df["founded_on"])).dt.days / 365.25
    rev = pd.to_numeric(df["revenue_y0"])
    rule = np.where((age < 3) | (rev < 500), "startup",
                    np.where((rev >= 20000) & (age >= 8), "mature", "growth"))
    return np.where(decl.isin(S.ENUMS["lifecycle_stage"]), decl.fillna(""), rule)


def test_columns_follow_schema_then_labels() -> None:
    df = S.generate(50, seed=1)
    assert tuple(df.columns) == FIELD_NAMES + ("default_12m", "true_pd")
    assert set(df["default_12m"].unique()) <= {0, 1}


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    for ext in ("csv", "parquet"):
        a, b, c = (tmp_path / f"{k}.{ext}" for k in "abc")
        S.write_profiles(S.generate(1500, seed=7), a)
        S.write_profiles(S.generate(1500, seed=7), b)
        S.write_profiles(S.generate(1500, seed=8), c)
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{k}.{e}" for k in "abc" for e in ("csv", "parquet"))  # no temp files left


def test_csv_format(tmp_path: Path) -> None:
    path = S.write_profiles(S.generate(2000, seed=3), tmp_path / "p.csv")
    text = path.read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",") == list(FIELD_NAMES) + ["default_12m", "true_pd"]
    assert re.search(r",2026-06-30,", first)  # ISO dates, no time part
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    for f in ("staff_total", "invention_patents_granted", "max_dpd_24m", "sei_category"):
        assert not back[f].str.endswith(".0").any()  # whole numbers without ".0"


def test_true_pd_is_a_function_of_the_written_fields(tmp_path: Path) -> None:
    df = S.generate(5000, seed=11)
    csv = S.write_profiles(df, tmp_path / "p.csv")
    back = _read_csv(csv)
    np.testing.assert_allclose(S.true_pd_of(back), back["true_pd"], rtol=0, atol=1e-9)
    pq = S.write_profiles(df, tmp_path / "p.parquet")
    back = pd.read_parquet(pq)
    np.testing.assert_allclose(S.true_pd_of(back), back["true_pd"], rtol=0, atol=1e-12)


def test_base_rate_and_oracle_auc(big: S.Synthetic) -> None:
    df = big.frame
    assert 0.04 <= df["default_12m"].mean() <= 0.06
    assert 0.04 <= df["true_pd"].mean() <= 0.06
    assert 0.80 <= roc_auc_score(df["default_12m"], df["true_pd"]) <= 0.90


def test_stage_mix(big: S.Synthetic) -> None:
    stage = _stage(big.frame)
    share = {s: np.mean(stage == s) for s in ("startup", "growth", "mature")}
    assert abs(share["startup"] - 0.45) < 0.04
    assert abs(share["growth"] - 0.40) < 0.04
    assert abs(share["mature"] - 0.15) < 0.03
    # The generator's intended stage is what the §5 rule derives from age and revenue.
    full = big.frame["revenue_y0"].notna() & big.frame["founded_on"].notna()
    intended = np.array(S.ENUMS["lifecycle_stage"])[big.stage]
    ok = np.setdiff1d(np.flatnonzero(full), big.invalid_rows)
    assert np.mean(_stage(big.frame)[ok] == intended[ok]) == 1.0


def test_rules_hold_except_on_corrupted_rows(big: S.Synthetic) -> None:
    bad = _violations(big.frame)
    assert 0.005 <= len(big.invalid_rows) / len(big.frame) <= 0.01
    assert set(np.flatnonzero(bad)) == set(big.invalid_rows.tolist())


def test_validator_rejects_exactly_the_corrupted_rows(big: S.Synthetic) -> None:
    validate = pytest.importorskip("features.validate")
    res = validate.validate_frame(big.frame.drop(columns=list(S.LABEL_COLUMNS)))
    assert set(res.rejects["row"].unique()) == set(big.invalid_rows.tolist())


def test_identity_fields(big: S.Synthetic) -> None:
    df = big.frame
    ids = df["firm_id"]
    assert ids.is_unique and (ids.str.len() == 18).all()
    ok = np.setdiff1d(np.arange(len(df)), big.invalid_rows)
    assert uscc_valid_mask(ids.iloc[ok]).all()
    assert all(make_uscc(x[:17]) == x for x in ids.iloc[ok[:200]])
    assert set(pd.to_numeric(df["sei_category"]).iloc[ok].dropna()) == set(range(1, 10))
    assert df["industry_code"].isin(["I6513", "C3976", "M7320"]).any()
    assert df["region_code"].isin(["320500", "330100"]).any()


def test_mess_is_realistic(big: S.Synthetic) -> None:
    df = big.frame
    structural = ("firm_id", "as_of", "lifecycle_stage", "latest_round_date",  # absent by design
                  "requested_amount", "tenor_months", "security_type",
                  "ip_appraised_value", "latest_round_amount", "conversion_contract_value")  # exist only sometimes
    miss = df[[f for f in FIELD_NAMES if f not in structural]].isna().mean()
    assert miss.between(0.01, 0.40).all(), miss[~miss.between(0.01, 0.40)]
    funded = ~df["latest_round"].astype("string").str.strip().str.lower().isin(["none"]).fillna(False)
    assert 0.05 < df.loc[funded, "latest_round_date"].isna().mean() < 0.3
    tier = df["qualification_tier"].dropna()
    assert (tier != tier.str.strip().str.lower()).mean() > 0.01  # " HNTE", "Hnte" …
    assert df["tax_grade"].dropna().str.islower().any()
    assert df["current_overdue"].isin(["yes", "是", "Y", "true", "True", "no", "否", "N"]).any()


def test_distributions(big: S.Synthetic) -> None:
    df = big.frame
    num = lambda f: pd.to_numeric(df[f]).to_numpy(dtype=float, na_value=np.nan)  # noqa: E731
    inv = num("invention_patents_granted")
    inv = inv[inv >= 0]
    assert np.mean(inv == 0) > 0.3 and inv.max() > 20 * np.median(inv[inv > 0])  # zero-inflated, heavy
    flag = lambda f: S._flag(df, f)  # noqa: E731
    assert 0.005 < np.nanmean(flag("current_overdue")) < 0.02
    assert 0.002 < np.nanmean(flag("enforcement_listed")) < 0.01
    tax = pd.Series(S._code(df, "tax_grade"))
    tax = tax[tax >= 0]
    assert tax.isin([0, 1]).mean() > 0.75 and 0 < (tax == 4).mean() < 0.02
    assert (S._code(df, "worst_loan_class")[S._code(df, "worst_loan_class") >= 0] == 0).mean() > 0.9
    # Attributes move together through firm quality.
    rev, grade = num("revenue_y0"), S._code(df, "tax_grade")
    ok = (grade >= 0) & ~np.isnan(inv if len(inv) == len(df) else num("invention_patents_granted"))
    assert np.corrcoef(big.quality[ok], num("invention_patents_granted")[ok] > 0)[0, 1] > 0.1
    assert np.corrcoef(big.quality[grade >= 0], -grade[grade >= 0])[0, 1] > 0.2
    assert np.nanmedian(rev[big.stage == 2]) > np.nanmedian(rev[big.stage == 1]) > np.nanmedian(rev[big.stage == 0])


def _row(**fields: object) -> pd.DataFrame:
    """A one-row frame of an ordinary growth firm with some fields overridden."""
    base = {f: None for f in FIELD_NAMES}
    base.update(firm_id="91320500MA1X2Y3Z4A", founded_on="2018-01-01", as_of="2026-06-30",
                revenue_y0=3000.0, revenue_y1=2500.0, cost_of_sales_y0=1800.0, net_profit_y0=150.0,
                total_assets=4000.0, total_liabilities=1800.0, net_assets_y0=2200.0, cash=900.0,
                operating_cash_flow_y0=200.0, rd_expense_y0=250.0, tax_grade="B",
                current_overdue="0", max_dpd_24m=0, worst_loan_class="normal",
                redemption_clause="0", invention_patents_granted=3)
    base.update(fields)
    return pd.DataFrame([base])


def _lo(df: pd.DataFrame) -> float:
    """True log-odds of a one-row frame."""
    return float(logit(S.true_pd_of(df))[0])


def test_interaction_redemption_x_falling_revenue() -> None:
    effect = lambda **kw: _lo(_row(redemption_clause="1", **kw)) - _lo(_row(redemption_clause="0", **kw))  # noqa: E731
    rising, falling = effect(revenue_y1=2500.0), effect(revenue_y1=4500.0)
    assert falling - rising == pytest.approx(S.IB, abs=1e-6)


def test_interaction_rd_intensity_x_cash() -> None:
    # High intensity (60%) vs low (5%), with little vs ample cash relative to R&D spend.
    def lo(rd: float, cash: float) -> float:
        return _lo(_row(rd_expense_y0=rd, cash=cash))
    little, ample = 100.0, 50_000.0
    hi_gap = lo(1800.0, little) - lo(1800.0, ample)
    lo_gap = lo(150.0, little) - lo(150.0, ample)
    assert hi_gap - lo_gap > 1.0


def test_interaction_ip_x_thin_history() -> None:
    def gain(founded: str) -> float:
        return _lo(_row(founded_on=founded, invention_patents_granted=0)) - _lo(
            _row(founded_on=founded, invention_patents_granted=40))
    assert gain("2026-01-01") - gain("2015-01-01") > 0.5  # patents help a young firm more


def test_missing_and_unparseable_values_carry_risk() -> None:
    assert _lo(_row(revenue_y0=None)) > _lo(_row())
    assert _lo(_row(tax_grade="AA")) == _lo(_row(tax_grade=None))  # typo counts as missing
    assert _lo(_row(tax_grade=" b")) == _lo(_row(tax_grade="B"))  # tolerated variant
    assert _lo(_row(max_dpd_24m=95, current_overdue="是")) > _lo(_row()) + 0.9 * S.MAIN_SCALE


def test_interactions_carry_a_real_but_minor_share(big: S.Synthetic) -> None:
    parts = S.log_odds_parts(big.frame)
    total = np.sum(list(parts.values()), axis=0)
    inter = sum(v for k, v in parts.items() if "_x_" in k)
    assert 0.05 < inter.var() / total.var() < 0.2
