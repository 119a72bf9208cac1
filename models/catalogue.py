"""Feature catalogue: what a bundle's model features are, so a bundle describes itself.

The firm-profile pipeline fills it from the indicator registry; the generic tabular mode fills
it from a bank's own columns. Scoring, reasons, the report and drift read features, groups
(dimensions), directions and texts from here, never from the registry directly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from features.registry import DIMENSIONS, INDICATORS, definition_digest
from models.reasons import KINDS, sentence_texts

KIND_FIRM_PROFILE = "firm_profile"
KIND_TABULAR = "tabular"


@dataclass(frozen=True)
class Feature:
    """One model feature with the texts its reasons use."""

    key: str
    code: str
    group: str
    direction: int  # +1 higher value raises default risk, −1 lowers it, 0 unconstrained
    label_zh: str
    label_en: str
    reason_down_zh: str
    reason_down_en: str
    reason_up_zh: str
    reason_up_en: str
    unit: str = ""
    categories: tuple[str, ...] = ()  # categorical column: value k of the feature is categories[k]
    peak: tuple[str, ...] = ()  # single-peaked: (too low 中文, English, too high 中文, English)
    definition: str = ""  # firm-profile indicators: features.registry.definition_digest at training


@dataclass(frozen=True)
class Catalogue:
    """Ordered features plus ordered groups {key: (label_zh, label_en)}."""

    kind: str
    features: tuple[Feature, ...]
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_registry(cls) -> "Catalogue":
        feats = tuple(
            Feature(i.key, i.code, i.dimension, i.direction, i.label_zh, i.label_en, i.reason_down_zh,
                    i.reason_down_en, i.reason_up_zh, i.reason_up_en, i.unit, (), i.peak or (), definition_digest(i))
            for i in INDICATORS
        )
        return cls(KIND_FIRM_PROFILE, feats, dict(DIMENSIONS))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Catalogue":
        feats = tuple(Feature(**{**f, "categories": tuple(f.get("categories", ())), "peak": tuple(f.get("peak", ()))})
                      for f in d["features"])
        return cls(d["kind"], feats, {k: tuple(v) for k, v in d["groups"].items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (what the bundle stores)."""
        return {"kind": self.kind, "features": [asdict(f) for f in self.features],
                "groups": {k: list(v) for k, v in self.groups.items()}}

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.features]

    @property
    def group_keys(self) -> tuple[str, ...]:
        return tuple(self.groups)

    def membership(self) -> np.ndarray:
        """(F, G) 0/1 matrix that sums feature points into group points."""
        gk = self.group_keys
        return np.eye(len(gk))[[gk.index(f.group) for f in self.features]]

    def directions(self) -> list[int]:
        """LightGBM monotone constraints in feature order."""
        return [f.direction for f in self.features]

    def reason_texts(self, kind: str) -> np.ndarray:
        """Reason cell per feature, 'CODE 中文 / English', plus "" at index −1 (no reason)."""
        out = []
        for f in self.features:
            zh, en = sentence_texts(f, kind)
            out.append(f"{f.code}{kind} {zh} / {en}")
        return np.array(out + [""], dtype=object)

    @cached_property
    def texts(self) -> dict[str, np.ndarray]:
        """Reason cells per kind (models.reasons.KINDS): D worse than the stage median, U better, M not
        provided, N not computable, L / H below / above a single-peaked indicator's sound range."""
        return {k: self.reason_texts(k) for k in KINDS}

    @cached_property
    def reason_cells(self) -> pa.Array:
        """Every reason cell as one Arrow column, in KINDS order (each block ending with ""), to pick from by index."""
        return pa.array(np.concatenate([self.texts[k] for k in KINDS]), type=pa.string())


def catalogue_of(bundle: Any) -> Catalogue:
    """The bundle's catalogue; bundles written before catalogues existed use the registry."""
    stored = getattr(bundle, "extras", {}).get("catalogue")
    return Catalogue.from_dict(stored) if stored else Catalogue.from_registry()
