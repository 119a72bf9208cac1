"""A consumer-loan book with a schema unlike ours (German-credit-like), to exercise the generic mode.

Columns mix numbers, categories, an identifier, a date, missing cells and missing-value tokens;
`defaulted` is drawn from a known logistic PD so tests know a useful model exists.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def generate_loan_book(rows: int, seed: int = 0, true_pd: bool = False) -> pd.DataFrame:
    """`rows` loans; with `true_pd` the PD the outcome was drawn from is added (for oracle AUCs, never a feature)."""
    rng = np.random.default_rng(seed)
    checking = rng.choice(["<0", "0<=X<200", ">=200", "no checking"], rows, p=[0.27, 0.27, 0.06, 0.40])
    history = rng.choice(["critical", "existing paid", "delayed previously", "all paid", "no credits"], rows,
                         p=[0.29, 0.53, 0.09, 0.05, 0.04])
    purpose = rng.choice(["radio/tv", "new car", "furniture", "used car", "business", "education", "repairs", "other"], rows,
                         p=[0.28, 0.23, 0.18, 0.10, 0.10, 0.05, 0.03, 0.03])
    housing = rng.choice(["own", "rent", "for free"], rows, p=[0.71, 0.18, 0.11])
    duration = rng.choice(np.arange(6, 73, 6), rows).astype(float)
    amount = np.round(np.exp(rng.normal(7.9, 0.75, rows)), 0)
    age = np.clip(rng.gamma(9.0, 4.0, rows), 19, 80).round()
    installment_rate = rng.integers(1, 5, rows).astype(float)
    existing_credits = rng.poisson(0.4, rows) + 1.0
    income = np.round(np.exp(rng.normal(8.0, 0.5, rows)) * (1 + (age - 19) / 60), 0)
    logit = (
        -3.2
        + pd.Series(checking).map({"<0": 0.9, "0<=X<200": 0.5, ">=200": -0.2, "no checking": -0.9}).to_numpy()
        + pd.Series(history).map({"critical": -0.5, "existing paid": 0.0, "delayed previously": 0.4, "all paid": 0.8, "no credits": 1.0}).to_numpy()
        + pd.Series(purpose).map({"new car": 0.3, "education": 0.5, "business": 0.2, "used car": -0.5}).fillna(0.0).to_numpy()
        + pd.Series(housing).map({"own": -0.2, "rent": 0.25, "for free": 0.2}).to_numpy()
        + 0.03 * (duration - 20)
        + 0.35 * (np.log(amount) - 7.9)
        - 0.02 * (age - 35)
        + 0.12 * (installment_rate - 2.5)
        - 0.4 * (np.log(income) - 8.3)
    )
    pd_true = 1.0 / (1.0 + np.exp(-logit))
    dates = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1000, rows), unit="D")
    df = pd.DataFrame({
        "loan_id": [f"L{seed:02d}{i:07d}" for i in range(rows)],
        "application_date": dates.strftime("%Y-%m-%d"),
        "checking_status": checking,
        "duration_months": duration,
        "credit_history": history,
        "purpose": purpose,
        "credit_amount": amount,
        "installment_rate": installment_rate,
        "housing": housing,
        "age": age,
        "existing_credits": existing_credits,
        "monthly_income": income.astype(object),
        "defaulted": (rng.random(rows) < pd_true).astype(int),
    })
    # realistic mess: blank cells, missing-value tokens and stray whitespace
    df.loc[rng.random(rows) < 0.05, "monthly_income"] = "NA"
    df.loc[rng.random(rows) < 0.03, "age"] = np.nan
    df.loc[rng.random(rows) < 0.02, "purpose"] = None
    df.loc[rng.random(rows) < 0.01, "housing"] = " rent "
    if true_pd:
        df["true_pd"] = pd_true
    return df
