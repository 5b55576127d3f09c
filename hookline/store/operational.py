"""Subscription health and operational events (:mod:`hookline.operational`), worked out from what a
batch of delivery attempts did and written in the transaction that records them (PostgreSQL's
``hookline_complete`` writes a batch of successes alone and hands over the recoveries owed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookline.fanout import plan_notices
from hookline.models import Event
from hookline.operational import build, health_events
from hookline.store import receiving, rows
from hookline.store.driver import Tx
from hookline.subscription_health import Health


@dataclass(slots=True)
class Notices:
    """Operational events waiting to be written, each with the subscription it is about."""

    events: list[tuple[Event, str]] = field(default_factory=list)

    def add(self, event: Event, subject: str) -> None:
        self.events.append((event, subject))

    async def dead(self, tx: Tx, delivery_ids: list[str], now: float) -> None:
        """Note a ``delivery.dead`` for each of these deliveries that carried a job event (a dead
        operational delivery is not told again: two failing subscribers would tell each other
        for ever)."""
        if not delivery_ids:
            return
        for r in await tx.fetch("dead_deliveries", ids=delivery_ids):
            told = {key: r[key] for key in ("event_id", "event_type", "job_id", "attempts", "last_error")}
            event = build("delivery.dead", now, r["subscription_id"], r["url"], delivery_id=r["id"], **told)
            self.add(event, r["subscription_id"])

    async def write(self, tx: Tx) -> None:
        """Insert the events and queue them to every enabled subscription that names their type
        in ``event_types`` (never the one an event is about)."""
        if not self.events:
            return
        await tx.many("insert_events", rows.EVENT, [rows.event_values(e) for e, _ in self.events])
        planned = plan_notices(self.events, await tx.fanout_subscriptions([]))
        await receiving.insert_deliveries(tx, planned)
        self.events = []


HEALTH = ("id", "success_at", "failing_since", "throttled_until", "disable_reason", "now", "consecutive_failures")


async def write_health(tx: Tx, health: dict[str, Health], notices: Notices, count: int) -> list[str | None]:
    """Write what each subscription's :class:`Health` says (noting the operational events it
    causes); return, for each of the batch's ``count`` attempts, the reason if recording it
    disabled its subscription (one attempt per disabling: ``Health.blamed``)."""
    updates: list[tuple[Any, ...]] = []
    disabled: list[str | None] = [None] * count
    paused: list[str] = []
    for r in await tx.fetch("lock_subscription_health", ids=sorted(health)):
        h = health[r["id"]]
        failing = h.failing_since(r["failing_since"])
        throttled_until = r["throttled_until"]
        if h.throttle_until is not None:
            throttled_until = max(throttled_until or 0.0, h.throttle_until)
        reason = h.reason_to_disable(failing) if r["enabled"] else None
        if reason is not None:
            paused.append(r["id"])
            if h.blamed is not None:
                disabled[h.blamed] = reason
        # A count of 4 or more with failing_since cleared: a success whose recovery is still owed.
        owed = r["failing_since"] is None
        told, in_a_row = health_events(r["id"], r["url"], r["consecutive_failures"], h, reason, owed=owed)
        notices.events += [(event, r["id"]) for event in told]
        updates.append((r["id"], h.success_at, failing, throttled_until, reason, h.now, in_a_row))
    await tx.many("save_health", HEALTH, updates)
    if paused:
        await tx.execute("pause_subscriptions", ids=paused)
    if paused or any(h.throttle_until is not None for h in health.values()):
        tx.subscriptions_changed()
    return disabled
