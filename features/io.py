"""Read raw profile tables (CSV in the encodings banks export, or Parquet)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.schema import FIELD_SPECS

# Text-like fields are read as strings so leading zeros and codes survive (region 010000 …).
_STRING_KINDS = {"text", "enum", "date"}
_STRING_COLUMNS = {
    col
    for spec in FIELD_SPECS.values()
    if spec.kind in _STRING_KINDS
    for col in (spec.name, spec.label_zh)
}
ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK


def detect_encoding(path: Path, sample_bytes: int = 1 << 20) -> str:
    """UTF-8 (with or without BOM) when the sample decodes as UTF-8, else GB18030/GBK."""
    with open(path, "rb") as fh:
        sample = fh.read(sample_bytes)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            return "gb18030"
    return "utf-8-sig"


def read_table(path: Path | str, encoding: str | None = None) -> pd.DataFrame:
    """A whole CSV or Parquet file as a DataFrame of raw profiles."""
    path = Path(path)
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    enc = encoding or detect_encoding(path)
    return pd.read_csv(path, encoding=enc, dtype={c: str for c in _STRING_COLUMNS}, keep_default_na=False, na_values=[""])
