"""Assessment ids: canonical UUIDv7 text, distinct, ordered by the millisecond they were made."""
from __future__ import annotations

import time
import uuid

from service.batch.ids import new_id, new_ids


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
    ms = 1_800_000_000_000
    ids = [new_id(lambda t=t: t * 1_000_000) for t in (ms + 2, ms, ms + 1, ms + 3)]
    assert sorted(ids) == [ids[1], ids[2], ids[0], ids[3]]
