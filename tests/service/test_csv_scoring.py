"""CSV scoring helpers: the audit trail's JSON rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from service.csv_scoring import json_rows


def test_json_rows_write_one_object_per_row_with_missing_as_null():
    frame = pd.DataFrame({"row": np.array([0, 7], dtype=np.int64), "pd": [0.0125, np.nan],
                          "name": ['澄视 "AI"', None], "ok": [True, False]})
    frame["code"] = pd.Series(["A", np.nan], dtype=object)
    assert json_rows(frame) == ['{"row":0,"pd":0.0125,"name":"澄视 \\"AI\\"","ok":true,"code":"A"}',
                                '{"row":7,"pd":null,"name":null,"ok":false,"code":null}']
    assert json_rows(frame.iloc[1:]) == [json_rows(frame)[1]]
    assert json_rows(frame[[]]) == ["{}", "{}"]
