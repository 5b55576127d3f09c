"""The store's side of per-subscription settings (issue 15), on every backend: settings round-trip,
claims carry them, the rate limit's send slots, and the status / min_progress filters."""

from __future__ import annotations

import time

import pytest

from hookline.changes import SubscriptionChanges
from hookline.queries import DeliveryQuery
from hookline.ratelimit import HORIZON, interval
from hookline.store import Store
from tests.hookline.test_store import OWNER, claim, inbound, mj, subscription


async def test_settings_are_stored_and_changed(store: Store) -> None:
    sub = await store.create_subscription(
        subscription(headers={"X-Key": "k1"}, rate_limit=20, retry_schedule=[1.0, 2.5])
    )
    got = await store.get_subscription(sub.id)
    assert got is not None and (got.headers, got.rate_limit, got.retry_schedule) == ({"X-Key": "k1"}, 20, [1.0, 2.5])
    changes = SubscriptionChanges(headers={}, rate_limit=None, set_fields=frozenset({"headers", "rate_limit"}))
    changed = await store.update_subscription(sub.id, changes, time.time())
    assert (changed.headers, changed.rate_limit, changed.retry_schedule) == ({}, None, [1.0, 2.5])


async def test_a_claim_carries_its_subscriptions_headers_and_schedule(store: Store) -> None:
    await store.create_subscription(subscription(headers={"X-Key": "k1"}, retry_schedule=[7.0]))
    await store.record_callback(inbound("mjproxy", mj("S1")))
    (c,) = await claim(store)
    assert (c.headers, c.retry_schedule, c.send_at) == ({"X-Key": "k1"}, (7.0,), None)


async def test_rate_limited_claims_get_spaced_slots_and_the_rest_wait(store: Store) -> None:
    sub = await store.create_subscription(subscription(rate_limit=2))
    for i in range(5):
        await store.record_callback(inbound("mjproxy", mj(f"L{i}")))
    now = time.time()
    claims = await store.claim_deliveries(OWNER, 100, now, 30.0, 100)
    step = interval(2)
    expected = int(HORIZON / step) + 1  # slots from now to now + HORIZON
    assert [c.send_at for c in claims] == pytest.approx([now + i * step for i in range(expected)])
    # The others were given back, and the subscription sits out until its next slot is near.
    assert await store.claim_deliveries(OWNER, 100, now + 0.01, 30.0, 100) == []
    later = now + expected * step - HORIZON + 0.01
    (nxt,) = await store.claim_deliveries(OWNER, 100, later, 30.0, 100)
    assert nxt.send_at == pytest.approx(now + expected * step)
    pending = await store.list_deliveries(DeliveryQuery(subscription_id=sub.id, status="pending"))
    assert len(pending.items) == 5


async def test_a_busy_rate_limit_leaves_other_subscriptions_alone(store: Store) -> None:
    await store.create_subscription(subscription(url="https://slow.example.com/", rate_limit=1))
    free = await store.create_subscription(subscription(url="https://free.example.com/"))
    for i in range(4):
        await store.record_callback(inbound("mjproxy", mj(f"F{i}")))
    claims = await claim(store)
    assert sum(c.subscription_id == free.id for c in claims) == 4
    assert sum(c.subscription_id != free.id for c in claims) == 1


async def test_status_and_min_progress_filters_choose_events(store: Store) -> None:
    outcomes = await store.create_subscription(subscription(filter={"status": ["succeeded"]}))
    halfway = await store.create_subscription(subscription(filter={"min_progress": 50}))
    for body in (
        mj("P1"),
        mj("P1", "IN_PROGRESS", "30%"),
        mj("P1", "IN_PROGRESS", "60%"),
        mj("P1", "SUCCESS", "100%", imageUrl="https://cdn/a.png"),
    ):
        await store.record_callback(inbound("mjproxy", body))
    got = {}
    for sub in (outcomes, halfway):
        page = await store.list_deliveries(DeliveryQuery(subscription_id=sub.id))
        got[sub.id] = sorted(d.sequence for d in page.items)
    assert got[outcomes.id] == [4]
    assert got[halfway.id] == [3, 4]
