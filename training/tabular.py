"""Bring your own data: pick the firm-profile pipeline or the generic tabular mode for a labelled table."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from features.tabular import SMOOTHING, TabularConfig, TabularConfigError, TabularSpec, infer_kind, strip_headers, target_labels
from features.validate import _field_of, clean_header
from models.catalogue import Catalogue
from training.train import Prepared, TrainConfig, TrainingDataError, data_fingerprint, prepare_profiles

MIN_SCHEMA_FIELDS = 10  # a firm-profile file has firm_id and at least this many schema fields


@dataclass
class BookPrepared(Prepared):
    """A bank's own table: `featurise_with(train_rows, smoothing, auto_direction)` also takes the
    categorical smoothing and whether unconfigured numeric columns get a monotone direction from
    the training rows (both tuned by inner cross-validation); `config` holds the release bounds."""

    featurise_with: Callable[[np.ndarray, float, bool], tuple[np.ndarray, Catalogue, dict[str, Any]]] | None = None
    config: TabularConfig = field(default_factory=TabularConfig)


def is_firm_profile_table(columns: list) -> bool:
    """True when the headers are the firm-profile schema (English names or Chinese labels)."""
    fields = {_field_of(clean_header(c)) for c in columns} - {None}
    return "firm_id" in fields and len(fields) >= MIN_SCHEMA_FIELDS


def prepare_tabular(raw: pd.DataFrame, cfg: TrainConfig, config: TabularConfig | None = None) -> Prepared:
    """A bank's own table: types inferred (or configured), categories ordered on training rows only."""
    config = config or TabularConfig()
    raw = strip_headers(raw).reset_index(drop=True)
    try:
        y = target_labels(raw, cfg.target, config.target_positive)
    except TabularConfigError as exc:
        raise TrainingDataError(str(exc)) from exc
    if y.sum() < 50 or (len(y) - y.sum()) < 50:
        raise TrainingDataError(f"{int(y.sum())} defaults and {int(len(y) - y.sum())} non-defaults in {cfg.target!r}: at least 50 of each are needed")

    # Model selection featurises the same table dozens of times: column types (which read no
    # labels) are inferred once, and the parsed cells are reused while the columns are the same.
    inferred = {c: infer_kind(c, raw[c]) for c in raw.columns if c != cfg.target and c not in config.columns}
    parsed: dict[tuple, Any] = {}

    def featurise(train_rows: np.ndarray, smoothing: float = SMOOTHING, auto_direction: bool = False) -> tuple[np.ndarray, Catalogue, dict]:
        try:
            spec = TabularSpec.fit(raw, y, train_rows, cfg.target, config, smoothing, inferred, auto_direction)
        except TabularConfigError as exc:
            raise TrainingDataError(str(exc)) from exc
        key = tuple((c.name, c.kind) for c in spec.columns)
        if key not in parsed:
            parsed.clear()
            parsed[key] = spec.validate(raw)
        checked = parsed[key]
        if len(checked.rejects):
            r = checked.rejects.iloc[0]
            raise TrainingDataError(f"row {r['row']}, column {r['field']!r}: {r['message']} "
                                    f"({len(checked.rejects)} cells like it) / 第 {r['row']} 行 {r['field']} 列无法解析")
        X = spec.transform(checked.clean)
        return X, Catalogue.from_dict(spec.catalogue_dict()), {"tabular": spec.to_dict()}

    return BookPrepared(y, np.full(len(y), "all", dtype=object), raw.index, len(raw), data_fingerprint(raw), featurise,
                        featurise_with=featurise, config=config)


def prepare_any(raw: pd.DataFrame, cfg: TrainConfig, config: TabularConfig | None = None) -> Prepared:
    """Firm-profile pipeline when the headers are the schema, else the generic tabular mode."""
    if is_firm_profile_table(list(raw.columns)):
        return prepare_profiles(raw, cfg)
    return prepare_tabular(raw, cfg, config)
