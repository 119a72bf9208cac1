"""A firm's result never depends on the other rows scored with it (batch engines cut files anywhere)."""
import pandas as pd

from features.clean import CleanColumns
from features.validate import validate_frame


def test_scores_identical_whatever_the_batch_size(scorer, portfolio):
    clean = validate_frame(portfolio.head(120)).frame
    whole = scorer.score(CleanColumns.from_frame(clean)).to_frame()
    for size in (1, 7, 64, 65):
        parts = pd.concat([scorer.score(CleanColumns.from_frame(clean.iloc[i:i + size])).to_frame() for i in range(0, len(clean), size)])
        pd.testing.assert_frame_equal(parts, whole, check_exact=True)
