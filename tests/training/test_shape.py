"""training.shape: monotone / single-peaked projection, ramps, slope limit — hand-computed cases."""
import numpy as np

from models.explain import AdditiveTables
from training.shape import _ramps, _valley, _valley_on, limit_slopes, shape_tables


def test_a_jump_becomes_a_linear_ramp_around_its_threshold():
    # step 0 → 1 at t = 10, half-width 1: 0 up to 9, 1 from 11, 0.5 at 10
    knots, levels = _ramps(np.array([10.0]), np.array([0.0, 1.0]), np.array([1.0]))
    np.testing.assert_allclose(knots, [9.0, 11.0])
    np.testing.assert_allclose(levels, [0.0, 1.0])
    assert np.interp(10.0, knots, levels) == 0.5


def test_overlapping_ramps_add_up():
    knots, levels = _ramps(np.array([1.0, 2.0]), np.array([0.0, 1.0, 3.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(knots, [0.0, 1.0, 2.0, 3.0])
    # at 1: first ramp half way (0.5), second starts (0) → 0.5; at 2: 1 + 2 × 0.5 = 2
    np.testing.assert_allclose(levels, [0.0, 0.5, 2.0, 3.0])


def test_valley_fit_falls_then_rises():
    y = np.array([3.0, 1.0, 2.0, 0.0, 1.0, 4.0])
    fit, low = _valley(y, np.ones_like(y))
    p = int(np.argmin(fit))
    assert (np.diff(fit[: p + 1]) <= 0).all() and (np.diff(fit[p:]) >= 0).all()
    assert low == 3 and fit[3] == 0.0


def test_slope_limit_flattens_only_where_firms_could_move_too_far():
    knots, levels = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.1])
    # firms at 0.5 move by 0.1 for 1% of an input: the budget 0.05 allows a rise of 0.5 per unit
    out = limit_slopes(knots, levels, np.array([0.5, 0.5]), np.array([0.1, 0.1]), budget=0.05)
    steps = np.diff(out)
    np.testing.assert_allclose(steps, [0.5, 0.1])  # the neighbour segment's 0.1 is within its allowed 0.5
    np.testing.assert_allclose(np.interp(0.5, knots, out), np.interp(0.5, knots, levels))  # the firms' mean kept


def test_shaped_tables_are_monotone_and_continuous():
    tables = AdditiveTables(0.0, [np.array([1.0, 2.0, 3.0])], [np.array([0.0, 0.4, 0.3, 1.0])], np.array([0.2]))
    X = np.array([[0.5], [1.5], [2.5], [3.5]] * 10)
    curves, report = shape_tables(tables, X, ["increasing"])
    _, levels = curves.curve(0)
    assert (np.diff(levels) >= 0).all() and report.optimum == [None]
    x = np.linspace(0, 4, 401)
    assert np.abs(np.diff(curves.at(0, x))).max() < 0.05  # no jump
    assert curves.missing[0] == 0.2


def test_valley_on_a_declared_range_is_lowest_and_flat_there():
    # intervals 0..5; the range covers intervals 2..3, whose own lowest point (interval 4) lies beside it
    y = np.array([3.0, 2.0, 1.0, 0.5, 0.0, 2.0])
    fit = _valley_on(y, np.ones_like(y), 2, 3)
    np.testing.assert_allclose(fit[2], fit[3])
    assert fit[2] == fit.min() and (np.diff(fit[:3]) <= 0).all() and (np.diff(fit[3:]) >= 0).all()
    np.testing.assert_allclose(fit[:2], [3.0, 2.0])  # the left side untouched


def test_a_declared_sound_range_is_flat_and_reported_on_the_shaped_curve():
    # steps with their lowest level at 6; declared sound range [4, 8]: jumps at 3 and 9 ramp outside it
    breaks = np.array([3.0, 5.0, 7.0, 9.0])
    tables = AdditiveTables(0.0, [breaks], [np.array([2.0, 1.0, 0.0, 0.5, 1.5])], np.array([1.0]))
    X = np.array([[1.0], [4.0], [6.0], [8.0], [10.0]] * 20)
    curves, report = shape_tables(tables, X, ["peak"], sounds=[(4.0, 8.0)])
    inside = curves.at(0, np.linspace(4.0, 8.0, 41))
    assert np.ptp(inside) <= 1e-12 and abs(inside[0] - curves.curve(0)[1].min()) <= 1e-12
    low, high = report.optimum[0]
    assert low <= 4.0 and high >= 8.0
    x = np.linspace(0.0, 12.0, 1201)
    steps = np.diff(curves.at(0, x))
    assert (steps[x[1:] <= 4.0] <= 1e-12).all() and (steps[x[:-1] >= 8.0] >= -1e-12).all()
