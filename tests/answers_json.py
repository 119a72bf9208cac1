"""Tests read answers as the API sends them: `models/` returns arrays and dataclasses, `service.api.answers` shapes them."""
from __future__ import annotations

import json
from typing import Any

from service.api import answers


def record(batch: Any, i: int) -> dict[str, Any]:
    """Row i of a scored batch as the API's score record (plain data, before validation)."""
    return answers.score_record(batch, i)


def recommendation(recs: Any, i: int) -> dict[str, Any]:
    """Firm i's `recommendation` object."""
    return answers.recommendation(recs, i)


def as_json(answer: Any) -> Any:
    """A validated answer (or a what-if / next-grade outcome of models.whatif) read back from the bytes sent."""
    from models.whatif import NextGrade, WhatIf

    if isinstance(answer, WhatIf):
        answer = answers.what_if_result(answer)
    elif isinstance(answer, NextGrade):
        answer = answers.next_grade_result(answer)
    return json.loads(answers.dump(answer))
