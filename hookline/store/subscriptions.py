"""Subscriptions and delivery administration, as write units (see ``driver``; the lock order is
``receiving``'s: jobs, then deliveries, then subscriptions)."""

from __future__ import annotations

from hookline.changes import SubscriptionChanges
from hookline.errors import Conflict, NotFound
from hookline.models import SigningSecret, Subscription
from hookline.operational import build
from hookline.store import receiving, rows
from hookline.store.driver import Tx
from hookline.store.operational import Notices


async def get(tx: Tx, sub_id: str, *, lock: bool = False) -> Subscription:
    row = await tx.fetch_one("lock_subscription" if lock else "get_subscription", id=sub_id)
    if row is None:
        raise NotFound(f"no subscription {sub_id!r}")
    return rows.subscription(row)


async def save(tx: Tx, sub: Subscription) -> None:
    await tx.execute("save_subscription", **rows.subscription_params(sub))
    tx.subscriptions_changed()


async def update(tx: Tx, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
    """Apply a PATCH. Disabling or pausing holds the subscription's pending deliveries; enabling
    or resuming it (so that it is enabled and not paused) makes the head of each of its chains due.
    Disabling it tells ``subscription.disabled`` (see ``operational``)."""
    holds = ("enabled" in changes.set_fields and not changes.enabled) or (
        "paused" in changes.set_fields and changes.paused
    )
    if holds:
        # Hold before locking the subscription row: a completion holds delivery rows while it
        # waits for that row, so taking them in the other order could deadlock.
        await tx.execute("pause_subscriptions", ids=[sub_id])
    elif "enabled" in changes.set_fields or "paused" in changes.set_fields:
        # Enabling or resuming promotes the head of each chain: lock their jobs first.
        await tx.lock("lock_jobs_of_pending", id=sub_id)
    sub = await get(tx, sub_id, lock=True)
    was_enabled, was_sending = sub.enabled, sub.enabled and not sub.paused
    changes.apply(sub, now)
    await save(tx, sub)
    if sub.enabled and not was_enabled:
        await tx.execute("set_failures_in_a_row", count=0, id=sub.id)  # a new start: no failing spell
    if was_enabled and not sub.enabled:
        notices = Notices()
        notices.add(build("subscription.disabled", now, sub.id, sub.url, reason=sub.disabled_reason), sub.id)
        await notices.write(tx)
    if sub.enabled and not sub.paused and not was_sending:
        await tx.execute("resume_subscription", now=now, id=sub.id)
        tx.wake = True
    return sub


async def delete(tx: Tx, sub_id: str) -> None:
    """Delete the subscription with its deliveries and attempts."""
    await get(tx, sub_id)
    for name in (
        "delete_subscription_attempts",
        "delete_subscription_deliveries",
        "delete_rate_bucket",
        "delete_subscription",
    ):
        await tx.execute(name, id=sub_id)
    tx.subscriptions_changed()


async def rotate_secret(tx: Tx, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
    """Make ``new_secret`` current; the previous ones keep signing for ``overlap`` seconds."""
    sub = await get(tx, sub_id, lock=True)
    kept = [s for s in sub.secrets if s.active(now)]
    for secret in kept:
        if secret.expires_at is None or secret.expires_at > now + overlap:
            secret.expires_at = now + overlap
    sub.secrets = [*kept, SigningSecret(new_secret, now)]
    sub.updated_at = now
    await save(tx, sub)
    return sub


async def replay(tx: Tx, sub_id: str, since: float, until: float | None, now: float) -> int:
    """Queue again, for one (enabled) subscription, every matching event created in [since, until)."""
    return await receiving.replay(tx, await enabled(tx, sub_id, "before replaying"), since, until, now)


async def enabled(tx: Tx, sub_id: str, doing: str) -> Subscription:
    """The subscription, which must be enabled before ``doing`` (else Conflict)."""
    sub = await get(tx, sub_id)
    if not sub.enabled:
        raise Conflict(f"subscription {sub_id} is disabled ({sub.disabled_reason}); enable it {doing}")
    return sub
