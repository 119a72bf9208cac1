"""Field kinds own their tolerance: the spreadsheet forms each kind accepts, what stays a reject, the
normalisation counts, and the pydantic path agreeing with the frame path cell by cell."""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.schema import FirmProfile, make_uscc, violations_from_error
from features.validate import validate_frame

VALID = make_uscc("91440300MA5DK7QX2")


def _frame(field: str, cells: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"firm_id": [VALID] * len(cells), field: pd.Series(cells, dtype=object)})


def _one(field: str, cell: Any) -> tuple[Any, set[str], dict[str, int]]:
    """(clean value or None, rules broken, normalisation counts) of one cell through the frame validator."""
    res = validate_frame(_frame(field, [cell]))
    rules = set(res.rejects["rule"])
    value = None if rules else res.frame[field].iloc[0]
    if isinstance(value, pd.Timestamp):
        value = value.date()
    return value, rules, dict(res.normalised)


@pytest.mark.parametrize("field,cell,value,counted", [
    ("revenue_y0", "6,800.00", 6800.0, "thousands_separator"),
    ("revenue_y0", "６８００", 6800.0, "full_width"),
    ("revenue_y0", "6800万", 6800.0, "unit:万"),
    ("revenue_y0", "6800万元", 6800.0, "unit:万元"),
    ("revenue_y0", "0.68亿", 6800.0, "unit:亿"),
    ("revenue_y0", "68,000,000元", 6800.0, "unit:元"),
    ("revenue_y0", "1234.56元", 0.123456, "unit:元"),
    ("revenue_y0", "1,234.5千元", 123.45, "unit:千元"),
    ("net_profit_y0", "(1,234.00)", -1234.0, "accounting_negative"),
    ("top5_customer_share", "45.0%", 0.45, "percent"),
    ("top5_customer_share", "33.33%", 0.3333, "percent"),
    ("top5_customer_share", "４５％", 0.45, "percent"),
    ("staff_total", "1,200", 1200.0, "thousands_separator"),
    ("staff_total", "28人", 28.0, "unit:人"),
    ("founded_on", "2021/3/5", date(2021, 3, 5), "date:YYYY/M/D"),
    ("founded_on", "2021年3月5日", date(2021, 3, 5), "date:YYYY年M月D日"),
    ("founded_on", "20210305", date(2021, 3, 5), "date:YYYYMMDD"),
    ("founded_on", "2021.03.05", date(2021, 3, 5), "date:YYYY.MM.DD"),
    ("founded_on", "44260", date(2021, 3, 5), "date:excel_serial"),
    ("founded_on", "２０２１/３/５", date(2021, 3, 5), "full_width"),
    ("current_overdue", "有", 1.0, "bool:有/无"),
    ("current_overdue", "无", 0.0, "bool:有/无"),
    ("current_overdue", "√", 1.0, "bool:√/×"),
    ("current_overdue", "×", 0.0, "bool:√/×"),
    ("current_overdue", "Ｙ", 1.0, "full_width"),
    ("worst_loan_class", "次级", "substandard", "enum:chinese_name"),
    ("worst_loan_class", "关注类", "special_mention", "enum:chinese_name"),
    ("latest_round", "天使轮", "angel", "enum:chinese_name"),
    ("latest_round", "A轮", "a", "enum:chinese_name"),
    ("tax_grade", "A级", "A", "enum:chinese_name"),
    ("qualification_tier", "高新技术企业", "hnte", "enum:chinese_name"),
    ("qualification_tier", '专精特新"小巨人"', "little_giant", "enum:chinese_name"),
    ("qualification_tier", "专精特新“小巨人”", "little_giant", "enum:chinese_name"),
    ("region_code", "１１０１０８", "110108", "full_width"),
])
def test_spreadsheet_forms_accepted_and_counted(field: str, cell: str, value: Any, counted: str) -> None:
    got, rules, counts = _one(field, cell)
    assert rules == set()
    assert got == value
    assert counts.get(counted, 0) == 1


@pytest.mark.parametrize("field,cell", [("revenue_y0", "6800"), ("top5_customer_share", "0.45"),
                                        ("founded_on", "2021-03-05"), ("current_overdue", "是"),
                                        ("tax_grade", "a"), ("latest_round", " B ")])
def test_plain_cells_are_not_counted(field: str, cell: str) -> None:
    got, rules, counts = _one(field, cell)
    assert rules == set() and got is not None and counts == {}


@pytest.mark.parametrize("field,cell,rule", [
    ("top5_customer_share", "1,234", "ambiguous:separator"),
    ("top5_customer_share", "0,450", "ambiguous:separator"),
    ("founded_on", "03/05/2021", "ambiguous:date"),
    ("founded_on", "2021", "ambiguous:date"),  # a year, or Excel serial 2021 (1905)?
    ("staff_total", "5万", "unit"),
    ("revenue_y0", "45%", "unit"),
    ("top5_customer_share", "45万", "unit"),
    ("revenue_y0", "1,23", "type:number"),
    ("revenue_y0", "(12", "type:number"),
    ("revenue_y0", "-(12)", "type:number"),
    ("founded_on", "2021/2/29", "date"),
    ("founded_on", "2021/3-5", "date"),
    ("current_overdue", "t", "type:bool"),
    ("current_overdue", "f", "type:bool"),
    ("latest_round", "Z轮", "enum"),
    ("tax_grade", "次级", "enum"),  # a Chinese name of another field's value
    ("top5_customer_share", "4500%", "le:1"),
])
def test_ambiguous_or_wrong_cells_rejected_naming_the_rule(field: str, cell: str, rule: str) -> None:
    got, rules, _ = _one(field, cell)
    assert rules == {rule}
    msg = validate_frame(_frame(field, [cell])).rejects["message"].iloc[0]
    assert f"[规则 {rule}]" in msg and f"[rule {rule}]" in msg and cell in msg


