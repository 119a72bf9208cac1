"""Assessment ids: UUID version 7 (RFC 9562), a millisecond timestamp followed by random bits.

Time-ordered ids are appended at the end of the audit store's primary-key indexes instead of landing
on a random page of them, so a group commit dirties one index page rather than one per record.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX = np.stack([_HEX_DIGITS[np.arange(256) >> 4], _HEX_DIGITS[np.arange(256) & 15]], axis=1)  # byte → 2 digits
_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))  # hex digits 8-4-4-4-12, a dash between groups


def _uuid7_bytes(n: int) -> np.ndarray:
    """(n, 16) bytes: the current Unix time in ms (48 bits, big-endian), version 7, variant 0b10, random."""
    out = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    out[:, :6] = np.frombuffer((time.time_ns() // 1_000_000).to_bytes(6, "big"), dtype=np.uint8)
    out[:, 6] = (out[:, 6] & 0x0F) | 0x70
    out[:, 8] = (out[:, 8] & 0x3F) | 0x80
    return out


def new_id(clock_ns: Callable[[], int] = time.time_ns) -> str:
    """One UUIDv7 in canonical text form (plain bytes: numpy's call overhead would triple the cost)."""
    b = bytearray((clock_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_ids(n: int) -> np.ndarray:
    """n UUIDv7 strings (object array), formatted in one vectorised pass: `str(uuid.uuid4())` per
    row costs about a tenth of scoring the row."""
    digits = _HEX[_uuid7_bytes(n)].reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dashes, (start, stop) in enumerate(_GROUPS):
        out[:, start + dashes:stop + dashes] = digits[:, start:stop]
    return out.view("S36").ravel().astype(str).astype(object)
