"""Points scaling and grades: PD ↔ score, as the domain brief §4 defines them."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

# Nine grades, best first, with the upper PD bound of each (C is open-ended).
GRADES: tuple[str, ...] = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
GRADE_UPPER_PD: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 1.0)


@dataclass(frozen=True)
class ScoreScale:
    """Score = offset + factor × ln(good:bad odds); factor = PDO / ln 2."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    min_score: float = 300.0
    max_score: float = 900.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_logit(self, logit_pd: np.ndarray) -> np.ndarray:
        """Unclipped score from the log-odds of default (ln(bad/good))."""
        return self.offset - self.factor * np.asarray(logit_pd, dtype=float)

    def score_from_pd(self, pd_: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(pd_, dtype=float), 1e-12, 1 - 1e-12)
        return self.score_from_logit(np.log(p / (1 - p)))

    def pd_from_score(self, score: np.ndarray) -> np.ndarray:
        logit = (self.offset - np.asarray(score, dtype=float)) / self.factor
        return 1.0 / (1.0 + np.exp(-logit))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def grade_of(pd_: np.ndarray, published: np.ndarray | None = None) -> np.ndarray:
    """Grade label for each PD (upper bounds exclusive: PD 0.1% is AA, not AAA); with `published`
    (one label per grade, see `published_grades`) the label of the merged band the grade belongs to."""
    idx = np.searchsorted(np.asarray(GRADE_UPPER_PD[:-1]), np.asarray(pd_, dtype=float), side="right")
    return (np.asarray(GRADES, dtype=object) if published is None else published)[idx]


def published_grades(grade_map: dict[str, str] | None) -> np.ndarray | None:
    """The published label of each of the nine grades, in order (a bank's book too small for nine
    grades merges adjacent ones; training stores the map in the bundle), or None for all nine."""
    if not grade_map:
        return None
    return np.asarray([grade_map.get(g, g) for g in GRADES], dtype=object)
