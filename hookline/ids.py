"""Identifiers: a type prefix and a ULID (time-sortable, so "newest first" is "largest id first")."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
# Two characters per 10 bits from a table: a few times faster than 5 bits at a time.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -1, -10))
_HEAD_SHIFTS = tuple(range(100, -1, -10))
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
# Ids are made several times per callback (callback, job, event, one per delivery and attempt), and
# those of one millisecond differ only in an incremented random part: the first 22 characters (all
# but the low 20 bits) are encoded once and kept until they change.
_head_bits = -1
_head = ""


def _encode128(value: int) -> str:
    """26 Crockford base32 characters for a 128-bit value (the top two bits of the 130 are zero)."""
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


def ulid(now: float | None = None) -> str:
    """Return a 26-character ULID. Within one process ids are strictly increasing, even within a
    millisecond (the random part is incremented), so ordering by id is ordering by creation."""
    global _last_ms, _last_rand, _head_bits, _head
    ms = int((time.time() if now is None else now) * 1000)
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave headroom for increments
        _last_ms, _last_rand = ms, rand
        value = (ms << 80) | rand
        bits = value >> 20
        if bits != _head_bits:
            pairs = _PAIRS
            _head_bits, _head = bits, "".join([pairs[(bits >> shift) & 1023] for shift in _HEAD_SHIFTS])
        head = _head
    return head + _PAIRS[(rand >> 10) & 1023] + _PAIRS[rand & 1023]


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<ulid>``, e.g. ``job_01J8Z...``."""
    return f"{prefix}_{ulid()}"
