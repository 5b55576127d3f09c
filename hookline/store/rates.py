"""Per-subscription settings on claimed deliveries (issue 15): the headers and retry schedule each
claim carries, and its send slot under the subscription's ``rate_limit`` (see ``hookline.ratelimit``:
the slots come from the bucket row ``rate_buckets.next_at``, moved under its lock)."""

from __future__ import annotations

import orjson

from hookline.models import Claim
from hookline.ratelimit import HORIZON, slots
from hookline.store.driver import Driver, Row, Tx


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
