"""Time: an injectable clock and the one place times are turned into ISO-8601 strings and back.

Inside hookline a time is a float of seconds since the epoch (UTC). The API and the events speak
ISO-8601 UTC with millisecond precision (``2026-11-21T10:44:00.123Z``).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: tests use it to cross retry schedules without sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


# Every event is stamped with the time: the part up to the second is formatted once per second.
_second_cache: tuple[int, str] = (-1, "")


def isoformat(ts: float | None) -> str | None:
    """``1732185840.123`` → ``"2024-11-21T10:44:00.123Z"``; ``None`` stays ``None``."""
    global _second_cache
    if ts is None:
        return None
    second = math.floor(ts)
    cached_second, prefix = _second_cache
    if cached_second != second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_cache = (second, prefix)
    return f"{prefix}{min(999, int((ts - second) * 1000)):03d}Z"


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 time (a naive one is taken as UTC). Raises ``ValueError`` with a message
    that names the expected form."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 time such as 2026-11-21T10:44:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
