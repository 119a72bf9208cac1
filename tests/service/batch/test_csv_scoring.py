"""CSV scoring helpers: reading uploads."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from service.batch.csv_scoring import CsvError, read_csv_text


@pytest.mark.parametrize("text", ["a,b\n1,2\n", 'a,b\n"x\ny",2\n', "a,a\n1,2\n", "a,b\n,\n1,2\n", "a,\n01,2\n",
                                  "a,b\n1,2\n   \n3,4\n", "a,b\n1,2\n3\n", "a,b\nNA,null\n"])
def test_csv_text_reads_as_pandas_reads_it_every_cell_as_text(text):
    expected = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(read_csv_text(text), expected)


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_csv_is_a_csv_error(text):
    with pytest.raises(CsvError, match="empty"):
        read_csv_text(text)
