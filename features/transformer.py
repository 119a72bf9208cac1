"""The indicator pipeline as a stateless scikit-learn transformer (training and notebooks; scoring calls
`features.indicators.transform_columns` directly and so never imports scikit-learn)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.clean import frame_to_columns
from features.indicators import transform_columns
from features.registry import INDICATOR_KEYS, INPUT_FIELDS


class IndicatorTransformer(TransformerMixin, BaseEstimator):
    """Stateless transformer: clean frame → DataFrame of indicators (columns = INDICATOR_KEYS)."""

    def fit(self, X: Any, y: Any = None) -> "IndicatorTransformer":
        """Record input shape/names (sklearn conventions); nothing is learned."""
        columns = getattr(X, "columns", None)
        if columns is not None:
            self.n_features_in_ = len(columns)
            if all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif isinstance(X, Mapping):
            self.n_features_in_ = len(X)
            self.feature_names_in_ = np.asarray(list(X), dtype=object)
        return self

    def transform(self, X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
        """Clean frame → float64 DataFrame, same index, columns = INDICATOR_KEYS."""
        if isinstance(X, pd.DataFrame):
            values = transform_columns(frame_to_columns(X, INPUT_FIELDS), n=len(X))
            index = X.index
        else:
            values = transform_columns(X)
            index = pd.RangeIndex(len(values))
        return pd.DataFrame(values, index=index, columns=list(INDICATOR_KEYS))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Indicator keys in output order (input_features is ignored: outputs are fixed)."""
        return np.asarray(INDICATOR_KEYS, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        """Stateless: always usable without fit."""
        return True

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        """Declare statelessness and that inputs may contain NaN / non-numeric columns."""
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags
