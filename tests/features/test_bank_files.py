"""The bank's own files: mapping files, map suggestions, Excel sheets and the generated bank export."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.io import InputError, file_pieces, input_columns, read_upload, sample_rows
from features.mapping import MappingError, mapping_of, parse_mapping, suggest_mapping
from features.schema import FIELD_NAMES, make_uscc
from features.validate import validate_frame
from training.bank_export import bank_export, write_bank_export
from training.synthetic import LABEL_COLUMNS, generate

VALID = make_uscc("91440300MA5DK7QX2")
EXPORT_ROWS, EXPORT_SEED = 600, 11


# ----------------------------------------------------------------- mapping files
def test_mapping_renames_and_applies_column_units() -> None:
    m = parse_mapping("columns:\n  代码: firm_id\n  营业收入（元）: {field: revenue_y0, unit: 元}\n"
                      "  占比: {field: top5_customer_share, unit: '%'}\n")
    raw = pd.DataFrame({"代码": [VALID, VALID], "营业收入（元）": ["68,000,000.00", "5万"], "占比": ["45", ""]})
    res = validate_frame(m.apply(raw))
    assert res.rejects.empty
    assert res.frame["revenue_y0"].tolist() == [6800.0, 5.0]  # a cell with its own unit keeps it
    assert res.frame["top5_customer_share"].iloc[0] == 0.45 and np.isnan(res.frame["top5_customer_share"].iloc[1])
    assert res.normalised == Counter({"unit:元": 1, "unit:万": 1, "thousands_separator": 1, "percent": 1})


@pytest.mark.parametrize("text,words", [
    ("columns:\n  a: revenue\n", "not a field"),
    ("columns:\n  a: {field: staff_total, unit: 元}\n", "does not fit"),
    ("columns:\n  a: revenue_y0\n  b: revenue_y0\n", "more than one column"),
    ("columns: [a, b]\n", "expected `columns:`"),
    ("columns:\n  a: [\n", "not valid YAML"),
])
def test_bad_mapping_files_are_clear_errors(text: str, words: str) -> None:
    with pytest.raises(MappingError, match=words.replace("`", ".")):
        parse_mapping(text)


def test_a_mapping_naming_a_missing_column_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("统一社会信用代码,营业收入\n" + VALID + ",1\n", encoding="utf-8")
    with pytest.raises(MappingError, match="Revenue FY2024"):
        list(file_pieces(src, None, parse_mapping("columns:\n  Revenue FY2024: revenue_y0\n")))


# ----------------------------------------------------------------- Excel
def _xlsx(path: Path, build) -> Path:  # type: ignore[no-untyped-def]
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    build(wb)
    wb.close()
    return path


def test_xlsx_title_rows_merged_headers_and_totals(tmp_path: Path) -> None:
    def build(wb) -> None:  # type: ignore[no-untyped-def]
        ws = wb.add_worksheet("清单")
        ws.merge_range(0, 0, 0, 3, "XX银行 科技企业名单")
        ws.merge_range(1, 0, 2, 0, "统一社会信用代码")  # header merged down two rows
        ws.merge_range(1, 1, 1, 3, "财务信息")  # group header over three columns
        ws.write_row(2, 1, ["营业收入(当年)", "成立日期", "前五大客户销售占比"])
        ws.write_row(3, 0, [VALID, 6800.5])
        ws.write_datetime(3, 2, datetime(2021, 3, 5), wb.add_format({"num_format": "yyyy/m/d"}))
        ws.write_number(3, 3, 0.45, wb.add_format({"num_format": "0.0%"}))
        ws.write_row(4, 0, [VALID, 12, 44260, "45%"])
        ws.write_row(5, 0, ["合计", 6812.5])
    path = _xlsx(tmp_path / "a.xlsx", build)
    assert input_columns(path) == ["统一社会信用代码", "营业收入(当年)", "成立日期", "前五大客户销售占比"]
    (piece,) = list(file_pieces(path))
    chunk = piece.read()
    res = validate_frame(chunk.frame)
    assert res.rejects.empty and chunk.n_rows == 2
    assert res.frame["revenue_y0"].tolist() == [6800.5, 12.0]
    assert res.frame["founded_on"].tolist() == [pd.Timestamp("2021-03-05")] * 2
    assert res.frame["top5_customer_share"].tolist() == [0.45, 0.45]
    assert chunk.notes == Counter({"xlsx:title_rows_skipped": 2, "xlsx:total_rows_dropped": 1})


def test_xlsx_total_row_in_the_middle_is_data_and_sheets_by_name_or_number(tmp_path: Path) -> None:
    def build(wb) -> None:  # type: ignore[no-untyped-def]
        wb.add_worksheet("说明").write(0, 0, "见第二页")
        ws = wb.add_worksheet("数据")
        ws.write_row(0, 0, ["统一社会信用代码", "营业收入(当年)"])
        ws.write_row(1, 0, ["合计", 1])
        ws.write_row(2, 0, [VALID, 2])
    path = _xlsx(tmp_path / "b.xlsx", build)
    for sheet in ("数据", "2"):
        res = validate_frame(pd.concat([p.read().frame for p in file_pieces(path, sheet=sheet)]))
        assert res.n_input == 2 and set(res.rejects["rule"]) == {"uscc_check"}
    with pytest.raises(InputError, match="no sheet '3'"):
        list(file_pieces(path, sheet="3"))


@pytest.mark.parametrize("build,words", [
    (lambda wb: wb.add_worksheet().write_row(0, 0, ["统一社会信用代码", None, "营业收入(当年)"]) or
     wb.worksheets()[0].write_row(1, 0, [VALID, 1, 2]), "header cell B1 is empty"),
    (lambda wb: wb.add_worksheet().write_row(0, 0, ["a", "a"]) or wb.worksheets()[0].write_row(1, 0, [1, 2]),
     "appears 2 times"),
])
def test_xlsx_header_problems_are_clear(tmp_path: Path, build, words: str) -> None:  # type: ignore[no-untyped-def]
    path = _xlsx(tmp_path / "c.xlsx", build)
    with pytest.raises(InputError, match=words):
        list(file_pieces(path))


def test_upload_bytes_read_as_xlsx_or_csv(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "d.xlsx", lambda wb: wb.add_worksheet().write_row(0, 0, ["Revenue FY2024"]) or
                 wb.worksheets()[0].write_row(1, 0, [6800]))
    m = parse_mapping("columns:\n  Revenue FY2024: {field: revenue_y0, unit: 万元}\n")
    frame, _ = read_upload(path.read_bytes(), m)
    assert list(frame.columns) == ["revenue_y0"] and frame.iloc[0, 0] == "6800"
    frame, _ = read_upload(b"Revenue FY2024\n6800\n", m, read_csv=lambda b: pd.read_csv(pd.io.common.BytesIO(b),
                                                                                         dtype=str))
    assert list(frame.columns) == ["revenue_y0"]


# ----------------------------------------------------------------- the bank export
@pytest.fixture(scope="module")
def export(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("export")
    exp = bank_export(EXPORT_ROWS, EXPORT_SEED, date(2026, 6, 30))
    return exp, write_bank_export(exp, folder / "export.csv"), write_bank_export(exp, folder / "export.xlsx")


@pytest.mark.parametrize("which", [1, 2], ids=["gbk-csv", "xlsx"])
def test_map_suggest_places_every_column_of_the_export(export, which: int) -> None:  # type: ignore[no-untyped-def]
    exp, path = export[0], export[which]
    guesses = suggest_mapping(sample_rows(path))
    truth = {head: fld for fld, head in exp.headers.items()}
    assert {g.header: g.field for g in guesses} == {h: truth.get(h) for h in [g.header for g in guesses]}
    assert sum(g.field is None for g in guesses) == 2  # 序号 and 备注
    assert all(g.confidence >= 0.8 for g in guesses if g.field)


@pytest.mark.parametrize("which", [1, 2], ids=["gbk-csv", "xlsx"])
def test_export_read_with_suggested_mapping_equals_the_generated_firms(export, which: int) -> None:  # type: ignore[no-untyped-def]
    exp, path = export[0], export[which]
    assert path.suffix == ".xlsx" or path.read_bytes().count(b"\r\n") == EXPORT_ROWS + 1
    mapping = mapping_of(suggest_mapping(sample_rows(path)))
    frame = pd.concat([p.read().frame for p in file_pieces(path, None, mapping)], ignore_index=True)
    got = validate_frame(frame, as_of_default=date(2026, 6, 30))
    assert np.array_equal(np.unique(got.rejects["row"]), exp.planted_rows)
    assert set(map(tuple, got.rejects[["row", "field", "rule"]].values.tolist())) == set(
        map(tuple, exp.planted[["row", "field", "rule"]].values.tolist()))
    plain = generate(EXPORT_ROWS, EXPORT_SEED).drop(columns=list(LABEL_COLUMNS))
    want = validate_frame(plain, as_of_default=date(2026, 6, 30)).frame
    keep = want.index.difference(exp.planted_rows)
    pd.testing.assert_frame_equal(got.frame.loc[keep, list(FIELD_NAMES)], want.loc[keep, list(FIELD_NAMES)])
    assert got.normalised["enum:chinese_name"] > 0 and got.normalised["unit:元"] > 0


def test_every_header_variant_of_the_generator_is_placed() -> None:
    from features.schema import FIELD_SPECS
    from training.bank_export import _header_variants

    heads = {h: f for f in FIELD_SPECS for h in _header_variants(f)}
    heads |= {f"{FIELD_SPECS[f].label_zh}（元）": f for f in FIELD_SPECS if FIELD_SPECS[f].unit == "万元"}
    placed = {h: suggest_mapping(pd.DataFrame({h: pd.Series([], dtype=object)}))[0].field for h in heads}
    assert placed == heads


def test_suggest_fuzzy_headers_sample_values_and_unplaced_columns() -> None:
    sample = pd.DataFrame({"营业收入（当年度）": ["6,800.00"], "编号": [VALID], "研发": ["1"],
                           "占比(%)": ["45"], "Tax credit grade": ["A级"]})
    g = {x.header: x for x in suggest_mapping(sample)}
    assert g["营业收入（当年度）"].field == "revenue_y0" and "similar" in g["营业收入（当年度）"].reason
    assert 0.8 <= g["营业收入（当年度）"].confidence < 1
    assert g["编号"].field == "firm_id" and "USCC" in g["编号"].reason  # found by its values
    assert g["研发"].field is None and g["研发"].alternatives  # too vague: left for a person, with candidates
    assert g["Tax credit grade"].field == "tax_grade" and g["Tax credit grade"].confidence == 1.0
