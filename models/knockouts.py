"""Policy knock-outs: declines that hold whatever the score; the rules come from the policy file."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from features.clean import CleanColumns
from models.policy import KnockOutRule
from models.rules import rule_columns


def knockout_matrix(clean: CleanColumns, rules: Sequence[KnockOutRule]) -> np.ndarray:
    """Boolean matrix (n, len(rules)): which knock-out each firm hits (any condition of the rule holds)."""
    n = len(clean.firm_id)
    out = np.zeros((n, len(rules)), dtype=bool)
    if not n or not rules:
        return out
    cols = rule_columns(clean, {c.field for r in rules for c in r.any_of})
    for k, rule in enumerate(rules):
        for cond in rule.any_of:
            out[:, k] |= cond.evaluate(cols)
    return out
