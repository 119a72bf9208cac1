"""Policy knock-outs: declines that hold whatever the score; the rules come from the policy file."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from models.policy import KnockOutRule
from models.rules import add_profile_derived, rule_columns


def knockout_matrix(clean: pd.DataFrame | Mapping[str, np.ndarray], rules: Sequence[KnockOutRule]) -> np.ndarray:
    """Boolean matrix (n, len(rules)): which knock-out each firm hits (any condition of the rule holds).

    `clean` is a clean frame or a mapping of its columns as numpy arrays (dates as float days).
    """
    fields = {c.field for r in rules for c in r.any_of}
    if isinstance(clean, pd.DataFrame):
        n = len(clean)
        cols = rule_columns(clean, fields) if n and rules else {}
    else:
        n = len(next(iter(clean.values()))) if clean else 0
        cols = add_profile_derived(dict(clean), fields)
    out = np.zeros((n, len(rules)), dtype=bool)
    if not n or not rules:
        return out
    for k, rule in enumerate(rules):
        for cond in rule.any_of:
            out[:, k] |= cond.evaluate(cols)
    return out
