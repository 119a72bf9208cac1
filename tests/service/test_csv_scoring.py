"""CSV scoring helpers: reading uploads, the audit trail's JSON rows."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from service.csv_scoring import CsvError, json_rows, read_csv_text


def test_json_rows_write_one_object_per_row_with_missing_as_null():
    frame = pd.DataFrame({"row": np.array([0, 7], dtype=np.int64), "pd": [0.0125, np.nan],
                          "name": ['澄视 "AI"', None], "ok": [True, False]})
    frame["code"] = pd.Series(["A", np.nan], dtype=object)
    assert json_rows(frame) == ['{"row":0,"pd":0.0125,"name":"澄视 \\"AI\\"","ok":true,"code":"A"}',
                                '{"row":7,"pd":null,"name":null,"ok":false,"code":null}']
    assert json_rows(frame.iloc[1:]) == [json_rows(frame)[1]]
    assert json_rows(frame[[]]) == ["{}", "{}"]


@pytest.mark.parametrize("text", ["a,b\n1,2\n", 'a,b\n"x\ny",2\n', "a,a\n1,2\n", "a,b\n,\n1,2\n", "a,\n01,2\n",
                                  "a,b\n1,2\n   \n3,4\n", "a,b\n1,2\n3\n", "a,b\nNA,null\n"])
def test_csv_text_reads_as_pandas_reads_it_every_cell_as_text(text):
    expected = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(read_csv_text(text), expected)


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_csv_is_a_csv_error(text):
    with pytest.raises(CsvError, match="empty"):
        read_csv_text(text)
