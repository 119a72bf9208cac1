"""Property test: what a recommendation tells an officer holds for every generated firm.

Over thousands of generated firms (the generator's mess included): a product is listed only with a
limit > 0 and never above the firm's limit unless it is sized on its own basis; a declined or
out-of-segment firm gets no limit and no product; a joint loan is offered only with "approve", splits
exactly the firm's limit among at least two banks, none above the single-bank appetite; the limit
never exceeds the cap the answer names.
"""
from __future__ import annotations

import pytest

from features.clean import CleanColumns
from features.validate import validate_frame
from training.synthetic import generate
from tests.answers_json import record

pytestmark = pytest.mark.slow
FIRMS = 3000


@pytest.fixture(scope="module")
def records(scorer):
    clean = validate_frame(generate(FIRMS, seed=77)).frame
    batch = scorer.score(CleanColumns.from_frame(clean))
    return [record(batch, i)["recommendation"] for i in range(len(batch))]


def test_every_listed_product_has_a_limit(records):
    assert len(records) > 2500
    listed = [p for r in records for p in r["products"]]
    assert listed and all(p["limit"] > 0 for p in listed)


def test_declined_and_out_of_segment_firms_get_nothing(records):
    closed = [r for r in records if r["decision"] in ("decline", "outside_segment")]
    assert closed
    assert all(r["limit"] == 0 and r["products"] == [] and r["joint_loan"] is None for r in closed)


def test_joint_loans_only_for_approve_and_split_exactly(scorer, records):
    appetite = scorer.policy.joint_loan.single_bank_appetite
    joint = [r for r in records if r["joint_loan"]]
    assert joint
    for r in joint:
        assert r["decision"] == "approve"
        shares = [b["amount"] if isinstance(b, dict) else b for b in r["joint_loan"]["shares"]]
        assert len(shares) >= 2 and sum(shares) == pytest.approx(r["limit"]) and max(shares) <= appetite + 1e-9


def test_the_limit_respects_the_cap_the_answer_names(records):
    checked = 0
    for r in records:
        caps = [s["value"] for s in r["limit_steps"] if s["key"] == "cap"]
        if caps and r["limit"] > 0:
            assert r["limit"] <= caps[0] + 1e-9
            checked += 1
    assert checked > 500
