"""Display names of every enum value, in Chinese and English: the one home of these words.

The canonical values stay the schema's `Literal`s (features/schema.py); this module only names
them for people (the page's options, messages, memos) and lets a file written with the Chinese
names be read (a bank's export says 次级, not substandard). An import-time check makes sure every
value of every enum field has a name here.
"""
from __future__ import annotations

from features.schema import FIELD_SPECS

# value -> (中文, English); values are unique across the enums, so one table serves all fields.
VALUE_LABELS: dict[str, tuple[str, str]] = {
    # lifecycle_stage
    "startup": ("初创期", "startup"),
    "growth": ("成长期", "growth"),
    "mature": ("成熟期", "mature"),
    # founder_background
    "none": ("无", "none"),
    "executive": ("行业高管", "industry executive"),
    "phd_professor": ("博士/教授", "PhD or professor"),
    "serial_exit": ("连续创业且有成功退出", "serial founder with an exit"),
    # qualification_tier
    "tech_sme": ("科技型中小企业", "tech SME"),
    "hnte": ("高新技术企业", "high-tech enterprise"),
    "srdi_provincial": ("省级专精特新中小企业", "provincial specialised & innovative SME"),
    "little_giant": ("专精特新“小巨人”", "specialised & innovative 'little giant'"),
    "champion": ("制造业单项冠军", "manufacturing single-product champion"),
    # latest_round
    "angel": ("天使轮", "angel"),
    "a": ("A轮", "series A"),
    "b": ("B轮", "series B"),
    "c_plus": ("C轮及以后", "series C or later"),
    "pre_ipo": ("Pre-IPO轮", "pre-IPO"),
    # tax_grade
    "A": ("A级", "grade A"),
    "B": ("B级", "grade B"),
    "M": ("M级", "grade M"),
    "C": ("C级", "grade C"),
    "D": ("D级", "grade D"),
    # worst_loan_class
    "normal": ("正常", "normal"),
    "special_mention": ("关注", "special mention"),
    "substandard": ("次级", "substandard"),
    "doubtful": ("可疑", "doubtful"),
    "loss": ("损失", "loss"),
    # security_type
    "credit": ("信用", "unsecured (credit)"),
    "ip_pledge": ("知识产权质押", "IP pledge"),
    "guarantee": ("保证担保", "guarantee"),
}

ENUM_FIELDS: tuple[str, ...] = tuple(n for n, s in FIELD_SPECS.items() if s.kind == "enum")


def enum_labels(field: str) -> dict[str, tuple[str, str]]:
    """The field's values, in schema order, with their (中文, English) names."""
    return {v: VALUE_LABELS[v] for v in FIELD_SPECS[field].enum}


def label_of(field: str, value: str, lang: str = "zh") -> str:
    """One value's name in `lang` ("zh" or "en")."""
    zh, en = enum_labels(field)[value]
    return zh if lang == "zh" else en


_missing = sorted({v for f in ENUM_FIELDS for v in FIELD_SPECS[f].enum} - set(VALUE_LABELS))
assert not _missing, f"enum values without a display name: {_missing}"
