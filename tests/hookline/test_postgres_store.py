"""What only PostgreSQL promises: several processes on one database. Each test opens two or more
stores (separate pools, as separate processes would have) on one fresh database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from hookline.clock import SystemClock
from hookline.errors import StoreError
from hookline.queries import DeliveryQuery, JobQuery
from hookline.store import Store, postgres_store
from hookline.store.migrations import discover
from tests.hookline.test_store import completion, inbound, mj, subscription
from tests.support import REPO, wait_for

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[Store]]:
    opened = [postgres_store(url, clock=SystemClock()) for _ in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in opened))
        yield opened
    finally:
        for s in opened:
            await s.close()


async def listening(store: Store, timeout: float = 5.0) -> None:
    """Start ``store``'s LISTEN connection and wait until it is connected."""
    listener = store.driver.listener  # type: ignore[attr-defined]
    listener.ensure_started()
    await wait_for(lambda: listener.connected, timeout=timeout, what="the LISTEN connection")


async def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    async with stores(pg_url, 4):
        conn = await asyncpg.connect(pg_url)
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
        finally:
            await conn.close()
    assert versions == [m.version for m in discover("hookline.store.postgres")]  # each applied once


async def test_a_due_delivery_in_one_process_wakes_a_dispatcher_in_another(pg_url: str) -> None:
    async with stores(pg_url, 2) as (receiver, dispatcher):
        await listening(dispatcher)
        await receiver.create_subscription(subscription())
        waiter = asyncio.create_task(dispatcher.wait_for_work(30))
        await asyncio.sleep(0)
        started = time.monotonic()
        await receiver.record_callback(inbound("mjproxy", mj("X1")))
        await asyncio.wait_for(waiter, 10)
        assert time.monotonic() - started < 2  # a notification, not the 30 s timeout


