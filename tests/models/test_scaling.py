import math

import numpy as np
import pytest

from models.scaling import GRADES, ScoreScale, grade_of


def test_textbook_scaling_600_at_50_to_1_pdo_20():
    s = ScoreScale()
    assert s.factor == pytest.approx(20 / math.log(2))  # 28.8539…
    assert s.offset == pytest.approx(600 - 28.853900817779268 * math.log(50))  # 487.1228…
    # odds 50:1 → PD 1/51 → 600; doubling the odds adds one PDO
    assert s.score_from_pd(np.array([1 / 51, 1 / 101, 1 / 26])) == pytest.approx([600.0, 620.0, 580.0], abs=1e-9)


def test_pd_and_score_round_trip():
    s = ScoreScale()
    pds = np.array([0.0005, 0.01, 0.2])
    assert s.pd_from_score(s.score_from_pd(pds)) == pytest.approx(pds)


@pytest.mark.parametrize(
    "pd_,grade",
    [(0.0005, "AAA"), (0.001, "AA"), (0.0024, "AA"), (0.0025, "A"), (0.0099, "BBB"), (0.01, "BB"),
     (0.03, "B"), (0.05, "CCC"), (0.1499, "CC"), (0.15, "C"), (0.9, "C")],
)
def test_grade_bands(pd_, grade):
    assert grade_of(np.array([pd_]))[0] == grade


def test_nine_grades_best_first():
    assert GRADES == ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
