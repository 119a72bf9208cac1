"""Officer-typed changes: parsing rules with their messages, and vectorised application."""
from __future__ import annotations

import numpy as np
import pytest

from features.clean import day_number
from models.changes import ChangeError, apply_change, parse_change


@pytest.mark.parametrize("field, spec, kind, amount", [
    ("invention_patents_granted", "+2", "add", 2.0),
    ("rd_expense_y0", "+20%", "scale", 0.2),
    ("guarantees_outstanding", "-50%", "scale", -0.5),
    ("top5_customer_share", "-0.05", "add", -0.05),
    ("paid_in_capital", "=registered_capital", "set_field", "registered_capital"),
    ("rd_staff", "12", "set", 12.0),
    ("rd_staff", 12, "set", 12.0),
    ("rd_capitalized_y0", "=0", "set", 0.0),
    ("tax_grade", "a", "set", "A"),
    ("tax_grade", "+1", "shift", 1),
    ("qualification_tier", "little_giant", "set", "little_giant"),
    ("state_fund_backed", "yes", "set", 1.0),
    ("latest_round_date", "2024-05-01", "set", day_number("2024-05-01")),
])
def test_parse(field, spec, kind, amount):
    ch = parse_change(field, spec)
    assert (ch.kind, ch.amount) == (kind, amount)


@pytest.mark.parametrize("field, spec, message", [
    ("patents", "+1", "patents: unknown field"),
    ("firm_id", "x", "firm_id: the firm's identity cannot be changed"),
    ("rd_staff", "lots", "rd_staff: expected a number or a change like +2 / +20% / =other_field, got 'lots'"),
    ("rd_staff", "+0", "rd_staff: change '+0' changes nothing"),
    ("paid_in_capital", "=registerd_capital", "paid_in_capital: '=registerd_capital' must name a numeric profile field"),
    ("tax_grade", "E", "tax_grade: expected one of A, B, M, C, D or a level shift like +1, got 'E'"),
    ("tax_grade", "+1.5", "tax_grade: a level shift must be a non-zero whole number"),
    ("founder_background", "+1", "founder_background: expected one of none, executive, phd_professor, serial_exit, got '+1'"),
    ("state_fund_backed", "maybe", "state_fund_backed: expected true or false"),
    ("as_of", "30/06/2025", "as_of: expected an ISO date YYYY-MM-DD"),
    ("revenue_y0", float("inf"), "revenue_y0: value must be a finite number"),
])
def test_parse_errors_name_field_and_rule(field, spec, message):
    with pytest.raises(ChangeError) as err:
        parse_change(field, spec)
    assert message in str(err.value)


def test_apply_on_chosen_rows_keeps_missing_missing():
    cols = {"staff_total": np.array([10.0, 15.0, np.nan]),
            "tax_grade": np.array(["M", "A", None], dtype=object),
            "paid_in_capital": np.array([100.0, 200.0, 50.0]),
            "registered_capital": np.array([300.0, 200.0, 80.0])}
    delta = apply_change(cols, parse_change("staff_total", "+10%"), np.array([True, True, True]))
    assert list(cols["staff_total"][:2]) == [11.0, 16.0] and np.isnan(cols["staff_total"][2])  # whole persons
    assert list(delta[:2]) == [1.0, 1.0]
    apply_change(cols, parse_change("tax_grade", "+1"))
    assert list(cols["tax_grade"]) == ["B", "A", None]  # A stays the best, missing stays missing
    apply_change(cols, parse_change("paid_in_capital", "=registered_capital"), np.array([True, False, True]))
    assert list(cols["paid_in_capital"]) == [300.0, 200.0, 80.0]