async def test_the_listener_reconnects_after_losing_its_connection(pg_url: str) -> None:
    async with stores(pg_url, 2) as (receiver, dispatcher):
        await listening(dispatcher)
        await receiver.create_subscription(subscription())
        admin = await asyncpg.connect(pg_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert killed == 1
        await dispatcher.wait_for_work(5)  # losing the connection is itself a reason to look for work
        await listening(dispatcher, 10)
        await dispatcher.wait_for_work(0.01)  # the reconnection's own wake-up
        waiter = asyncio.create_task(dispatcher.wait_for_work(30))
        await asyncio.sleep(0)
        started = time.monotonic()
        await receiver.record_callback(inbound("mjproxy", mj("X2")))
        await asyncio.wait_for(waiter, 10)
        assert time.monotonic() - started < 2


async def test_receivers_racing_on_new_jobs_create_each_job_once(pg_url: str) -> None:
    async with stores(pg_url, 3) as receivers:
        await receivers[0].create_subscription(subscription())
        bodies = [mj(f"R{i}") for i in range(40) for _ in range(3)]
        results = await asyncio.gather(
            *(receivers[n % 3].record_callback(inbound("mjproxy", body)) for n, body in enumerate(bodies))
        )
        page = await receivers[0].list_jobs(JobQuery(limit=500))
        assert len(page.items) == 40
        assert sorted(r.outcome for r in results).count("applied") == 40
        deliveries = await receivers[0].list_deliveries(DeliveryQuery(limit=500))
        assert len(deliveries.items) == 40  # one job.submitted each, however many receivers saw it


async def test_the_per_subscription_bound_holds_across_dispatchers(pg_url: str) -> None:
    async with stores(pg_url, 3) as (receiver, *dispatchers):
        sub = await receiver.create_subscription(subscription())
        await asyncio.gather(*(receiver.record_callback(inbound("mjproxy", mj(f"P{i}"))) for i in range(60)))
        now = time.time()
        claims = await asyncio.gather(
            *(
                d.claim_deliveries(f"dispatcher-{i}-{k}", 10, now, 30, 4)
                for k in range(5)
                for i, d in enumerate(dispatchers)
            )
        )
        held = [c for batch in claims for c in batch]
        assert len(held) == 4 and {c.subscription_id for c in held} == {sub.id}
        assert len({c.delivery_id for c in held}) == 4


async def test_dispatchers_never_claim_the_same_delivery(pg_url: str) -> None:
    async with stores(pg_url, 3) as (receiver, *dispatchers):
        for i in range(4):
            await receiver.create_subscription(subscription(url=f"https://s{i}.example.com/"))
        await asyncio.gather(*(receiver.record_callback(inbound("mjproxy", mj(f"C{i}"))) for i in range(50)))
        now = time.time()
        ids: list[str] = []
        while True:  # rounds of concurrent claims until nothing is left (SKIP LOCKED may leave some for later)
            claims = await asyncio.gather(
                *(
                    d.claim_deliveries(f"d{i}-{k}", 20, now, 30, 100)
                    for k in range(8)
                    for i, d in enumerate(dispatchers)
                )
            )
            found = [c.delivery_id for batch in claims for c in batch]
            if not found:
                break
            ids += found
        assert len(ids) == 200 and len(set(ids)) == 200


async def test_a_chain_keeps_a_head_when_a_callback_arrives_during_a_delivery(pg_url: str) -> None:
    """A receiver appending the next event of a job while a dispatcher, in another process,
    finishes the job's previous one: the new event must become due either way (no chain may be
    left without a head)."""
    async with stores(pg_url, 2) as (receiver, dispatcher):
        await receiver.create_subscription(subscription())
        steps = [("SUBMITTED", "0%")] + [("IN_PROGRESS", f"{p}%") for p in range(10, 100, 10)]
        rng = random.Random(7)
        for job in (f"H{i}" for i in range(8)):
            await receiver.record_callback(inbound("mjproxy", mj(job, *steps[0])))
            (head,) = await dispatcher.claim_deliveries("d", 10, time.time(), 30, 100)
            for sequence, (status, progress) in enumerate(steps[1:], start=2):

                async def finish(claim: Any = head) -> None:
                    await asyncio.sleep(rng.random() * 0.004)  # vary which transaction goes first
                    done = completion(claim, "delivered", success=True, owner="d")
                    await dispatcher.complete_delivery(done, time.time(), 1e9)

                await asyncio.gather(receiver.record_callback(inbound("mjproxy", mj(job, status, progress))), finish())
                due = await dispatcher.claim_deliveries("d", 10, time.time(), 30, 100)
                assert [orjson.loads(c.payload)["data"]["sequence"] for c in due] == [sequence], job
                head = due[0]
            await dispatcher.complete_delivery(completion(head, "delivered", success=True, owner="d"), time.time(), 1e9)


async def test_text_postgresql_cannot_hold_is_stored_replaced(pg_url: str) -> None:
    async with stores(pg_url, 1) as (store,):
        await store.create_subscription(subscription())
        result = await store.record_callback(inbound("mjproxy", mj("NUL", "FAILURE", failReason="bad\u0000link")))
        assert result.outcome == "applied"
        job = await store.get_job(result.job_id or "")
        assert job is not None and job.error == "bad\ufffdlink"
        (c,) = await store.claim_deliveries("d", 10, time.time(), 30, 10)
        answered = completion(c, "delivered", success=True, owner="d")
        answered.attempt.response_body = "ok\u0000"
        await store.complete_delivery(answered, time.time(), 1e9)
        (attempt,) = await store.delivery_attempts(c.delivery_id)
        assert attempt.response_body == "ok\ufffd"


async def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    store = postgres_store("postgresql://hookline:s3cret-pw@127.0.0.1:9/hookline", clock=SystemClock())
    with pytest.raises(StoreError) as raised:
        await store.open()
    await store.close()
    assert "127.0.0.1:9" in str(raised.value) and "s3cret-pw" not in str(raised.value)
    assert raised.value.__cause__ is not None


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOKLINE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "hookline", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


async def test_hookline_migrate_on_postgresql(pg_url: str) -> None:
    first = await asyncio.to_thread(_cli, "migrate", url=pg_url)
    assert first.returncode == 0, first.stderr
    latest = discover("hookline.store.postgres")[-1].version
    assert f"migrated from schema version 0 to {latest}" in first.stdout
    again = await asyncio.to_thread(_cli, "migrate", url=pg_url)
    assert again.returncode == 0 and f"already at schema version {latest}" in again.stdout


async def test_a_newer_schema_stops_start_up_with_a_clear_message(pg_url: str) -> None:
    assert (await asyncio.to_thread(_cli, "migrate", url=pg_url)).returncode == 0
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES (999, 'from-the-future', now())")
    finally:
        await conn.close()
    refused = await asyncio.to_thread(_cli, "serve", "--role", "dispatcher", "--port", "9", url=pg_url)
    assert refused.returncode == 1
    assert "schema version 999" in refused.stderr and "upgrade hookline" in refused.stderr
