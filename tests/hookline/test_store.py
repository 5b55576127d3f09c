"""The store contract: every test runs on every backend (SQLite file, fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from hookline.changes import NewJob, SubscriptionChanges
from hookline.errors import Conflict, NotFound, SchemaTooNew
from hookline.ids import new_id
from hookline.models import Attempt, Completion, Inbound, SigningSecret, Subscription
from hookline.queries import DeliveryQuery, JobQuery
from hookline.store import Store
from receiver.adapters import ADAPTERS
from tests.support import MJPROXY_LIFECYCLE, USEAPI_COMPLETED, USEAPI_FAILED, fixture_bytes

OWNER = "test-dispatcher"


def inbound(provider: str, body: bytes | dict[str, Any], received_at: float | None = None) -> Inbound:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Inbound(
        provider,
        raw,
        {"content-type": "application/json"},
        received_at or time.time(),
        snapshot=ADAPTERS[provider](orjson.loads(raw)),
    )


def mj(
    task_id: str, status: str = "SUBMITTED", progress: str = "0%", state: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"id": task_id, "status": status, "progress": progress, "state": state, **extra}


def subscription(url: str = "https://example.com/hook", **kwargs: Any) -> Subscription:
    now = time.time()
    fields: dict[str, Any] = {
        "id": new_id("sub"),
        "url": url,
        "event_types": None,
        "filter": {},
        "description": None,
        "secrets": [SigningSecret("whsec_" + "A" * 32, now)],
        "enabled": True,
        "disabled_reason": None,
        "job_id": None,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(kwargs)
    return Subscription(**fields)


def completion(
    claim: Any,
    status: str,
    *,
    success: bool = False,
    next_at: float | None = None,
    code: int | None = 200,
    owner: str = OWNER,
    **extra: Any,
) -> Completion:
    attempt = Attempt(new_id("att"), claim.delivery_id, time.time(), code, 1.0, None, "ok")
    return Completion(claim.delivery_id, claim.subscription_id, owner, attempt, status, next_at, success, **extra)


async def claim(store: Store, limit: int = 100, per_sub: int = 100, now: float | None = None) -> list[Any]:
    return await store.claim_deliveries(OWNER, limit, now or time.time(), 30.0, per_sub)


# --- receiving ------------------------------------------------------------------------------------
async def test_mjproxy_lifecycle_makes_one_succeeded_job(store: Store) -> None:
    results = [await store.record_callback(inbound("mjproxy", fixture_bytes(n))) for n in MJPROXY_LIFECYCLE]
    assert len({r.job_id for r in results}) == 1
    assert [r.outcome for r in results].count("duplicate") == 1  # 03 repeats 02's "IN_PROGRESS 0%"
    job = await store.get_job(results[0].job_id or "")
    assert job is not None
    assert (job.status, job.progress, job.correlation_key) == ("succeeded", 100, "order-7f3a9c")
    assert job.image_urls[0].endswith("&") and "novice_3f9c2a8e" in job.image_urls[0]
    events = await store.job_events(job.id)
    assert sorted(e.sequence for e in events) == list(range(1, 10))
    assert events[0].type == "job.succeeded"


@pytest.mark.parametrize(("names", "status"), [(USEAPI_COMPLETED, "succeeded"), (USEAPI_FAILED, "failed")])
async def test_useapi_lifecycles(store: Store, names: list[str], status: str) -> None:
    results = [await store.record_callback(inbound("useapi", fixture_bytes(n))) for n in names]
    job = await store.get_job(results[-1].job_id or "")
    assert job is not None and job.status == status and job.correlation_key == "order-7f3a9c"
    if status == "succeeded":
        assert job.image_urls and job.progress == 100
    else:
        assert job.error and "Could not validate this link" in job.error


async def test_registered_job_is_bound_by_correlation_key(store: Store) -> None:
    job = await store.register_job(NewJob("mjproxy", "order-1", metadata={"user": "u1"}), time.time())
    result = await store.record_callback(inbound("mjproxy", mj("T1", state="order-1")))
    assert result.job_id == job.id and result.outcome == "applied"
    bound = await store.get_job(job.id)
    assert bound is not None and bound.upstream_id == "T1" and bound.metadata == {"user": "u1"}
    # later callbacks match by upstream id, even without the key
    later = await store.record_callback(inbound("mjproxy", mj("T1", "IN_PROGRESS", "15%")))
    assert later.job_id == job.id


async def test_state_equal_to_a_job_id_correlates_to_that_job(store: Store) -> None:
    job = await store.register_job(NewJob("useapi", "customer-key", origin="submitted"), time.time())
    result = await store.record_callback(inbound("useapi", {"jobid": "J9", "status": "started", "replyRef": job.id}))
    assert result.job_id == job.id


async def test_provider_separates_jobs_with_the_same_upstream_id(store: Store) -> None:
    a = await store.record_callback(inbound("mjproxy", mj("same")))
    b = await store.record_callback(inbound("useapi", {"jobid": "same", "status": "started"}))
    assert a.job_id != b.job_id


async def test_rejected_callback_is_kept_without_a_job(store: Store) -> None:
    raw = Inbound("mjproxy", b"{not json", {}, time.time(), reject_reason="the body is not valid JSON")
    result = await store.record_callback(raw)
    assert result.outcome == "rejected" and result.job_id is None and result.callback_id


async def test_concurrent_callbacks_commit_together(store: Store) -> None:
    results = await asyncio.gather(*[store.record_callback(inbound("mjproxy", mj(f"C{i}"))) for i in range(300)])
    assert all(r.outcome == "applied" for r in results)
    page = await store.list_jobs(JobQuery(limit=500))
    assert len(page.items) == 300


async def test_concurrent_callbacks_of_one_job_apply_in_order(store: Store) -> None:
    bodies = [mj("ONE", "IN_PROGRESS", f"{p}%") for p in (15, 31, 46, 62)] + [
        mj("ONE", "SUCCESS", "100%", imageUrl="https://cdn/x.png")
    ]
    results = await asyncio.gather(*[store.record_callback(inbound("mjproxy", b)) for b in bodies])
    assert len({r.job_id for r in results}) == 1
    job = await store.get_job(results[0].job_id or "")
    assert job is not None and job.status == "succeeded" and job.sequence == 5


async def test_a_bad_write_fails_alone(store: Store) -> None:
    await store.register_job(NewJob("mjproxy", "k", upstream_id="U-dup"), time.time())
    outcomes = await asyncio.gather(
        store.register_job(NewJob("mjproxy", "k2", upstream_id="U-dup"), time.time()),
        *[store.record_callback(inbound("mjproxy", mj(f"OK{i}"))) for i in range(20)],
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Conflict)
    assert all(getattr(o, "outcome", None) == "applied" for o in outcomes[1:])


async def test_event_payload_has_the_documented_shape(store: Store) -> None:
    job = await store.register_job(NewJob("mjproxy", "shape", metadata={"k": "v"}), time.time())
    await store.record_callback(
        inbound("mjproxy", mj("S1", "IN_PROGRESS", "46%", state="shape", imageUrl="https://cdn/p.webp"))
    )
    (event,) = await store.job_events(job.id)
    body = orjson.loads(event.payload)
    assert body["type"] == "job.progress" and body["timestamp"].endswith("Z")
    assert set(body["data"]) == {
        "job_id",
        "provider",
        "upstream_id",
        "correlation_key",
        "action",
        "status",
        "progress",
        "sequence",
        "image_urls",
        "error",
        "metadata",
        "upstream",
    }
    assert body["data"]["metadata"] == {"k": "v"} and body["data"]["progress"] == 46
    assert body["data"]["upstream"]["imageUrl"] == "https://cdn/p.webp"


async def test_list_jobs_filters_and_paginates_newest_first(store: Store) -> None:
    for i in range(7):
        await store.record_callback(inbound("mjproxy", mj(f"P{i}", state=f"key-{i % 2}")))
    await store.record_callback(inbound("useapi", {"jobid": "U", "status": "completed"}))
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_jobs(JobQuery(provider="mjproxy", limit=3, cursor=cursor))
        seen += [j.upstream_id or "" for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"P{i}" for i in reversed(range(7))]
    keyed = await store.list_jobs(JobQuery(correlation_key="key-1"))
    assert {j.upstream_id for j in keyed.items} == {"P1", "P3", "P5"}
    done = await store.list_jobs(JobQuery(status="succeeded"))
    assert [j.upstream_id for j in done.items] == ["U"]


async def test_callbacks_are_kept_as_the_job_timeline(store: Store) -> None:
    first = await store.record_callback(inbound("mjproxy", mj("TL")))
    await store.record_callback(inbound("mjproxy", mj("TL")))
    callbacks = await store.job_callbacks(first.job_id or "")
    assert [c.outcome for c in callbacks] == ["duplicate", "applied"]
    assert orjson.loads(callbacks[0].body)["id"] == "TL"


async def test_settings_are_stored_once(store: Store) -> None:
    assert await store.ensure_setting("admin_token", "first") == "first"
    assert await store.ensure_setting("admin_token", "second") == "first"


# --- fan-out and delivery -------------------------------------------------------------------------
async def test_events_fan_out_to_matching_subscriptions_only(store: Store) -> None:
    everything = await store.create_subscription(subscription())
    only_done = await store.create_subscription(subscription(event_types=["job.succeeded"]))
    useapi_only = await store.create_subscription(subscription(filter={"provider": "useapi"}))
    prefixed = await store.create_subscription(subscription(filter={"correlation_key_prefix": "shop-"}))
    await store.record_callback(inbound("mjproxy", mj("F1", state="shop-1")))
    await store.record_callback(inbound("mjproxy", mj("F1", "SUCCESS", "100%", imageUrl="https://cdn/a.png")))
    counts = {}
    for sub in (everything, only_done, useapi_only, prefixed):
        page = await store.list_deliveries(DeliveryQuery(subscription_id=sub.id))
        counts[sub.id] = sorted(d.event_type for d in page.items)
    assert counts[everything.id] == ["job.submitted", "job.succeeded"]
    assert counts[only_done.id] == ["job.succeeded"]
    assert counts[useapi_only.id] == []
    assert counts[prefixed.id] == ["job.submitted", "job.succeeded"]


async def test_metadata_filter_and_one_off_job_subscription(store: Store) -> None:
    vip = await store.create_subscription(subscription(filter={"metadata": {"tier": "vip"}}))
    one_off = subscription(url="https://example.com/one-off")
    job = await store.register_job(NewJob("mjproxy", "m1", metadata={"tier": "vip"}, subscription=one_off), time.time())
    await store.register_job(NewJob("mjproxy", "m2", metadata={"tier": "free"}), time.time())
    await store.record_callback(inbound("mjproxy", mj("M1", state="m1")))
    await store.record_callback(inbound("mjproxy", mj("M2", state="m2")))
    vip_deliveries = await store.list_deliveries(DeliveryQuery(subscription_id=vip.id))
    assert [d.job_id for d in vip_deliveries.items] == [job.id]
    one_off_deliveries = await store.list_deliveries(DeliveryQuery(subscription_id=one_off.id))
    assert [d.job_id for d in one_off_deliveries.items] == [job.id]


async def test_a_jobs_later_events_wait_for_the_earlier_one(store: Store) -> None:
    await store.create_subscription(subscription())
    for body in (mj("O1"), mj("O1", "IN_PROGRESS", "15%"), mj("O1", "IN_PROGRESS", "46%")):
        await store.record_callback(inbound("mjproxy", body))
    await store.record_callback(inbound("mjproxy", mj("O2")))
    first = await claim(store)
    assert sorted((c.job_id, orjson.loads(c.payload)["data"]["sequence"]) for c in first) == sorted(
        [(first[0].job_id, 1), (first[1].job_id, 1)]
    )
    o1 = next(c for c in first if orjson.loads(c.payload)["data"]["upstream_id"] == "O1")
    assert await claim(store) == []  # O1's sequence 2 waits for sequence 1
    await store.complete_delivery(completion(o1, "delivered", success=True), time.time(), 1e9)
    second = await claim(store)
    assert [orjson.loads(c.payload)["data"]["sequence"] for c in second] == [2]


async def test_dead_delivery_lets_the_next_one_go(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("D1")))
    await store.record_callback(inbound("mjproxy", mj("D1", "IN_PROGRESS", "15%")))
    (head,) = await claim(store)
    await store.complete_delivery(completion(head, "dead", code=500), time.time(), 1e9)
    (nxt,) = await claim(store)
    assert orjson.loads(nxt.payload)["data"]["sequence"] == 2
    dead = await store.get_delivery(head.delivery_id)
    assert dead is not None and dead.status == "dead" and dead.attempts == 1


async def test_retry_schedules_and_records_attempts(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("R1")))
    (c,) = await claim(store)
    later = time.time() + 100
    await store.complete_delivery(completion(c, "pending", next_at=later, code=500), time.time(), 1e9)
    assert await claim(store) == []
    (again,) = await claim(store, now=later + 1)
    assert again.delivery_id == c.delivery_id and again.attempts == 1
    attempts = await store.delivery_attempts(c.delivery_id)
    assert [a.status_code for a in attempts] == [500]


async def test_per_subscription_concurrency_bound(store: Store) -> None:
    slow = await store.create_subscription(subscription(url="https://slow.example.com/"))
    fast = await store.create_subscription(subscription(url="https://fast.example.com/"))
    for i in range(10):
        await store.record_callback(inbound("mjproxy", mj(f"B{i}")))
    claims = await claim(store, per_sub=3)
    per_sub = {s: sum(c.subscription_id == s for c in claims) for s in (slow.id, fast.id)}
    assert per_sub == {slow.id: 3, fast.id: 3}
    # held leases count: nothing more for either until one completes
    assert await claim(store, per_sub=3) == []


async def test_expired_lease_is_claimed_again_and_the_late_result_is_ignored(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("L1")))
    now = time.time()
    (c,) = await store.claim_deliveries("dispatcher-a", 10, now, 5.0, 10)
    (again,) = await store.claim_deliveries("dispatcher-b", 10, now + 6, 5.0, 10)
    assert again.delivery_id == c.delivery_id
    await store.complete_delivery(completion(c, "delivered", success=True, owner="dispatcher-a"), now + 7, 1e9)
    d = await store.get_delivery(c.delivery_id)
    assert d is not None and d.status == "pending"  # dispatcher-b owns it now
    await store.complete_delivery(completion(again, "delivered", success=True, owner="dispatcher-b"), now + 8, 1e9)
    d = await store.get_delivery(c.delivery_id)
    assert d is not None and d.status == "delivered"


async def test_released_deliveries_are_due_again_at_once(store: Store) -> None:
    await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("REL")))
    (c,) = await claim(store)
    await store.release_deliveries(OWNER, [c.delivery_id])
    (again,) = await claim(store)
    assert again.delivery_id == c.delivery_id


async def test_gone_disables_the_subscription_and_pauses_its_deliveries(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("G1")))
    await store.record_callback(inbound("mjproxy", mj("G2")))
    claims = await claim(store)
    await store.complete_delivery(
        completion(claims[0], "pending", next_at=time.time(), code=410, disable_reason="410 Gone"), time.time(), 1e9
    )
    disabled = await store.get_subscription(sub.id)
    assert disabled is not None and not disabled.enabled and disabled.disabled_reason == "410 Gone"
    await store.release_deliveries(OWNER, [claims[1].delivery_id])
    assert await claim(store) == []
    await store.record_callback(inbound("mjproxy", mj("G3")))  # no new deliveries while disabled
    assert len((await store.list_deliveries(DeliveryQuery(subscription_id=sub.id))).items) == 2
    await store.update_subscription(
        sub.id, SubscriptionChanges(enabled=True, set_fields=frozenset({"enabled"})), time.time()
    )
    assert len(await claim(store)) == 2


async def test_failing_for_longer_than_the_limit_disables(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    for i in range(2):
        await store.record_callback(inbound("mjproxy", mj(f"FF{i}")))
    first, second = await claim(store)
    t0 = time.time()
    await store.complete_delivery(completion(first, "pending", next_at=t0 + 1e6, code=500), t0, 100.0)
    got = await store.get_subscription(sub.id)
    assert got is not None and got.enabled and got.failing_since is not None
    await store.complete_delivery(completion(second, "pending", next_at=t0 + 1e6, code=500), t0 + 101, 100.0)
    got = await store.get_subscription(sub.id)
    assert got is not None and not got.enabled and "failing without a success" in (got.disabled_reason or "")


async def test_a_success_resets_the_failing_clock(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    for i in range(2):
        await store.record_callback(inbound("mjproxy", mj(f"S{i}")))
    first, second = await claim(store)
    t0 = time.time()
    await store.complete_delivery(completion(first, "pending", next_at=t0 + 1e6, code=500), t0, 100.0)
    await store.complete_delivery(completion(second, "delivered", success=True), t0 + 1, 100.0)
    got = await store.get_subscription(sub.id)
    assert got is not None and got.enabled and got.failing_since is None and got.last_success_at is not None


async def test_throttle_pauses_the_whole_subscription(store: Store) -> None:
    await store.create_subscription(subscription())
    for i in range(2):
        await store.record_callback(inbound("mjproxy", mj(f"T{i}")))
    first, _ = await claim(store, per_sub=1) + [None]  # type: ignore[list-item]
    now = time.time()
    await store.complete_delivery(
        completion(first, "pending", next_at=now + 60, code=503, throttle_until=now + 60), now, 1e9
    )
    assert await claim(store, now=now + 1) == []
    assert len(await claim(store, now=now + 61)) == 2


async def test_retry_makes_a_dead_delivery_due(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("RD")))
    (c,) = await claim(store)
    await store.complete_delivery(completion(c, "dead", code=500), time.time(), 1e9)
    retried = await store.retry_delivery(c.delivery_id, time.time())
    assert retried.status == "pending"
    (again,) = await claim(store)
    assert again.delivery_id == c.delivery_id
    with pytest.raises(NotFound):
        await store.retry_delivery("dlv_nope", time.time())
    await store.update_subscription(
        sub.id, SubscriptionChanges(enabled=False, set_fields=frozenset({"enabled"})), time.time()
    )
    with pytest.raises(Conflict):
        await store.retry_delivery(c.delivery_id, time.time() + 100)


async def test_replay_queues_past_events_again(store: Store) -> None:
    t0 = time.time()
    await store.record_callback(inbound("mjproxy", mj("RP")))
    await store.record_callback(inbound("mjproxy", mj("RP", "SUCCESS", "100%", imageUrl="https://cdn/x.png")))
    sub = await store.create_subscription(subscription())
    assert await store.replay(sub.id, t0 - 1, None, time.time()) == 2
    claims = await claim(store)
    assert [orjson.loads(c.payload)["data"]["sequence"] for c in claims] == [1]  # in order: 2 waits for 1
    assert await store.replay(sub.id, t0 + 3600, None, time.time()) == 0


async def test_rotation_keeps_the_old_secret_for_the_overlap(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    old = sub.secret
    now = time.time()
    rotated = await store.rotate_secret(sub.id, "whsec_" + "B" * 32, now, 3600)
    assert rotated.secret == "whsec_" + "B" * 32
    await store.record_callback(inbound("mjproxy", mj("ROT")))
    (c,) = await claim(store, now=now + 1)
    assert c.secrets == [old, "whsec_" + "B" * 32]
    await store.release_deliveries(OWNER, [c.delivery_id])
    (c,) = await claim(store, now=now + 3601)
    assert c.secrets == ["whsec_" + "B" * 32]


async def test_deleting_a_subscription_removes_its_deliveries(store: Store) -> None:
    sub = await store.create_subscription(subscription())
    await store.record_callback(inbound("mjproxy", mj("DEL")))
    await store.delete_subscription(sub.id)
    assert await store.get_subscription(sub.id) is None
    assert (await store.list_deliveries(DeliveryQuery(subscription_id=sub.id))).items == []
    with pytest.raises(NotFound):
        await store.delete_subscription(sub.id)


async def test_backlog_counts_pending_and_dead(store: Store) -> None:
    await store.create_subscription(subscription())
    for i in range(3):
        await store.record_callback(inbound("mjproxy", mj(f"BL{i}")))
    (c, *_) = await claim(store)
    await store.complete_delivery(completion(c, "dead", code=500), time.time(), 1e9)
    backlog = await store.backlog(time.time())
    assert (backlog.pending, backlog.dead) == (2, 1) and backlog.oldest_pending_at is not None


async def test_wait_for_work_wakes_on_new_deliveries(store: Store) -> None:
    await store.create_subscription(subscription())
    waiter = asyncio.create_task(store.wait_for_work(10))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await store.record_callback(inbound("mjproxy", mj("WK")))
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 5


async def _bump_schema(database_url: str, version: int) -> None:
    """Pretend a newer hookline migrated this database."""
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url[len("sqlite:///") :]) as conn:
            conn.execute("INSERT INTO schema_migrations VALUES (?, 'from-the-future', 0)", (version,))
    else:
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, 'from-the-future', now())", version)
        finally:
            await conn.close()


async def test_a_newer_schema_is_refused(store: Store, database_url: str, tmp_path: Any) -> None:
    from hookline.store import open_store
    from tests.conftest import make_config

    await _bump_schema(database_url, 999)
    again = open_store(make_config(database_url, tmp_path), exclusive=False)
    with pytest.raises(SchemaTooNew, match="999"):
        await again.open()
    await again.close()


async def test_an_event_payload_is_the_same_bytes_everywhere_and_carries_the_raw_callback(store: Store) -> None:
    raw = b'{ "id": "RAW1", "status": "IN_PROGRESS", "progress": "46%", "note": "\\u00e9t\\u00e9" }'
    await store.create_subscription(subscription())
    result = await store.record_callback(inbound("mjproxy", raw))
    (event,) = await store.job_events(result.job_id or "")
    (claimed,) = await claim(store)
    assert claimed.payload == event.payload
    body = orjson.loads(event.payload)
    assert body["data"]["upstream"] == orjson.loads(raw) and list(body["data"])[-1] == "upstream"
    assert raw in event.payload  # the callback's bytes, spliced in as they arrived
    job = await store.get_job(result.job_id or "")
    assert job is not None and job.upstream == orjson.loads(raw)
