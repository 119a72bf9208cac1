"""Policy knock-outs: declines that hold whatever the score (domain brief §2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

Columns = pd.DataFrame | Mapping[str, Any]  # a clean frame or its columns as numpy arrays


@dataclass(frozen=True)
class KnockOut:
    code: str
    rule: str
    text_zh: str
    text_en: str
    hits: Callable[[Columns], np.ndarray]


def _flag(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda f: (np.asarray(f[col], dtype=float) == 1.0)


def _in(col: str, values: tuple[str, ...]) -> Callable[[Columns], np.ndarray]:
    return lambda f: np.isin(np.asarray(f[col], dtype=object), values)


KNOCKOUTS: tuple[KnockOut, ...] = (
    KnockOut("KO_OVERDUE", "current_overdue = true", "存在当前逾期贷款", "Has a loan currently overdue", _flag("current_overdue")),
    KnockOut("KO_ENFORCEMENT", "enforcement_listed = true", "被列为被执行人或失信被执行人", "Listed as a judgment debtor / dishonest debtor", _flag("enforcement_listed")),
    KnockOut("KO_TAX_D", "tax_grade = D", "纳税信用等级为D级", "Tax credit grade D", _in("tax_grade", ("D",))),
    KnockOut("KO_LOAN_CLASS", "worst_loan_class in (substandard, doubtful, loss)", "贷款五级分类出现次级或更差", "A loan classified substandard or worse", _in("worst_loan_class", ("substandard", "doubtful", "loss"))),
)


def knockout_matrix(clean: Columns) -> np.ndarray:
    """Boolean matrix (n, len(KNOCKOUTS)): which knock-out each firm hits."""
    if not (len(clean) if isinstance(clean, pd.DataFrame) else np.size(clean["current_overdue"])):
        return np.zeros((0, len(KNOCKOUTS)), dtype=bool)
    return np.column_stack([ko.hits(clean) for ko in KNOCKOUTS])
