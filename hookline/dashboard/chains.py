"""What the dashboard says about a delivery beyond its own row: the endpoint it goes to, and
whether it is held behind an earlier delivery of the same chain.

A chain is one subscription's deliveries for one job: they go out one at a time, in order. A
delivery still ``pending`` with no next attempt is held behind the chain's head (the earliest
pending delivery that is scheduled), so the page can say "waiting for #n" instead of showing a
pending delivery that seems stuck. Composed from existing store reads (one per chain shown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hookline.models import Delivery, Subscription
from hookline.queries import MAX_PAGE, DeliveryQuery
from hookline.store import Store


@dataclass(slots=True)
class Context:
    """For a set of deliveries: their subscriptions by id, and for each held one, the delivery it
    waits for."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    waiting_for: dict[str, Delivery] = field(default_factory=dict)

    def url(self, d: Delivery) -> str | None:
        sub = self.subscriptions.get(d.subscription_id)
        return sub.url if sub is not None else None

    def held_because(self, d: Delivery) -> str | None:
        """Why a pending delivery has no next attempt, in words (None if it has one or is done)."""
        if d.status != "pending" or d.next_attempt_at is not None:
            return None
        head = self.waiting_for.get(d.id)
        if head is not None:
            return f"waiting for #{head.sequence}"
        sub = self.subscriptions.get(d.subscription_id)
        if sub is not None and not sub.enabled:
            return "subscription disabled"
        return "held"


def held(d: Delivery) -> bool:
    return d.status == "pending" and d.next_attempt_at is None


def chain_head(pending: Iterable[Delivery]) -> Delivery | None:
    """The delivery a chain is busy with: its earliest scheduled pending delivery, or (when none is
    scheduled, e.g. the subscription is disabled) its earliest pending one."""
    ordered = sorted(pending, key=lambda d: d.id)  # ids sort by creation: the chain's order
    scheduled = [d for d in ordered if d.next_attempt_at is not None]
    first = scheduled or ordered
    return first[0] if first else None


async def context(store: Store, deliveries: Iterable[Delivery]) -> Context:
    """The subscriptions of ``deliveries`` and, for each held one, its chain's head."""
    found = Context()
    shown = list(deliveries)
    for sub_id in dict.fromkeys(d.subscription_id for d in shown):
        sub = await store.get_subscription(sub_id)
        if sub is not None:
            found.subscriptions[sub_id] = sub
    heads: dict[tuple[str, str], Delivery | None] = {}
    for d in shown:
        if not held(d):
            continue
        chain = (d.subscription_id, d.job_id)
        if chain not in heads:
            query = DeliveryQuery(status="pending", subscription_id=d.subscription_id, job_id=d.job_id, limit=MAX_PAGE)
            heads[chain] = chain_head((await store.list_deliveries(query)).items)
        head = heads[chain]
        if head is not None and head.id < d.id:
            found.waiting_for[d.id] = head
    return found
