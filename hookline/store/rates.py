"""Per-subscription settings on claimed deliveries (issue 15): the headers and retry schedule each
claim carries, and the send slots of a subscription's ``rate_limit``.

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

import orjson

from hookline.models import Claim
from hookline.store.driver import Driver, Row, Tx

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


async def with_settings(driver: Driver, claims: list[Claim], owner: str, now: float) -> list[Claim]:
    """``claims`` with their subscriptions' headers, retry schedules and send slots; a claim of a
    rate-limited subscription that got no slot is released (and left out)."""
    if not claims:
        return claims
    found = await driver.fetch("subscription_settings", ids=sorted({c.subscription_id for c in claims}))
    settings = {r["id"]: r for r in found}
    limited: dict[str, tuple[int, int]] = {}
    for c in claims:
        row = settings.get(c.subscription_id)
        if row is not None and row["rate_limit"] is not None:
            rate, count = limited.get(c.subscription_id, (int(row["rate_limit"]), 0))
            limited[c.subscription_id] = (rate, count + 1)
    granted: dict[str, list[float]] = {}
    if limited:
        granted = await driver.write(lambda tx: take_slots(tx, limited, now))
    out: list[Claim] = []
    unsent: list[str] = []
    for c in claims:
        row = settings.get(c.subscription_id)
        send_at = None
        if c.subscription_id in limited:
            free = granted.get(c.subscription_id)
            if not free:
                unsent.append(c.delivery_id)
                continue
            send_at = free.pop(0)
        out.append(_dressed(c, row, send_at))
    if unsent:
        await driver.claims.release(owner, unsent)
    return out


def _dressed(claim: Claim, row: Row | None, send_at: float | None) -> Claim:
    if row is None:  # deleted since the claim: its delivery is gone too; the attempt finds out
        return claim
    schedule = row["retry_schedule"]
    # Set on the claim itself, which was made for this caller: dataclasses.replace() builds a
    # copy field by field, once per delivery.
    claim.headers = orjson.loads(row["headers"])
    claim.retry_schedule = None if schedule is None else tuple(orjson.loads(schedule))
    claim.send_at = send_at
    return claim


async def take_slots(tx: Tx, wanted: dict[str, tuple[int, int]], now: float) -> dict[str, list[float]]:
    """For each subscription id: (its rate, how many deliveries want a slot) → the slots taken."""
    ids = sorted(wanted)
    # The rows first (a concurrent first use waits for the other's insert, then sees its row), then
    # locked in id order, so two dispatchers never deadlock.
    await tx.execute("ensure_rate_buckets", ids=ids)
    buckets = {r["subscription_id"]: r["next_at"] for r in await tx.fetch("lock_rate_buckets", ids=ids)}
    granted: dict[str, list[float]] = {}
    for sub_id in ids:
        rate, count = wanted[sub_id]
        taken, next_at = slots(buckets.get(sub_id), now, rate, count)
        granted[sub_id] = taken
        await tx.execute("save_rate_bucket", id=sub_id, next_at=next_at)
        if len(taken) < count:
            # Full up to the horizon: claims leave this subscription alone until it is not.
            await tx.execute("throttle_for_rate", id=sub_id, until=next_at - HORIZON)
    return granted
