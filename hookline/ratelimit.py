"""A subscription's ``rate_limit``: the send slots that keep it (issue 15).

The rate limit is a bucket holding one token, refilled every ``(1 + MARGIN) / rate`` seconds (the
generic cell rate algorithm): the bucket is one number per subscription, ``rate_buckets.next_at``,
the earliest time its next request may go out. A claim that took deliveries of a rate-limited
subscription then takes a slot for each, in one short transaction that locks the bucket's row
(``FOR UPDATE``; SQLite's one writer needs no lock): slot *i* is ``max(next_at, now) + i * interval``,
for as many deliveries as have a slot within ``HORIZON`` seconds, and ``next_at`` moves past the
last one. The dispatcher holds each delivery until its slot (``Claim.send_at``); the deliveries
that got no slot are given back at once, and the subscription is left out of claims
(``throttled_until``) until its next slot is within the horizon, so no dispatcher spins on it.

Why that holds across any number of dispatcher processes: every slot comes from the one row, moved
under its lock, so any ``rate + 1`` slots of a subscription, whoever took them, span
``rate * interval = 1 + MARGIN`` seconds: a request may go out up to ``MARGIN`` seconds late (a
busy event loop, a slow connect) and still no second ever sees more than ``rate`` requests. The
cost is throughput: at most ``rate / (1 + MARGIN)`` requests per second. Dispatchers on several
machines must keep their clocks within ``MARGIN`` of each other (NTP does).
"""

from __future__ import annotations

MARGIN = 0.1  # seconds a request may go out late without breaking the limit
HORIZON = 1.0  # slots are handed out this far ahead; a delivery waits at most this long for one


def interval(rate: int) -> float:
    """Seconds between two requests to a subscription limited to ``rate`` per second."""
    return (1.0 + MARGIN) / rate


def slots(next_at: float | None, now: float, rate: int, count: int) -> tuple[list[float], float]:
    """Up to ``count`` send times from the bucket ``next_at`` (None: never used) at ``now``, none
    later than ``now + HORIZON``; and the bucket's next ``next_at``."""
    step = interval(rate)
    at = now if next_at is None or next_at < now else next_at
    taken: list[float] = []
    while len(taken) < count and at <= now + HORIZON:
        taken.append(at)
        at += step
    return taken, at
