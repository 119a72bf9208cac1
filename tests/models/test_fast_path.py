"""The per-request path (columns, padded lookup tables) gives exactly what the frame path gives."""
from __future__ import annotations

from datetime import date

import numpy as np

from features.schema import FirmProfile, example_profiles
from features.transformer import IndicatorTransformer
from features.clean import CleanColumns
from features.validate import profiles_to_columns, profiles_to_frame, validate_frame
from models.explain import SMALL_BATCH
from models.knockouts import knockout_matrix
from models.policy import default_policy


def test_padded_contributions_equal_the_per_feature_search(scorer, portfolio):
    X = IndicatorTransformer().transform(validate_frame(portfolio.head(3 * SMALL_BATCH)).frame).to_numpy().copy()
    assert len(X) > SMALL_BATCH
    X[0, :5] = np.nan  # missing values take the missing branch
    looped = scorer.tables.contributions(X)  # more than SMALL_BATCH rows: one searchsorted per feature
    np.testing.assert_array_equal(scorer.tables.contributions(X[:SMALL_BATCH]), looped[:SMALL_BATCH])


def test_profiles_score_alike_through_their_columns_and_their_frame(scorer):
    profiles = [FirmProfile.model_validate(p) for p in example_profiles().values()]
    profiles.append(FirmProfile.model_validate(example_profiles()["growth"] | {"tax_grade": "D", "as_of": None}))
    by_frame = scorer.score(CleanColumns.from_frame(profiles_to_frame(profiles, date(2025, 6, 30)))).to_frame()
    by_cols = scorer.score(profiles_to_columns(profiles, date(2025, 6, 30))).to_frame()
    assert by_frame.equals(by_cols)
    assert by_cols["knockouts"].iloc[-1] == "KO_TAX_D"


def test_knockouts_of_a_file_and_of_its_rows_alike(portfolio):
    clean = validate_frame(portfolio.head(500)).clean
    rules = default_policy().knockouts
    whole = knockout_matrix(clean, rules)
    np.testing.assert_array_equal(whole[7:9], knockout_matrix(clean.take(np.arange(7, 9)), rules))
    assert knockout_matrix(clean.take(np.arange(0)), rules).shape == (0, len(rules))


def test_ratings_of_a_few_rows_equal_the_per_stage_search(scorer, portfolio):
    batch = scorer.score(validate_frame(portfolio.head(3 * SMALL_BATCH)).clean)
    assert len(batch) > SMALL_BATCH and len(set(batch.stage)) == 3
    looped = scorer.ratings(batch.dimension_points, batch.stage)  # more than SMALL_BATCH rows: searchsorted
    few = scorer.ratings(batch.dimension_points[:SMALL_BATCH], batch.stage[:SMALL_BATCH])
    np.testing.assert_array_equal(few, looped[:SMALL_BATCH])
    ref = scorer.dim_ref["growth"]  # mid-rank: reference points below count whole, equal ones half
    at = scorer.ratings(ref[500:501], np.array(["growth"], dtype=object))[0]
    below, equal = (ref < ref[500]).sum(axis=0), (ref == ref[500]).sum(axis=0)
    np.testing.assert_array_equal(at, np.round(100.0 * (below + equal / 2) / len(ref), 1))
