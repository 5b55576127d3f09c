"""Retrying deliveries, one or many at once (issue 14), as write units (see ``driver``; the lock
order is ``receiving``'s: jobs, then deliveries, then subscriptions).

A bulk retry keeps each (subscription, job) chain in order: retried dead deliveries go back to
``pending`` held, then the head of each chain they belong to becomes due (unless the chain already
has a due head, or the subscription is paused: resuming sends it). Retrying ``pending`` makes
the due heads due now; what waits behind a head still follows it."""

from __future__ import annotations

from typing import Any

from hookline.errors import Conflict, NotFound
from hookline.models import Delivery
from hookline.queries import BulkRetry
from hookline.store import rows
from hookline.store.driver import Tx
from hookline.store.subscriptions import enabled

_TESTS = {
    "subscription_id": "d.subscription_id = :subscription_id",
    "event_type": "d.event_type = :event_type",
    "since": "d.created_at >= :since",
    "until": "d.created_at < :until",
}


def _where(wanted: BulkRetry) -> tuple[str, dict[str, Any]]:
    """The SQL condition (on ``deliveries d`` joined with ``subscriptions s``) that selects the
    deliveries ``wanted`` names, and its parameters. Disabled subscriptions are left out (enable one
    first); so are the held deliveries of a paused one when retrying ``pending``."""
    params = {"status": wanted.status} | {k: v for k in _TESTS if (v := getattr(wanted, k)) is not None}
    clauses = ["d.status = :status", "s.enabled", *(_TESTS[k] for k in params if k in _TESTS)]
    if wanted.status == "pending":
        clauses += ["d.next_attempt_at IS NOT NULL", "NOT s.paused"]
    return " AND ".join(clauses), params


async def retry_deliveries(tx: Tx, wanted: BulkRetry, now: float) -> int:
    """Send again now every delivery ``wanted`` matches, each chain still in order; return how many
    were queued."""
    where, params = _where(wanted)
    matched = f"FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE {where}"
    # Promoting a chain's head locks the job's row first (see ``receiving``).
    await tx.fetch(f"SELECT id FROM jobs WHERE id IN (SELECT d.job_id {matched}) ORDER BY id FOR UPDATE", **params)
    found = await tx.fetch(f"SELECT d.id, d.subscription_id {matched} ORDER BY d.id FOR UPDATE OF d", **params)
    ids = [r["id"] for r in found if wanted.status == "dead" or not await tx.claims.busy(tx, r["id"], now)]
    if not ids:
        return 0
    if wanted.status == "dead":
        await tx.execute("hold_for_retry", now=now, ids=ids)
        for sub_id in sorted({r["subscription_id"] for r in found}):
            await tx.execute("promote_heads", now=now, id=sub_id)
    else:
        await tx.execute("due_now", now=now, ids=ids)
    tx.wake = True
    return len(ids)


async def retry_delivery(tx: Tx, delivery_id: str, now: float) -> Delivery:
    """Make a dead (or waiting) delivery due now. Raises NotFound, Conflict."""
    row = await tx.fetch_one("delivery_state", id=delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    if await tx.claims.busy(tx, delivery_id, now):
        raise Conflict(f"delivery {delivery_id} is being sent right now; look again in a moment")
    sub_id = row["subscription_id"]
    await enabled(tx, sub_id, f'(PATCH /v1/subscriptions/{sub_id} {{"enabled": true}}) before retrying')
    await tx.execute("retry_delivery", now=now, id=delivery_id)
    tx.claims.forget(tx, delivery_id)
    tx.wake = True
    return rows.delivery(await tx.fetch_one("get_delivery", id=delivery_id))
