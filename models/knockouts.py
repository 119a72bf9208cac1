"""Policy knock-outs: declines that hold whatever the score; the rules come from the policy file."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models.policy import KnockOutRule
from models.rules import Columns, rule_columns


def knockout_matrix(clean: Columns, rules: Sequence[KnockOutRule]) -> np.ndarray:
    """Boolean matrix (n, len(rules)): which knock-out each firm hits (any condition of the rule holds).

    `clean` is a clean frame or a mapping of its columns as numpy arrays.
    """
    n = len(clean) if isinstance(clean, pd.DataFrame) else len(np.asarray(next(iter(clean.values()), [])))
    out = np.zeros((n, len(rules)), dtype=bool)
    if not n or not rules:
        return out
    cols = rule_columns(clean, {c.field for r in rules for c in r.any_of})
    for k, rule in enumerate(rules):
        for cond in rule.any_of:
            out[:, k] |= cond.evaluate(cols)
    return out
