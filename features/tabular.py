"""Generic tabular mode: a bank's own labelled columns as model features.

Column types are inferred (numeric / categorical; identifiers, dates, free text and constant
columns are left out, each with its reason) and can be overridden in a small YAML file. A
categorical column becomes the position of its category in the order of the category's
smoothed default rate on the training rows (rare categories pooled into `__other__`), so it
can carry a monotone constraint (+1) and compile into the same additive lookup tables.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.validate import REJECT_COLUMNS, ValidationResult

OTHER = "__other__"
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "missing", "#n/a"})
_ID_NAME = re.compile(r"(^id$|_id$|^id_|\bid\b|编号|代码|^no\.?$|_no$|number$|^uuid|^key$)", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T].*)?$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}$|^[A-Za-z]{3}-\d{2,4}$")
SMOOTHING = 20.0  # pseudo-rows pulling a category's default rate to the overall rate
DEFAULT_GROUP = "all"


class TabularConfigError(ValueError):
    """The tabular config file or the table cannot be used as configured."""


class ColumnConfig(BaseModel):
    """Overrides for one column."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["numeric", "categorical", "exclude"] | None = None
    direction: Literal[-1, 0, 1] | None = None
    group: str | None = None
    label_zh: str | None = None
    label_en: str | None = None


class GroupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label_zh: str
    label_en: str


class TabularConfig(BaseModel):
    """The optional YAML file of `techscore train --config` in generic mode."""

    model_config = ConfigDict(extra="forbid")
    target_positive: str | int | float | bool | None = Field(None, description="target value that means default, when not 0/1")
    id: str | None = None
    exclude: list[str] = Field(default_factory=list)
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    columns: dict[str, ColumnConfig] = Field(default_factory=dict)
    min_category_share: float = Field(0.005, ge=0.0, lt=0.5)


def load_tabular_config(path: Path | str | None) -> TabularConfig:
    """Read and check the YAML config; a clear error names the offending key."""
    if path is None:
        return TabularConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return TabularConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise TabularConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TabularConfigError(f"{path}: {errs}") from exc


@dataclass
class ColumnSpec:
    """One fitted feature column."""

    name: str
    kind: str  # numeric | categorical
    direction: int
    group: str
    label_zh: str
    label_en: str
    categories: list[str] = field(default_factory=list)  # categorical: ordered by training default rate


def strip_headers(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns=lambda c: str(c).replace("\ufeff", "").strip())


def _missing_mask(s: pd.Series) -> np.ndarray:
    na = s.isna().to_numpy(bool, copy=True)
    if s.dtype.kind in "biufcmM":
        return na
    txt = s.astype(str).str.strip().str.lower()
    return na | txt.isin(MISSING_TOKENS).to_numpy()


