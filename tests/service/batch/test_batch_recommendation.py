"""Batch file scoring writes the recommendation columns after the score columns, with the policy version."""
from __future__ import annotations

import pandas as pd

from models.decision import RECOMMENDATION_COLUMNS
from models.policy import default_policy
from models.scoring import RESULT_COLUMNS
from service.batch.local_engine import score_file


def test_scored_file_has_recommendation_columns(scorer, portfolio, tmp_path):
    src = tmp_path / "firms.csv"
    portfolio.head(300).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    summary = score_file(scorer, src, out)
    frame = pd.read_csv(out, keep_default_na=False)
    assert tuple(frame.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    assert (frame["policy_version"] == default_policy().policy_version).all()
    assert set(frame["decision"]) <= {"approve", "refer", "decline", "outside_segment"}
    assert summary.scored == len(frame)
    knocked = frame["knockouts"] != ""
    closed = frame["decision"].isin(["decline", "outside_segment"])
    assert (frame.loc[knocked, "decision"].isin(["decline", "outside_segment"])).all()
    assert (frame.loc[closed, "limit"] == 0).all()
    assert (frame.loc[frame["segment_rules"] != "", "decision"] == "outside_segment").all()
    single = frame["lifecycle_stage"].map({"startup": 1000, "growth": 5000, "mature": 10000})
    joint = frame["lifecycle_stage"].map({"startup": 2000, "growth": 10000, "mature": 15000})
    star_grade = frame["grade"].isin(["AAA", "AA"])  # only they may reach the star cap
    shared = frame["joint_loan_banks"] >= 2
    assert ((frame["limit"] <= single) | (shared & (frame["limit"] <= joint)) | (shared & star_grade)).all()
    assert (frame["limit"] <= 20000).all() and (frame.loc[shared, "decision"] == "approve").all()
    assert (frame["limit"] % 10 == 0).all()
