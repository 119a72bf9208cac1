"""Compact, byte-exact audit records: a request's input and answer deflated with a preset dictionary.

An answer is ~7 KB of JSON whose bulk (indicator labels, reason texts in two languages, field names)
repeats from one assessment to the next; plain zstd or deflate leaves ~3.5 KB of it. Deflate primed
with a dictionary of earlier records (zlib's preset dictionary, 32 KB) leaves ~1 KB. A dictionary is
stored once in the database under the hash of its bytes and named by every record compressed with
it, so records stay readable whatever dictionary a later process starts with. Decompressing gives
the input and the answer back byte for byte.
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Sequence

DICT_BYTES = 32 * 1024  # deflate's window: a longer preset dictionary is not used
DICT_SAMPLES = 8  # records a dictionary is made of (more add little once the labels are in)
LEVEL = 3  # ~10% larger than 6 at a fraction of the CPU (the writer thread shares the GIL with the loop)


def make_dictionary(samples: Sequence[bytes]) -> bytes:
    """A preset dictionary of sample records, the most recent last (deflate prefers near matches)."""
    return b"".join(samples[-DICT_SAMPLES:])[-DICT_BYTES:]


def dictionary_id(data: bytes) -> str:
    """The name a dictionary is stored under: the start of its sha256."""
    return hashlib.sha256(data).hexdigest()[:16]


def compressor(dictionary: bytes | None) -> "zlib._Compress":
    """A deflate compressor primed with `dictionary`: `pack` copies it (priming one costs more than
    compressing a record)."""
    return zlib.compressobj(LEVEL, zdict=dictionary) if dictionary else zlib.compressobj(LEVEL)


def pack(input_bytes: bytes, output_bytes: bytes, dictionary: bytes | None,
         primed: "zlib._Compress | None" = None) -> bytes:
    """Input then answer as one deflate stream (the answer repeats the input's values); `primed`:
    `compressor(dictionary)`, to be copied rather than built anew."""
    comp = primed.copy() if primed is not None else compressor(dictionary)
    return comp.compress(input_bytes) + comp.compress(output_bytes) + comp.flush()


def unpack(data: bytes, input_size: int, dictionary: bytes | None) -> tuple[bytes, bytes]:
    """(input, answer) exactly as packed."""
    dec = zlib.decompressobj(zdict=dictionary) if dictionary else zlib.decompressobj()
    both = dec.decompress(data) + dec.flush()
    return both[:input_size], both[input_size:]