def _as_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Column → (float64 values with NaN for missing, mask of present cells that are not numbers).

    Exports often format numbers: thousands separators, a currency sign, a percent sign
    ("13.5%" → 0.135) are accepted."""
    if s.dtype.kind in "biuf":
        return s.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(len(s), dtype=bool)
    miss = _missing_mask(s)
    txt = s.astype(str).str.strip().str.replace(",", "", regex=False).str.lstrip("$¥￥€£")
    pct = txt.str.endswith("%").to_numpy()
    v = pd.to_numeric(txt.str.rstrip("%").where(~miss), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    v[pct] /= 100.0
    bad = ~miss & (np.isnan(v) | np.isinf(v))
    v[bad | np.isinf(v)] = np.nan
    return v, bad


def _as_categories(s: pd.Series) -> np.ndarray:
    """Column → object array of stripped strings, None for missing."""
    miss = _missing_mask(s)
    out = s.astype(str).str.strip().to_numpy(dtype=object)
    out[miss] = None
    return out


def infer_kind(name: str, s: pd.Series) -> tuple[str, str]:
    """(kind, reason): kind numeric, categorical or exclude (reason says why)."""
    miss = _missing_mask(s)
    present = s[~miss]
    if present.empty:
        return "exclude", "empty column"
    n_unique = present.astype(str).nunique()
    if n_unique < 2:
        return "exclude", "constant column"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "numeric", "0/1"
    values, bad = _as_numbers(s)
    numeric = not bad.any()
    unique_share = n_unique / len(present)
    if _ID_NAME.search(name) and unique_share > 0.9:
        return "exclude", "identifier"
    if numeric:
        v = values[~np.isnan(values)]
        if unique_share == 1.0 and np.all(v == np.round(v)) and np.all(np.diff(v) > 0):
            return "exclude", "identifier (unique increasing integers)"
        return "numeric", "numbers"
    sample = present.astype(str).str.strip().head(500)
    if sample.str.match(_DATE_LIKE).mean() > 0.9:
        return "exclude", "date (derive an age or a duration as a numeric column to use it)"
    if n_unique > 50 and unique_share > 0.5:
        return "exclude", f"identifier or free text ({n_unique} distinct values)"
    return "categorical", "text"


def _reason_texts(label_zh: str, label_en: str, kind: str, direction: int) -> tuple[str, str, str, str]:
    """(down_zh, down_en, up_zh, up_en): specific to the column and the way it moves the risk."""
    if kind == "categorical":
        return (f"{label_zh}所属类别的历史违约率较高", f"The {label_en} category has a higher default rate in the bank's own data",
                f"{label_zh}所属类别的历史违约率较低", f"The {label_en} category has a lower default rate in the bank's own data")
    if direction == -1:
        return (f"{label_zh}偏低", f"{label_en} is low, which raises the risk estimate",
                f"{label_zh}较高", f"{label_en} is high, which lowers the risk estimate")
    if direction == 1:
        return (f"{label_zh}偏高", f"{label_en} is high, which raises the risk estimate",
                f"{label_zh}较低", f"{label_en} is low, which lowers the risk estimate")
    return (f"{label_zh}的取值对应较高的违约率", f"The value of {label_en} goes with a higher default rate in the bank's own data",
            f"{label_zh}的取值对应较低的违约率", f"The value of {label_en} goes with a lower default rate in the bank's own data")


def target_labels(raw: pd.DataFrame, target: str, positive: Any = None) -> np.ndarray:
    """The target as 0/1; a two-valued target needs `target_positive` unless it is 0/1 or true/false."""
    raw = strip_headers(raw)
    if target not in raw:
        raise TabularConfigError(f"target column {target!r} not found (columns: {', '.join(map(str, raw.columns[:20]))})")
    s = raw[target]
    miss = _missing_mask(s)
    if miss.any():
        rows = np.flatnonzero(miss)[:5].tolist()
        raise TabularConfigError(f"target {target!r} is missing on rows {rows}")
    txt = s.astype(str).str.strip().str.lower()
    if positive is not None:
        pos = str(positive).strip().lower()
        if not (txt == pos).any():
            raise TabularConfigError(f"target_positive {positive!r} never occurs in {target!r}")
        if txt.nunique() != 2:
            raise TabularConfigError(f"target {target!r} must take exactly two values, found {txt.nunique()}")
        return (txt == pos).to_numpy(dtype=int)
    mapped = txt.map({"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1})
    if mapped.isna().any():
        rows = np.flatnonzero(mapped.isna().to_numpy())[:5].tolist()
        values = sorted(txt.unique().tolist())[:5]
        raise TabularConfigError(f"target {target!r} must be 0/1 (rows {rows} are not; values {values}); "
                                 "set target_positive in the config to name the value that means default")
    return mapped.to_numpy(dtype=int)


@dataclass
class TabularSpec:
    """Fitted column plan: how a bank's table becomes the model's feature matrix."""

    target: str
    id_column: str | None
    columns: list[ColumnSpec]
    excluded: dict[str, str]
    groups: dict[str, tuple[str, str]]
    target_positive: str | int | float | bool | None = None

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "id_column": self.id_column, "columns": [asdict(c) for c in self.columns],
                "excluded": dict(self.excluded), "groups": {k: list(v) for k, v in self.groups.items()},
                "target_positive": self.target_positive}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TabularSpec":
        return cls(d["target"], d["id_column"], [ColumnSpec(**c) for c in d["columns"]], dict(d["excluded"]),
                   {k: tuple(v) for k, v in d["groups"].items()}, d.get("target_positive"))

    @classmethod
    def fit(cls, raw: pd.DataFrame, y: np.ndarray, train_rows: np.ndarray, target: str,
            config: TabularConfig | None = None) -> "TabularSpec":
        """Infer types on the whole table; order categories by default rate on the training rows only."""
        config = config or TabularConfig()
        raw = strip_headers(raw)
        unknown = [c for c in [*config.columns, *config.exclude, *([config.id] if config.id else [])] if c not in raw]
        if unknown:
            raise TabularConfigError(f"config names columns not in the table: {', '.join(unknown)}")
        groups = {k: (g.label_zh, g.label_en) for k, g in config.groups.items()} or {DEFAULT_GROUP: ("全部变量", "All variables")}
        columns, excluded = [], {}
        for name in raw.columns:
            if name == target:
                continue
            over = config.columns.get(name, ColumnConfig())
            if name == config.id or name in config.exclude or over.type == "exclude":
                excluded[name] = "identifier (config)" if name == config.id else "excluded by config"
                continue
            kind, why = (over.type, "config") if over.type else infer_kind(name, raw[name])
            if kind == "exclude":
                excluded[name] = why
                continue
            group = over.group or next(iter(groups))
            if group not in groups:
                raise TabularConfigError(f"column {name!r}: group {group!r} is not defined under groups")
            label_zh, label_en = over.label_zh or name, over.label_en or name
            if kind == "categorical":
                cats = _ordered_categories(_as_categories(raw[name])[train_rows], y[train_rows], config.min_category_share)
                columns.append(ColumnSpec(name, kind, 1, group, label_zh, label_en, cats))
            else:
                _, bad = _as_numbers(raw[name])
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise TabularConfigError(f"column {name!r} is configured numeric but row {row} holds {raw[name].iloc[row]!r}")
                columns.append(ColumnSpec(name, kind, over.direction or 0, group, label_zh, label_en))
        if not columns:
            raise TabularConfigError(f"no usable feature columns; excluded: {excluded}")
        id_column = config.id or next((c for c, why in excluded.items() if why.startswith("identifier")), None)
        used = {c.group for c in columns}
        return cls(target, id_column, columns, excluded, {k: v for k, v in groups.items() if k in used}, config.target_positive)

    def catalogue_dict(self) -> dict[str, Any]:
        """The bundle's feature catalogue (models.catalogue.Catalogue.to_dict form)."""
        feats = []
        for j, c in enumerate(self.columns, start=1):
            dz, de, uz, ue = _reason_texts(c.label_zh, c.label_en, c.kind, c.direction)
            feats.append({"key": c.name, "code": f"G{j:02d}", "group": c.group, "direction": c.direction,
                          "label_zh": c.label_zh, "label_en": c.label_en, "reason_down_zh": dz, "reason_down_en": de,
                          "reason_up_zh": uz, "reason_up_en": ue, "unit": c.kind, "categories": list(c.categories)})
        return {"kind": "tabular", "features": feats, "groups": {k: list(v) for k, v in self.groups.items()}}

    def validate(self, raw: pd.DataFrame) -> ValidationResult:
        """Rows to score: numeric cells must be numbers; rows that break that are listed, not dropped silently."""
        raw = strip_headers(raw).reset_index(drop=True)
        absent = [c.name for c in self.columns if c.name not in raw]
        if absent:
            raise TabularConfigError(f"the model uses columns missing from the file: {', '.join(absent)}")
        clean = raw.copy()
        ids = self.row_ids(raw)
        rejects, bad_rows = [], np.zeros(len(raw), dtype=bool)
        for c in self.columns:
            if c.kind == "numeric":
                values, bad = _as_numbers(raw[c.name])
                clean[c.name] = values
                if bad.any():
                    rows = np.flatnonzero(bad)
                    vals = raw[c.name].iloc[rows].astype(str).to_numpy(dtype=object)
                    rejects.append(pd.DataFrame({"row": rows, "firm_id": ids[rows], "field": c.name, "rule": "number",
                                                 "value": vals, "message": [f"{c.name}: {v!r} is not a number" for v in vals]}))
                    bad_rows[rows] = True
            else:
                clean[c.name] = _as_categories(raw[c.name])
        rej = (pd.concat(rejects, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
               if rejects else pd.DataFrame({k: pd.Series(dtype="int64" if k == "row" else object) for k in REJECT_COLUMNS}))
        extra = tuple(c for c in raw.columns if c not in set(self.feature_names))
        return ValidationResult(clean=clean.loc[~bad_rows], rejects=rej, n_input=len(raw), extra_columns=extra)

    def transform(self, clean: pd.DataFrame) -> np.ndarray:
        """Clean frame → float64 matrix (n, F): numbers as they are, categories as their risk-ordered position."""
        out = np.empty((len(clean), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            s = clean[c.name]
            if c.kind == "numeric":
                out[:, j] = _as_numbers(s)[0]
            else:
                pos = {cat: float(k) for k, cat in enumerate(c.categories)}
                vals = pd.Series(_as_categories(s), dtype=object)
                coded = vals.map(pos).to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
                unseen = vals.notna().to_numpy() & np.isnan(coded)  # rare at training or never seen → pooled
                coded[unseen] = pos[OTHER]
                out[:, j] = coded
        return out

    def row_ids(self, frame: pd.DataFrame) -> np.ndarray:
        """Row identifiers for results and rejects: the id column, else the row position."""
        if self.id_column and self.id_column in frame:
            return frame[self.id_column].astype(str).to_numpy(dtype=object)
        return np.asarray([str(i) for i in frame.index], dtype=object)


def _ordered_categories(values: np.ndarray, y: np.ndarray, min_share: float) -> list[str]:
    """Categories by smoothed training default rate, lowest first; rare ones pooled into OTHER."""
    present = pd.notna(values)
    s = pd.Series(values[present], dtype=object)
    t = pd.Series(y[present])
    counts = s.value_counts()
    keep = counts.index[counts >= max(10, min_share * present.sum())]
    pooled = s.where(s.isin(keep), OTHER)
    prior = float(y.mean())
    stats = t.groupby(pooled.to_numpy()).agg(["sum", "count"])
    rate = (stats["sum"] + SMOOTHING * prior) / (stats["count"] + SMOOTHING)
    if OTHER not in rate.index:
        rate[OTHER] = prior
    return [str(c) for c in rate.sort_values(kind="stable").index]
