"""Validation of streamed text chunks: same values as the whole-file path, whatever the neighbours hold."""
import numpy as np
import pandas as pd

from features.schema import make_uscc
from features.validate import validate_frame


def _text_frame(rows: dict[str, list]) -> pd.DataFrame:
    """Cells as Arrow-backed text, as the streaming reader delivers them."""
    return pd.DataFrame({k: pd.array(v, dtype="string[pyarrow]") for k, v in rows.items()})


FIRM = make_uscc("91110108MA01A2B3C")


def test_a_bad_cell_does_not_change_how_its_neighbours_parse():
    values = ["0.1", "1e-3", " 12.5 ", "0.30000000000000004", "7"]
    alone = validate_frame(_text_frame({"firm_id": [FIRM] * 5, "revenue_y0": values})).frame["revenue_y0"]
    mixed = validate_frame(_text_frame({"firm_id": [FIRM] * 6, "revenue_y0": values + ["lots"]}))
    assert np.array_equal(mixed.frame["revenue_y0"].to_numpy()[:5], alone.to_numpy())
    assert alone.tolist() == [0.1, 0.001, 12.5, 0.30000000000000004, 7.0]
    assert mixed.rejects[["row", "field", "rule", "value"]].values.tolist() == [[5, "revenue_y0", "type:number", "lots"]]


def test_blank_text_cells_are_missing_not_errors():
    checked = validate_frame(_text_frame({"firm_id": [FIRM] * 3, "revenue_y0": ["  ", None, "3"],
                                          "current_overdue": ["", " ", "否"]}))
    assert checked.rejects.empty
    assert np.isnan(checked.frame["revenue_y0"].iloc[0]) and checked.frame["revenue_y0"].iloc[2] == 3.0
    assert checked.frame["current_overdue"].isna().tolist() == [True, True, False]
