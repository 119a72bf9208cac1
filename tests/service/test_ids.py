"""Assessment ids: canonical UUIDv7 text, distinct, ordered by the millisecond they were made."""
from __future__ import annotations

import time
import uuid

from service.ids import new_id, new_ids


def _check(text: str, ms_from: int, ms_to: int) -> None:
    parsed = uuid.UUID(text)
    assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert ms_from <= parsed.int >> 80 <= ms_to  # the first 48 bits: Unix time in milliseconds


def test_one_id_and_many_are_version_7_uuids_of_now():
    before = time.time_ns() // 1_000_000
    one, many = new_id(), new_ids(2000)
    after = time.time_ns() // 1_000_000
    _check(one, before, after)
    assert many.dtype == object and len(set(many)) == 2000
    for text in many[:200]:
        _check(text, before, after)
    assert len(new_ids(0)) == 0


def test_later_ids_sort_after_earlier_ones():
    first = new_id()
    time.sleep(0.002)
    assert sorted([new_ids(1)[0], first])[0] == first
