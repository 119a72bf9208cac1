"""Atomic files and OWASP formula neutralising."""
from __future__ import annotations

import os
import sys

import pyarrow as pa
import pytest

from service.batch.output import AtomicFile, TableSink, format_of, neutralise_formulas


def test_formula_cells_get_a_quote_numbers_do_not():
    table = pa.table({
        "text": ["=1+2", "+86 10 1234", "-1+2", "@SUM(A1)", "\tx", "-5", "+3.5e2", "plain", None, ""],
        "points": [-1.5, -2.0, 3.0, 0.0, 1.0, -5.0, 2.0, 1.0, 0.0, -0.25],
    })
    out = neutralise_formulas(table)
    assert out.column("text").to_pylist() == ["'=1+2", "'+86 10 1234", "'-1+2", "'@SUM(A1)", "'\tx", "-5", "+3.5e2",
                                              "plain", None, ""]
    assert out.column("points").equals(table.column("points"))


def test_atomic_file_is_invisible_until_commit_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with AtomicFile(target) as f:
        f.file.write(b"new")
        assert target.read_text() == "old"
        f.commit()
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_TMPFILE is Linux's")
def test_commit_links_the_written_file_in_without_copying_it(tmp_path):
    """A scored register is gigabytes: publishing it must be a rename, not a second write."""
    with AtomicFile(tmp_path / "out.csv") as f:
        f.file.write(b"rows")
        written = os.fstat(f.file.fileno())
        f.write_behind()
        f.commit()
    published = os.stat(tmp_path / "out.csv")
    assert (published.st_dev, published.st_ino) == (written.st_dev, written.st_ino)
    assert (tmp_path / "out.csv").read_bytes() == b"rows"


def test_discarded_atomic_file_leaves_nothing(tmp_path):
    with AtomicFile(tmp_path / "out.csv") as f:
        f.file.write(b"partial")
    assert list(tmp_path.iterdir()) == []


def test_csv_sink_writes_the_header_once(tmp_path):
    table = pa.table({"a": ["x"], "b": [1.5]})
    with AtomicFile(tmp_path / "o.csv") as f:
        sink = TableSink(f.file, table.schema, "csv")
        sink.write(table)
        sink.write(table)
        sink.close()
        f.commit()
    assert (tmp_path / "o.csv").read_text() == '"a","b"\n"x",1.5\n"x",1.5\n'
    assert format_of(tmp_path / "o.parquet") == "parquet" and format_of(tmp_path / "o.txt", "CSV") == "csv"


def test_full_width_and_space_prefixed_formulas_are_neutralised_too():
    risky = ["\uff1d1+1", "\uff0bA1", "\uff0d1", "\uff20SUM(A1)", "\ufe66cmd", " =1+1", "\u3000=1", "\u00a0+1",
             "\ufeff@x", "\u200b-1+1", "\n=1", "\r", "\t-5"]
    safe = ["Acme = good", " Acme", "\u3000北京科技", "-5", "+3.5e2", "1-2", "'=already", ""]
    out = neutralise_formulas(pa.table({"text": risky + safe})).column("text").to_pylist()
    assert out == ["'" + v for v in risky] + safe