def test_excel_serials_only_in_date_columns() -> None:
    assert _one("revenue_y0", "44260")[0] == 44260.0
    assert _one("founded_on", "44260")[0] == date(2021, 3, 5)
    assert _one("founded_on", 44260)[0] == date(2021, 3, 5)  # a number cell from a typed frame


def test_a_cells_value_does_not_depend_on_its_neighbours() -> None:
    cells = ["6,800.00", "6800", None, "0.68亿", "x", "６８００"]
    together = validate_frame(_frame("revenue_y0", cells))
    alone = [_one("revenue_y0", c)[0] for c in cells]
    got = together.frame["revenue_y0"].reindex(range(len(cells)))
    assert [None if v != v else v for v in got] == [None if v is None or v != v else v for v in alone]
    assert dict(together.normalised) == {"thousands_separator": 1, "unit:亿": 1, "full_width": 1}


# ----------------------------------------------------------------- one rule, two paths
def _pydantic(field: str, cell: Any) -> tuple[Any, set[str]]:
    try:
        value = getattr(FirmProfile(firm_id=VALID, **{field: cell}), field)
    except ValidationError as exc:
        return None, {v["rule"] for v in violations_from_error(exc)}
    return (float(value) if isinstance(value, (bool, int, float)) else value), set()


def _cells(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """Seeded random cells in every form a spreadsheet gives, right and wrong."""
    digits = str.maketrans("0123456789.,%", "０１２３４５６７８９．，％")
    out = []
    for _ in range(n):
        v = float(rng.choice([0, 1, 12, 999, 1234.5, 68000000, 0.45, 45.5, 123456.78]))
        body = rng.choice([f"{v:,.2f}", f"{v:g}", f"{v:,}", f"({v:,.2f})", f"-{v:g}", f"{v:.3f}".replace(".", ",")])
        unit = rng.choice(["", "", "%", "万", "亿", "元", "人", "万元", "千元", "年"])
        cell = body + unit
        if rng.random() < 0.1:
            cell = cell.translate(digits)
        field = rng.choice(["revenue_y0", "net_profit_y0", "top5_customer_share", "staff_total", "tenor_months",
                            "founder_industry_years"])
        out.append((field, cell))
        y, m, d = int(rng.integers(1690, 2210)), int(rng.integers(0, 14)), int(rng.integers(0, 33))
        out.append(("founded_on", str(rng.choice([f"{y}/{m}/{d}", f"{y}年{m}月{d}日", f"{y}{m:02d}{d:02d}",
                                                  f"{y}.{m:02d}.{d:02d}", f"{d:02d}/{m:02d}/{y}",
                                                  str(int(rng.integers(1000, 120000))), f"{y}-{m}-{d}"]))))
        out.append(("current_overdue", str(rng.choice(["有", "无", "√", "×", "Ｙ", "ｎ", "t", "是", "1", "x", "✓"]))))
        out.append((str(rng.choice(["worst_loan_class", "latest_round", "tax_grade", "qualification_tier"])),
                    str(rng.choice(["次级", "A轮", "a", "A级", "高新技术企业", "Ｂ", "c轮", " hnte ", "小巨人", "无",
                                    "正常类", "Pre-IPO轮", "b级"]))))
    return out


def test_pydantic_and_frame_paths_agree_on_thousands_of_cells() -> None:
    rng = np.random.default_rng(18)
    cells = _cells(rng, 600)  # 2400 cells
    by_field: dict[str, list[str]] = {}
    for f, c in cells:
        by_field.setdefault(f, []).append(c)
    checked = 0
    for field, values in by_field.items():
        res = validate_frame(_frame(field, values))
        rules = res.rejects.groupby("row")["rule"].agg(set).to_dict()
        for i, cell in enumerate(values):
            frame_value = None if i in rules else res.frame[field].loc[i]
            if isinstance(frame_value, pd.Timestamp):
                frame_value = frame_value.date()
            p_value, p_rules = _pydantic(field, cell)
            assert p_rules == rules.get(i, set()), (field, cell)
            if not p_rules:
                assert p_value == frame_value or (p_value is None and frame_value != frame_value), (field, cell)
            checked += 1
    assert checked == 2400


def test_generator_reads_the_schema_kinds() -> None:
    from training import synthetic as S

    df = pd.DataFrame({"current_overdue": ["t", "f", "是", "有"]})
    assert np.array_equal(S._flag(df, "current_overdue"), [np.nan, np.nan, 1.0, 1.0], equal_nan=True)
    assert S.ENUMS["lifecycle_stage"] == ("startup", "growth", "mature")
    assert set(S.INT_FIELDS) == {f for f, s in __import__("features.schema").schema.FIELD_SPECS.items()
                                 if s.kind == "integer"}


def test_full_width_digits_read_the_same_through_the_api_model_and_the_file_validator() -> None:
    import pandas as pd

    from features.schema import FirmProfile
    from features.validate import validate_frame

    row = {"firm_id": "91440300MA5DK7QX24", "revenue_y0": "６８００", "staff_total": "１２"}
    one = FirmProfile.model_validate(row)
    assert (one.revenue_y0, one.staff_total) == (6800.0, 12)
    clean = validate_frame(pd.DataFrame([row])).frame
    assert (clean["revenue_y0"].iloc[0], clean["staff_total"].iloc[0]) == (6800.0, 12.0)
