"""The store's part of issue 14 on every backend: paused subscriptions hold their deliveries from
the claims, bulk retry keeps chains in order, operational events are written with the attempts
that cause them."""

from __future__ import annotations

import time
from typing import Any

import orjson

from hookline.changes import SubscriptionChanges
from hookline.models import Event
from hookline.queries import BulkRetry, EventQuery
from hookline.store import Store
from tests.hookline.test_store import claim, completion, inbound, mj, subscription

WATCHED = ["subscription.failing", "subscription.recovered", "delivery.dead"]


async def set_paused(store: Store, sub_id: str, paused: bool) -> None:
    await store.update_subscription(sub_id, SubscriptionChanges(paused=paused, set_fields=frozenset({"paused"})), 0)


def sequences(claims: list[Any]) -> list[int]:
    return [orjson.loads(c.payload)["data"]["sequence"] for c in claims]


async def operational(store: Store) -> list[Event]:
    page = await store.list_events(EventQuery(limit=100))
    return [e for e in page.items if not e.type.startswith("job.")]


async def test_a_paused_subscription_is_never_claimed(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    await set_paused(store, sub.id, True)
    for body in (mj("P1"), mj("P1", "IN_PROGRESS", "15%")):
        await store.record_callback(inbound("mjproxy", body))
    assert await claim(store) == []
    await set_paused(store, sub.id, False)
    first = await claim(store)
    assert sequences(first) == [1]  # the head of the chain only
    await store.complete_delivery(completion(first[0], "delivered", success=True), time.time(), 1e9)
    assert sequences(await claim(store)) == [2]


async def test_an_attempt_finishing_while_paused_is_held(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("P2")))
    (leased,) = await claim(store)
    await set_paused(store, sub.id, True)
    soon = time.time() + 0.001
    await store.complete_delivery(completion(leased, "pending", next_at=soon, code=500), time.time(), 1e9)
    assert await claim(store, now=soon + 10) == []
    held = await store.get_delivery(leased.delivery_id)
    assert held is not None and held.next_attempt_at is None and held.status == "pending"


async def test_bulk_retry_of_dead_deliveries_keeps_each_chain_in_order(store: Store) -> None:
    await store.create_subscription(subscription())
    for body in (mj("B1"), mj("B1", "IN_PROGRESS", "15%")):
        await store.record_callback(inbound("mjproxy", body))
    for _ in range(2):
        (head,) = await claim(store)
        await store.complete_delivery(completion(head, "dead", code=500), time.time(), 1e9)
    assert await store.retry_deliveries(BulkRetry(), time.time()) == 2
    first = await claim(store)
    assert sequences(first) == [1]
    await store.complete_delivery(completion(first[0], "delivered", success=True), time.time(), 1e9)
    assert sequences(await claim(store)) == [2]


async def test_bulk_retry_of_pending_skips_what_is_being_sent(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("B2")))
    await store.record_callback(inbound("mjproxy", mj("B3")))
    leased, waiting = await claim(store)
    later = time.time() + 3600
    await store.complete_delivery(completion(waiting, "pending", next_at=later, code=500), time.time(), 1e9)
    assert await store.retry_deliveries(BulkRetry(status="pending"), time.time()) == 1  # not the leased one
    (again,) = await claim(store)
    assert again.delivery_id == waiting.delivery_id
    assert leased.delivery_id != waiting.delivery_id


async def test_bulk_retry_filters_by_subscription_and_event_type(store: Store) -> None:
    one = await store.create_subscription(subscription())
    await store.create_subscription(subscription(url="https://two.example.com/"))
    await store.record_callback(inbound("mjproxy", mj("B4")))
    for c in await claim(store):
        await store.complete_delivery(completion(c, "dead", code=500), time.time(), 1e9)
    assert await store.retry_deliveries(BulkRetry(event_type="job.progress"), time.time()) == 0
    assert await store.retry_deliveries(BulkRetry(subscription_id=one.id), time.time()) == 1
    (again,) = await claim(store)
    assert again.subscription_id == one.id


async def test_four_failures_in_a_row_make_one_failing_event_and_a_success_recovered(store: Store) -> None:
    subject = await store.create_subscription(subscription())
    watcher = await store.create_subscription(subscription(url="https://watch.example.com/", event_types=WATCHED))
    await store.record_callback(inbound("mjproxy", mj("F1")))
    told: list[Any] = []

    async def subjects_claim() -> Any:
        claims = await claim(store, now=time.time() + 1)
        told.extend(c for c in claims if c.subscription_id == watcher.id)
        (c,) = [c for c in claims if c.subscription_id == subject.id]
        return c

    for _ in range(6):  # one failure per batch: failing once, at the fourth
        c = await subjects_claim()
        await store.complete_delivery(completion(c, "pending", next_at=time.time(), code=500), time.time(), 1e9)
    assert [e.type for e in await operational(store)] == ["subscription.failing"]
    c = await subjects_claim()
    await store.complete_delivery(completion(c, "delivered", success=True), time.time(), 1e9)
    events = await operational(store)
    assert [e.type for e in events] == ["subscription.failing", "subscription.recovered"]
    failing = orjson.loads(events[0].payload)
    assert failing["data"]["subscription_id"] == subject.id and failing["data"]["attempts"] == 4
    assert events[0].to_api()["job_id"] is None
    told.extend(await claim(store, now=time.time() + 1))
    assert [orjson.loads(c.payload)["type"] for c in told] == ["subscription.failing", "subscription.recovered"]
    assert {c.subscription_id for c in told} == {watcher.id}


async def test_a_dead_operational_delivery_is_not_told_again(store: Store) -> None:
    subject = await store.create_subscription(subscription())
    await store.create_subscription(subscription(url="https://watch.example.com/", event_types=["delivery.dead"]))
    await store.record_callback(inbound("mjproxy", mj("F2")))
    (c,) = await claim(store)
    assert c.subscription_id == subject.id
    await store.complete_delivery(completion(c, "dead", code=500), time.time(), 1e9)
    (told,) = await claim(store)
    assert orjson.loads(told.payload)["type"] == "delivery.dead"
    await store.complete_delivery(completion(told, "dead", code=500), time.time(), 1e9)
    assert [e.type for e in await operational(store)] == ["delivery.dead"]
