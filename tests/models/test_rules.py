"""The policy's condition language: every operator by hand, missing values never satisfy a condition."""
from __future__ import annotations

import numpy as np
import pytest

from models.rules import Condition, isin

NUMBERS = np.array([0.0, 1.0, 2.0, np.nan])
TAX = np.array(["A", "B", "D", None, np.nan], dtype=object)  # order D < C < M < B < A


@pytest.mark.parametrize("op,value,expected", [
    ("ge", 1, [0, 1, 1, 0]), ("gt", 1, [0, 0, 1, 0]), ("le", 1, [1, 1, 0, 0]), ("lt", 1, [1, 0, 0, 0]),
    ("eq", 1, [0, 1, 0, 0]), ("ne", 1, [1, 0, 1, 0]), ("in", [0, 2], [1, 0, 1, 0]), ("not_in", [0, 2], [0, 1, 0, 0]),
])
def test_number_operators_and_a_missing_value(op, value, expected):
    cond = Condition(field="invention_patents_granted", op=op, value=value)
    np.testing.assert_array_equal(cond.evaluate({"invention_patents_granted": NUMBERS}), np.array(expected, dtype=bool))


@pytest.mark.parametrize("op,value,expected", [
    ("eq", "A", [1, 0, 0, 0, 0]), ("ne", "A", [0, 1, 1, 0, 0]), ("in", ["A", "B"], [1, 1, 0, 0, 0]),
    ("not_in", ["A", "B"], [0, 0, 1, 0, 0]), ("at_least", "B", [1, 1, 0, 0, 0]), ("at_most", "M", [0, 0, 1, 0, 0]),
    ("at_most", "A", [1, 1, 1, 0, 0]),
])
def test_enum_operators_order_and_missing_values(op, value, expected):
    cond = Condition(field="tax_grade", op=op, value=value)
    np.testing.assert_array_equal(cond.evaluate({"tax_grade": TAX}), np.array(expected, dtype=bool))


def test_flags_compare_as_true_and_false():
    flags = {"current_overdue": np.array([1.0, 0.0, np.nan])}
    np.testing.assert_array_equal(Condition(field="current_overdue", op="eq", value=True).evaluate(flags), [1, 0, 0])
    np.testing.assert_array_equal(Condition(field="current_overdue", op="ne", value=True).evaluate(flags), [0, 1, 0])


def test_assessment_grades_compare_by_rank():
    grades = {"grade": np.array(["AAA", "BBB", "BB", "C"], dtype=object)}
    np.testing.assert_array_equal(Condition(field="grade", op="at_least", value="BBB").evaluate(grades), [1, 1, 0, 0])
    np.testing.assert_array_equal(Condition(field="grade", op="at_most", value="BB").evaluate(grades), [0, 0, 1, 1])


def test_one_row_and_no_rows():
    cond = Condition(field="tax_grade", op="at_least", value="B")
    assert cond.evaluate({"tax_grade": np.array(["A"], dtype=object)}).tolist() == [True]
    assert cond.evaluate({"tax_grade": np.array([], dtype=object)}).shape == (0,)
    assert isin(np.array([None, "x"], dtype=object), ()).tolist() == [False, False]


def test_rule_text():
    assert Condition(field="grade", op="at_least", value="BBB").describe() == "grade at least BBB"
    assert Condition(field="latest_round", op="in", value=["b", "c_plus"]).describe() == "latest_round in [b, c_plus]"
    assert Condition(field="current_overdue", op="eq", value=True).describe() == "current_overdue = true"
