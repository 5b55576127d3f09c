"""The store contract for ``complete_delivery``'s answer: the reason, when recording an attempt
disabled its subscription, reported exactly once (the dispatcher counts disablings from it)."""

from __future__ import annotations

import asyncio
import time

from hookline.store import Store
from tests.hookline.test_store import claim, completion, inbound, mj, subscription


async def test_a_410_reports_the_disabling_once_however_many_attempts_see_it(store: Store) -> None:
    await store.create_subscription(subscription())
    for i in range(3):
        await store.record_callback(inbound("mjproxy", mj(f"GONE{i}")))
    claims = await claim(store)
    assert len(claims) == 3
    now = time.time()
    answers = await asyncio.gather(
        *(
            store.complete_delivery(
                completion(c, "pending", next_at=now, code=410, disable_reason="410 Gone"), now, 1e9
            )
            for c in claims
        )
    )
    assert sorted(answers, key=str) == ["410 Gone", None, None]


async def test_failing_too_long_reports_the_disabling_once(store: Store) -> None:
    await store.create_subscription(subscription())
    for i in range(3):
        await store.record_callback(inbound("mjproxy", mj(f"LONG{i}")))
    first, second, third = await claim(store)
    t0 = time.time()
    assert await store.complete_delivery(completion(first, "pending", next_at=t0 + 1e6, code=500), t0, 100.0) is None
    reason = await store.complete_delivery(completion(second, "pending", next_at=t0 + 1e6, code=500), t0 + 101, 100.0)
    assert reason is not None and reason.startswith("failing without a success since")
    assert await store.complete_delivery(completion(third, "dead", code=500), t0 + 102, 100.0) is None


async def test_ordinary_attempts_report_nothing(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("OK1")))
    (c,) = await claim(store)
    assert await store.complete_delivery(completion(c, "delivered", success=True), time.time(), 100.0) is None
