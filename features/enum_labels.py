"""Display names of every enum value, in Chinese and English: the one home of these words.

The canonical values stay the schema's `Literal`s (features/schema.py); this module only names
them for people (the page's options, messages, memos) and lets a file written with the Chinese
names be read (a bank's export says 次级, not substandard). features/schema.py checks at import
time that every value of every enum field has a name here.
"""
from __future__ import annotations

from typing import Any

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

# Other spellings a bank's file uses for a value (besides the value itself and its Chinese name above):
# features/kinds.py accepts them, compared without case, spaces, quote marks or full-width forms.
EXTRA_SPELLINGS: dict[str, tuple[str, ...]] = {
    "startup": ("初创", "初创阶段"), "growth": ("成长", "成长阶段"), "mature": ("成熟", "成熟阶段"),
    "none": ("未融资", "暂无", "无资质"),
    "executive": ("高管",), "phd_professor": ("博士", "教授"), "serial_exit": ("连续创业",),
    "tech_sme": ("科技型中小企业(入库)",), "hnte": ("国家高新技术企业", "高企"),
    "srdi_provincial": ("专精特新中小企业", "省级专精特新"),
    "little_giant": ("专精特新小巨人", "国家级专精特新小巨人", "小巨人"),
    "champion": ("单项冠军", "制造业单项冠军企业"),
    "angel": ("天使", "种子轮"), "a": ("Pre-A轮", "A+轮"), "b": ("B+轮",),
    "c_plus": ("C轮", "D轮", "E轮", "C轮及以上", "C轮以后"), "pre_ipo": ("Pre-IPO", "PreIPO轮", "上市前"),
    "A": ("A类",), "B": ("B类",), "M": ("M类",), "C": ("C类",), "D": ("D类",),
    "normal": ("正常类",), "special_mention": ("关注类",), "substandard": ("次级类",), "doubtful": ("可疑类",),
    "loss": ("损失类",),
    "credit": ("信用贷款", "纯信用"), "ip_pledge": ("知识产权质押贷款", "专利质押"), "guarantee": ("保证", "担保"),
}


def __getattr__(name: str) -> Any:
    """ENUM_FIELDS, computed on first use (this module is imported by features.kinds before the schema)."""
    if name == "ENUM_FIELDS":
        from features.schema import FIELD_SPECS
        return tuple(n for n, s in FIELD_SPECS.items() if s.kind == "enum")
    raise AttributeError(name)


def enum_labels(field: str) -> dict[str, tuple[str, str]]:
    """The field's values, in schema order, with their (中文, English) names."""
    from features.schema import FIELD_SPECS
    return {v: VALUE_LABELS[v] for v in FIELD_SPECS[field].enum}


def label_of(field: str, value: str, lang: str = "zh") -> str:
    """One value's name in `lang` ("zh" or "en")."""
    zh, en = enum_labels(field)[value]
    return zh if lang == "zh" else en

