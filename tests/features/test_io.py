"""Streaming reader: encodings, malformed lines, row positions, partition folders, byte ranges."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.io import InputError, TableStream, detect_encoding, input_files, iter_tables, read_csv_range

HEADER = "firm_id,name,revenue_y0\n"


def _rows(n: int, start: int = 0) -> str:
    return "".join(f"F{i:05d},公司{i},{i}.5\n" for i in range(start, start + n))


def _frames(stream: TableStream) -> tuple[pd.DataFrame, np.ndarray]:
    chunks = list(stream)
    return pd.concat([c.frame for c in chunks], ignore_index=True), np.concatenate([c.rows for c in chunks])


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
    frame, rows = _frames(TableStream(path))
    assert list(frame.columns) == ["firm_id", "名称", "region_code"]
    assert frame["region_code"].tolist() == ["010000", "110101"]  # leading zero kept
    assert frame["名称"].tolist()[0] == "北京科技" and pd.isna(frame["名称"].tolist()[1])
    assert rows.tolist() == [0, 1]


def test_malformed_lines_are_skipped_and_counted_in_positions(tmp_path):
    path = tmp_path / "in.csv"
    body = _rows(5).splitlines(keepends=True)
    body.insert(2, "BAD,too,many,cells\n")  # data row 2
    path.write_text(HEADER + "".join(body), encoding="utf-8")
    stream = TableStream(path)
    frame, rows = _frames(stream)
    assert frame["firm_id"].tolist() == ["F00000", "F00001", "F00002", "F00003", "F00004"]
    assert rows.tolist() == [0, 1, 3, 4, 5]
    [bad] = stream.malformed
    assert (bad.row, bad.expected, bad.actual) == (2, 3, 4) and bad.text.startswith("BAD")
    assert stream.rows_read == 6


def test_small_blocks_keep_positions_continuous(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(HEADER + _rows(2000), encoding="utf-8")
    chunks = list(TableStream(path, block_bytes=4096))
    assert len(chunks) > 5
    rows = np.concatenate([c.rows for c in chunks])
    assert rows.tolist() == list(range(2000))


def test_folder_and_glob_inputs_are_sorted_and_numbered_across_files(tmp_path):
    (tmp_path / "b.csv").write_text(HEADER + _rows(3, 10), encoding="utf-8")
    (tmp_path / "a.csv").write_text(HEADER + _rows(2), encoding="utf-8")
    (tmp_path / ".hidden.csv").write_text(HEADER, encoding="utf-8")
    (tmp_path / "notes.md").write_text("x", encoding="utf-8")
    assert [p.name for p in input_files(tmp_path)] == ["a.csv", "b.csv"]
    assert [p.name for p in input_files(str(tmp_path / "*.csv"))] == ["a.csv", "b.csv"]
    positions = [c.rows.tolist() for s in iter_tables(tmp_path) for c in s]
    assert sum(positions, []) == [0, 1, 2, 3, 4]
    with pytest.raises(InputError, match="no CSV or Parquet input"):
        input_files(tmp_path / "missing.csv")


def test_byte_ranges_split_on_whole_lines(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(HEADER + _rows(100), encoding="utf-8")
    size = path.stat().st_size
    ranges = [read_csv_range(path, s, min(s + 97, size)) for s in range(0, size, 97)]
    assert all(r.startswith(HEADER.encode()) for r in ranges)
    assert b"".join(r[len(HEADER):] for r in ranges) == _rows(100).encode()


def test_empty_file_is_an_input_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="no header"):
        list(TableStream(path))
