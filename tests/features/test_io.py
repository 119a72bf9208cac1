"""Streaming reader: encodings, record-aligned blocks, malformed lines, partition folders."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.io import InputError, csv_block_bounds, csv_blocks, detect_encoding, input_files

HEADER = "firm_id,name,revenue_y0\n"


def _rows(n: int, start: int = 0) -> str:
    return "".join(f"F{i:05d},公司{i},{i}.5\n" for i in range(start, start + n))


def test_gbk_found_beyond_the_first_sample(tmp_path):
    path = tmp_path / "late.csv"
    ascii_part = HEADER + "".join(f"F{i:05d},firm,{i}\n" for i in range(3000))
    path.write_bytes(ascii_part.encode() + "F99999,北京科技,1\n".encode("gbk") + ascii_part[len(HEADER):].encode())
    assert detect_encoding(path, sample_bytes=4096) == "gb18030"
    (tmp_path / "utf8.csv").write_bytes(ascii_part.encode() + "F99999,北京科技,1\n".encode("utf-8"))
    assert detect_encoding(tmp_path / "utf8.csv", sample_bytes=4096) == "utf-8-sig"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_every_cell_arrives_as_text_in_any_encoding(tmp_path, encoding):
    path = tmp_path / "in.csv"
    path.write_bytes(("firm_id,名称,region_code\n" + "F1,北京科技,010000\nF2,,110101\n").encode(encoding))
    [block] = list(csv_blocks(path))
    chunk = block.read()
    assert list(chunk.frame.columns) == ["firm_id", "名称", "region_code"]
    assert chunk.frame["region_code"].tolist() == ["010000", "110101"]  # leading zero kept
    assert chunk.frame["名称"].tolist()[0] == "北京科技" and pd.isna(chunk.frame["名称"].tolist()[1])
    assert chunk.rows.tolist() == [0, 1] and chunk.n_rows == 2


def test_malformed_lines_are_set_aside_and_counted_in_positions(tmp_path):
    path = tmp_path / "in.csv"
    body = _rows(5).splitlines(keepends=True)
    body.insert(2, "BAD,too,many,cells\n")  # data row 2
    path.write_text(HEADER + "".join(body), encoding="utf-8")
    [block] = list(csv_blocks(path))
    chunk = block.read()
    assert chunk.frame["firm_id"].tolist() == ["F00000", "F00001", "F00002", "F00003", "F00004"]
    assert chunk.rows.tolist() == [0, 1, 3, 4, 5] and chunk.n_rows == 6
    [bad] = chunk.malformed
    assert (bad.row, bad.expected, bad.actual) == (2, 3, 4) and bad.text.startswith("BAD")


def test_blocks_hold_whole_records_even_with_quoted_line_breaks(tmp_path):
    path = tmp_path / "in.csv"
    rows = [f'F{i:05d},"name ""{i}""\nsecond line, with comma",{i}\n' for i in range(300)]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    chunks = [b.read() for b in csv_blocks(path, block_bytes=1024)]
    assert len(chunks) > 5
    assert all(not c.malformed for c in chunks)
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert frame["firm_id"].tolist() == [f"F{i:05d}" for i in range(300)]
    assert frame["name"][7] == 'name "7"\nsecond line, with comma'
    assert sum(c.n_rows for c in chunks) == 300


def test_block_bounds_cover_the_data_exactly(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(HEADER + _rows(500), encoding="utf-8")
    bounds = list(csv_block_bounds(path, 1000))
    assert bounds[0][0] == len(HEADER.encode()) and bounds[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    data = path.read_bytes()
    assert all(data[b - 1:b] == b"\n" for _, b in bounds)
    sub = list(csv_block_bounds(path, 300, *bounds[2]))  # a range split further, as a Dask task does
    assert sub[0][0] == bounds[2][0] and sub[-1][1] == bounds[2][1] and len(sub) > 1


def test_folder_and_glob_inputs_are_sorted(tmp_path):
    (tmp_path / "b.csv").write_text(HEADER + _rows(3, 10), encoding="utf-8")
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / ".hidden.csv").write_text(HEADER, encoding="utf-8")
    (tmp_path / "notes.md").write_text("x", encoding="utf-8")
    assert [p.name for p in input_files(tmp_path)] == ["a.parquet", "b.csv"]
    assert [p.name for p in input_files(str(tmp_path / "*.csv"))] == ["b.csv"]
    with pytest.raises(InputError, match="no CSV or Parquet input"):
        input_files(tmp_path / "missing.csv")


def test_empty_file_is_an_input_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="no header"):
        list(csv_blocks(path))


def test_positions_are_int64(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(HEADER + _rows(3), encoding="utf-8")
    assert next(csv_blocks(path)).read().rows.dtype == np.int64
