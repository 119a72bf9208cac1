import numpy as np
import pandas as pd
import pytest

from features.tabular import OTHER, TabularConfig, TabularConfigError, TabularSpec, infer_kind, load_tabular_config, target_labels


@pytest.mark.parametrize(
    "name, values, kind",
    [
        ("amount", ["1,200", "NA", "35.5", ""], "numeric"),
        ("customer_id", [f"C{i}" for i in range(100)], "exclude"),
        ("row_no", list(range(1, 101)), "exclude"),
        ("opened", ["2021-03-04", "2020-11-30", "2019-01-01"] * 10, "exclude"),
        ("purpose", ["car", "tv", "car", None], "categorical"),
        ("flag", ["x", "x", "NA"], "exclude"),  # constant
    ],
)
def test_types_are_inferred(name, values, kind):
    assert infer_kind(name, pd.Series(values, dtype=object))[0] == kind


def test_formatted_numbers_are_numbers():
    from features.tabular import _as_numbers

    values, bad = _as_numbers(pd.Series(["13.5%", "$1,200", "¥ 3", "n/a", "abc"], dtype=object))
    np.testing.assert_allclose(values[:3], [0.135, 1200.0, 3.0])
    assert np.isnan(values[3]) and bad.tolist() == [False, False, False, False, True]


def test_categories_ordered_by_training_default_rate_only():
    raw = pd.DataFrame({"cat": ["a"] * 100 + ["b"] * 100 + ["c"] * 100 + ["rare"] * 3, "y": 0})
    y = np.zeros(len(raw), dtype=int)
    y[:40] = 1  # a: 40%
    y[100:110] = 1  # b: 10%, c: 0%
    tr = np.arange(len(raw))
    spec = TabularSpec.fit(raw, y, tr, "y")
    assert spec.columns[0].categories[0] == "c" and spec.columns[0].categories[-1] == "a"
    assert "rare" not in spec.columns[0].categories and OTHER in spec.columns[0].categories
    y2 = y.copy()
    y2[200:300] = 1  # labels outside the training rows do not move the order
    assert TabularSpec.fit(raw, y2, np.arange(200), "y").columns[0].categories == TabularSpec.fit(raw, y, np.arange(200), "y").columns[0].categories
    X = spec.transform(pd.DataFrame({"cat": ["a", "rare", "never seen", None]}))
    cats = spec.columns[0].categories
    assert X[:, 0][:3].tolist() == [cats.index("a"), cats.index(OTHER), cats.index(OTHER)] and np.isnan(X[3, 0])


def test_validate_names_row_field_and_rule():
    raw = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0] * 20, "id": range(80)})
    spec = TabularSpec.fit(raw, np.array([0, 1] * 40), np.arange(80), "target_absent")
    checked = spec.validate(pd.DataFrame({"amount": ["5", "five", ""], "id": [1, 2, 3]}))
    assert len(checked.frame) == 2
    r = checked.rejects.iloc[0]
    assert (r["row"], r["field"], r["rule"], r["value"]) == (1, "amount", "number", "five")
    with pytest.raises(TabularConfigError, match="amount"):
        spec.validate(pd.DataFrame({"other": [1]}))


def test_target_labels_and_positive_value():
    raw = pd.DataFrame({"class": ["good", "bad", "good"]})
    assert target_labels(raw, "class", "bad").tolist() == [0, 1, 0]
    with pytest.raises(TabularConfigError, match="target_positive"):
        target_labels(raw, "class")


def test_config_typos_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("columns:\n  age: {direction: 2}\n", encoding="utf-8")
    with pytest.raises(TabularConfigError, match="columns.age.direction"):
        load_tabular_config(path)
    path.write_text("colums: {}\n", encoding="utf-8")
    with pytest.raises(TabularConfigError, match="colums"):
        load_tabular_config(path)
    assert load_tabular_config(None) == TabularConfig()
