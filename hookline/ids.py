"""Identifiers: a type prefix and a ULID (time-sortable, so "newest first" is "largest id first")."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid(now: float | None = None) -> str:
    """Return a 26-character ULID. Within one process ids are strictly increasing, even within a
    millisecond (the random part is incremented), so ordering by id is ordering by creation."""
    global _last_ms, _last_rand
    ms = int((time.time() if now is None else now) * 1000)
    with _lock:
        if ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave headroom for increments
        _last_ms, _last_rand = ms, rand
    return _encode(ms, 10) + _encode(rand, 16)


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<ulid>``, e.g. ``job_01J8Z...``."""
    return f"{prefix}_{ulid()}"
