"""Generic tabular mode: a bank's own labelled columns as model features.

Column types are inferred (numeric / categorical; identifiers, dates, free text and constant
columns are left out, each with its reason) and can be overridden in a small YAML file. A
categorical column becomes the position of its category in the order of the category's
smoothed default rate on the training rows (rare categories pooled into `__other__`), so it
can carry a monotone constraint (+1) and compile into the same additive lookup tables.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.clean import CleanColumns
from features.columns import LEAKAGE_AUC, single_column_auc, text_reason
from features.registry import DAYS_PER_YEAR
from features.validate import REJECT_COLUMNS, ValidationResult

OTHER = "__other__"
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "missing", "#n/a"})
_ID_NAME = re.compile(r"(^id$|_id$|^id_|\bid\b|编号|代码|^no\.?$|_no$|number$|^uuid|^key$)", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?([ T].*)?$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}$|^[A-Za-z]{3}-\d{2,4}$")
SMOOTHING = 20.0  # pseudo-rows pulling a category's default rate to the overall rate
TREND_Z = 2.0  # rank-correlation z-score from which a numeric column's direction is taken as known
DEFAULT_GROUP = "all"
log = logging.getLogger(__name__)


class TabularConfigError(ValueError):
    """The tabular config file or the table cannot be used as configured."""


class ColumnConfig(BaseModel):
    """Overrides for one column."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["numeric", "categorical", "date_age", "exclude"] | None = None
    # date_age: the column is a date, used as its age in years on the row's reference date:
    # `age_from` names another date column of the same row (e.g. application_date) or is an ISO date.
    age_from: str | None = None
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
    keep: list[str] = Field(default_factory=list, description="columns kept although they look like leakage")
    leakage_auc: float = Field(LEAKAGE_AUC, gt=0.5, le=1.0, description="single-column AUC from which a column is a leakage suspect")
    max_ece: float = Field(0.03, gt=0.0, le=1.0, description="release bound on the out-of-fold expected calibration error")


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
    age_from: str | None = None  # date_age: reference date column or ISO date


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
    """Column → object array of stripped strings, None for missing.

    The string work is done once per distinct value (model selection parses the same columns
    dozens of times, and a category column has few distinct values)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    txt = pd.Series(uniques, dtype=object).astype(str).str.strip()
    keep = ~txt.str.lower().isin(MISSING_TOKENS).to_numpy()
    labels = np.append(np.where(keep, txt.to_numpy(dtype=object), None), None)  # code −1 (missing) → the last slot
    return labels[codes]


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
        integer = np.all(v == np.round(v))
        if unique_share == 1.0 and integer and np.all(np.diff(v) > 0):
            return "exclude", "identifier (unique increasing integers)"
        digits = np.floor(np.log10(np.abs(v[v != 0]) + 0.5)) if v.size else v
        # unique integers all of one length, 7 digits or more: an account or application number, not an amount
        if unique_share > 0.99 and integer and v.size >= 100 and digits.size and np.ptp(digits) == 0 and digits[0] >= 6:
            return "exclude", f"identifier (unique {int(digits[0]) + 1}-digit integers)"
        return "numeric", "numbers"
    sample = present.astype(str).str.strip().head(500)
    if sample.str.match(_DATE_LIKE).mean() > 0.9:
        return "exclude", "date (configure it as type date_age with age_from to use its age)"
    why = text_reason(present)
    if why:
        return "exclude", why
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
            config: TabularConfig | None = None, smoothing: float = SMOOTHING,
            inferred: dict[str, tuple[str, str]] | None = None, auto_direction: bool = False) -> "TabularSpec":
        """Infer types on the whole table; order categories by default rate on the training rows only
        (`smoothing` pseudo-rows at the overall rate); leakage is screened on the training rows only.
        `inferred` holds `infer_kind` results already computed for this table (they read no labels).
        With `auto_direction`, a numeric column without a configured direction gets the sign of its
        rank correlation with the target on the training rows when that is clearly non-zero
        (|z| > TREND_Z), as a scorecard modeller's monotone binning would."""
        config = config or TabularConfig()
        raw = strip_headers(raw)
        unknown = [c for c in [*config.columns, *config.exclude, *config.keep, *([config.id] if config.id else [])] if c not in raw]
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
            kind, why = (over.type, "config") if over.type else (inferred or {}).get(name) or infer_kind(name, raw[name])
            if kind == "exclude":
                excluded[name] = why
                continue
            group = over.group or next(iter(groups))
            if group not in groups:
                raise TabularConfigError(f"column {name!r}: group {group!r} is not defined under groups")
            label_zh, label_en = over.label_zh or name, over.label_en or name
            if kind == "categorical":
                cats = _ordered_categories(_as_categories(raw[name])[train_rows], y[train_rows], config.min_category_share, smoothing)
                col = ColumnSpec(name, kind, 1, group, label_zh, label_en, cats)
            elif kind == "date_age":
                col = ColumnSpec(name, kind, over.direction or 0, group, label_zh, label_en, age_from=_age_reference(raw, name, over.age_from))
            else:
                _, bad = _as_numbers(raw[name])
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise TabularConfigError(f"column {name!r} is configured numeric but row {row} holds {raw[name].iloc[row]!r}")
                col = ColumnSpec(name, kind, over.direction or 0, group, label_zh, label_en)
            x = _train_values(col, raw, train_rows)
            leak = _leakage(col.name, x, y[train_rows], config)
            if leak:
                excluded[name] = leak
                log.warning("column %r excluded: %s", name, leak)
                continue
            if auto_direction and col.kind != "categorical" and over.direction is None:
                col.direction = _trend(x, y[train_rows])
            columns.append(col)
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
            if c.kind in ("numeric", "date_age"):
                values, bad = _as_numbers(raw[c.name]) if c.kind == "numeric" else _date_ages(raw, c)
                clean[c.name] = values
                if bad.any():
                    rows = np.flatnonzero(bad)
                    vals = raw[c.name].iloc[rows].astype(str).to_numpy(dtype=object)
                    rule = "number" if c.kind == "numeric" else "date"
                    rejects.append(pd.DataFrame({"row": rows, "firm_id": ids[rows], "field": c.name, "rule": rule,
                                                 "value": vals, "message": [f"{c.name}: {v!r} is not a {rule}" for v in vals]}))
                    bad_rows[rows] = True
            else:
                clean[c.name] = _as_categories(raw[c.name])
        rej = (pd.concat(rejects, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
               if rejects else pd.DataFrame({k: pd.Series(dtype="int64" if k == "row" else object) for k in REJECT_COLUMNS}))
        extra = tuple(c for c in raw.columns if c not in set(self.feature_names))
        return ValidationResult(clean=self._clean_columns(clean, ids, bad_rows, extra), rejects=rej, n_input=len(raw),
                                extra_columns=extra)

    def _clean_columns(self, clean: pd.DataFrame, ids: np.ndarray, bad: np.ndarray, extra: tuple[str, ...]) -> CleanColumns:
        """The valid rows as clean columns: numeric (and date-age) columns float64 with NaN, categories object
        arrays with None; the other input columns (the target) as extras."""
        keep = np.flatnonzero(~bad)
        values = {c.name: np.asarray(clean[c.name].to_numpy()[keep],
                                     dtype=np.float64 if c.kind in ("numeric", "date_age") else object)
                  for c in self.columns}
        extras = clean[list(extra)].iloc[keep] if extra else None
        return CleanColumns(values, len(keep), ids[keep], keep.astype(np.int64), extras)

    def transform(self, clean: CleanColumns | pd.DataFrame) -> np.ndarray:
        """Clean columns (or a frame of them) → float64 matrix (n, F): numbers as they are, categories as their
        risk-ordered position."""
        out = np.empty((len(clean), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            s = clean[c.name]
            s = s if isinstance(s, pd.Series) else pd.Series(s)
            if c.kind in ("numeric", "date_age"):  # validate() has turned a date into its age already
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


def _ordered_categories(values: np.ndarray, y: np.ndarray, min_share: float, smoothing: float = SMOOTHING) -> list[str]:
    """Categories by smoothed training default rate, lowest first; rare ones pooled into OTHER."""
    present = pd.notna(values)
    s = pd.Series(values[present], dtype=object)
    t = pd.Series(y[present])
    counts = s.value_counts()
    keep = counts.index[counts >= max(10, min_share * present.sum())]
    pooled = s.where(s.isin(keep), OTHER)
    prior = float(y.mean())
    stats = t.groupby(pooled.to_numpy()).agg(["sum", "count"])
    rate = (stats["sum"] + smoothing * prior) / (stats["count"] + smoothing)
    if OTHER not in rate.index:
        rate[OTHER] = prior
    return [str(c) for c in rate.sort_values(kind="stable").index]


def _parse_dates(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Column → (datetime64 values with NaT for missing, mask of present cells that are not dates)."""
    miss = _missing_mask(s)
    d = pd.to_datetime(s.where(~miss), errors="coerce", format="mixed")
    return d.to_numpy(dtype="datetime64[ns]"), ~miss & d.isna().to_numpy()


def _age_reference(raw: pd.DataFrame, name: str, age_from: str | None) -> str:
    """The reference of a date_age column: another column of the row, or a fixed ISO date."""
    if age_from is None:
        raise TabularConfigError(f"column {name!r} is configured date_age: set age_from to a date column "
                                 "(e.g. application_date) or an ISO date")
    if age_from in raw:
        return age_from
    try:
        return pd.Timestamp(age_from).date().isoformat()
    except ValueError as exc:
        raise TabularConfigError(f"column {name!r}: age_from {age_from!r} is neither a column nor a date") from exc


def _date_ages(raw: pd.DataFrame, c: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Age in years of a date column on each row's reference date; (ages, cells that are not dates)."""
    when, bad = _parse_dates(raw[c.name])
    if c.age_from in raw:
        ref, bad_ref = _parse_dates(raw[c.age_from])
        bad = bad | bad_ref
    else:
        ref = np.datetime64(c.age_from, "ns")
    days = (ref - when) / np.timedelta64(1, "D")
    return np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR, bad


def _train_values(col: ColumnSpec, raw: pd.DataFrame, train_rows: np.ndarray) -> np.ndarray:
    """The column's model values on the training rows."""
    if col.kind == "categorical":
        return TabularSpec("", None, [col], {}, {}).transform(pd.DataFrame({col.name: raw[col.name].iloc[train_rows]}))[:, 0]
    if col.kind == "date_age":
        return _date_ages(raw.iloc[train_rows], col)[0]
    return _as_numbers(raw[col.name].iloc[train_rows])[0]


def _trend(x: np.ndarray, y: np.ndarray) -> int:
    """+1 / −1 when the default rate clearly rises / falls with x (Spearman z beyond TREND_Z), else 0."""
    ok = ~np.isnan(x)
    if ok.sum() < 30 or np.ptp(x[ok]) == 0 or y[ok].min() == y[ok].max():
        return 0
    rho = float(np.corrcoef(pd.Series(x[ok]).rank().to_numpy(), y[ok])[0, 1])
    return int(np.sign(rho)) if abs(rho) * np.sqrt(ok.sum() - 1) > TREND_Z else 0


def _leakage(name: str, x: np.ndarray, y: np.ndarray, config: TabularConfig) -> str | None:
    """The exclusion reason when the column alone predicts the target almost perfectly on the training rows."""
    if name in config.keep:
        return None
    auc = single_column_auc(x, y)
    if auc < config.leakage_auc:
        return None
    return (f"leakage suspect: alone it predicts the target with AUC {auc:.3f} on the training rows "
            f"(list it under keep: in the config to use it anyway)")
