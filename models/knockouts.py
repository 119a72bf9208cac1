"""Policy knock-outs: declines that hold whatever the score; the rules come from the policy file."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models.policy import KnockOutRule
from models.rules import rule_columns


def knockout_matrix(clean: pd.DataFrame, rules: Sequence[KnockOutRule]) -> np.ndarray:
    """Boolean matrix (n, len(rules)): which knock-out each firm hits (any condition of the rule holds)."""
    out = np.zeros((len(clean), len(rules)), dtype=bool)
    if not len(clean) or not rules:
        return out
    cols = rule_columns(clean, {c.field for r in rules for c in r.any_of})
    for k, rule in enumerate(rules):
        for cond in rule.any_of:
            out[:, k] |= cond.evaluate(cols)
    return out
