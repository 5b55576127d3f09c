"""Dispatcher processes on PostgreSQL for benchmarks: a backlog built once in a template
database, and runs that copy it, start N dispatcher processes on it and time the drain at a
subscriber (``bench.postgres_scaling`` against a fast sink, ``bench.slow_subscriber`` against one
answering in 50 ms).

A run: copy the template, start the dispatchers (``python -m hookline serve --role dispatcher``,
the i-th pinned to core i with ``taskset``), wait until they are ready, enable the subscriptions
(which makes the whole backlog due at once and wakes them with NOTIFY), wait until the subscriber
has seen every delivery, and until every attempt is recorded. CPU time is read from /proc for the
dispatchers, this process (the subscriber), and the PostgreSQL backends serving the run's database
(plus the server's WAL writer, checkpointer and background writer).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
import orjson

from bench import harness
from bench.cpu import cpu_seconds, machine_busy, postgres_cpu, postgres_used
from hookline.changes import SubscriptionChanges
from hookline.clock import SystemClock
from hookline.models import Inbound
from hookline.store import postgres_store
from receiver.adapters import ADAPTERS

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef"
DEFAULT_PG = os.environ.get("HOOKLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# A job's callbacks in order: each makes one event (sequence 1, 2, ...) for every subscription.
STEPS = (("SUBMITTED", "0%"), ("IN_PROGRESS", "50%"), ("IN_PROGRESS", "90%"))


class Counted(Protocol):
    """What a subscriber counts: requests answered, and when the first and last came."""

    count: int
    first: float
    last: float


# --- the backlog ----------------------------------------------------------------------------------
async def build_template(
    admin_dsn: str, name: str, urls: list[str], jobs: int, events_per_job: int = 1, store: Any = None
) -> None:
    """A database (``store``: a SQLite store instead, already open) holding the deliveries of
    ``jobs`` jobs with ``events_per_job`` events each to one subscription per URL, all paused
    (their subscriptions disabled) unless ``store`` is given (a SQLite backlog is due at once)."""
    own = store is None
    if own:
        await admin(admin_dsn, f'CREATE DATABASE "{name}"')
        store = postgres_store(dsn_for(admin_dsn, name), clock=SystemClock())
        await store.open()
    try:
        now = time.time()
        subs = []
        for i, url in enumerate(urls):
            subs.append(await store.create_subscription(harness.sink_subscription(url, f"bench subscriber {i}", now)))
        for step in range(events_per_job):
            for start in range(0, jobs, 1000):
                batch = range(start, min(jobs, start + 1000))
                await asyncio.gather(*(store.record_callback(callback(j, step)) for j in batch))
        if own:
            off = SubscriptionChanges(enabled=False, set_fields=frozenset({"enabled"}))
            for sub in subs:
                await store.update_subscription(sub.id, off, time.time())
    finally:
        if own:
            await store.close()
    if own:
        # A database in service has planner statistics (autovacuum keeps them); a freshly filled
        # one would have none until autovacuum comes by.
        await admin(dsn_for(admin_dsn, name), "VACUUM ANALYZE")


def callback(job: int, step: int = 0) -> Inbound:
    """The ``step``-th callback (see ``STEPS``) of the benchmark's job number ``job``."""
    status, progress = STEPS[step]
    doc = {"id": f"bench-{job}", "action": "BLEND", "status": status, "progress": progress, "state": f"order-{job}"}
    body = orjson.dumps(doc)
    return Inbound(
        "mjproxy", body, {"content-type": "application/json"}, time.time(), snapshot=ADAPTERS["mjproxy"](doc)
    )


async def enable_all(dsn: str) -> None:
    """Enable every subscription the way an operator would: their deliveries become due, and the
    dispatchers hear of it by NOTIFY."""
    store = postgres_store(dsn, clock=SystemClock(), max_connections=1)
    await store.open(migrate=False)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            ids = [r[0] for r in await conn.fetch("SELECT id FROM subscriptions")]
        finally:
            await conn.close()
        on = SubscriptionChanges(enabled=True, set_fields=frozenset({"enabled"}))
        for sub_id in ids:
            await store.update_subscription(sub_id, on, time.time())
    finally:
        await store.close()


# --- one run --------------------------------------------------------------------------------------
@dataclass
class Run:
    rate: float
    dispatcher_us: float  # CPU per delivery, all dispatchers together
    postgres_us: float
    sink_us: float
    busy: float  # cores kept busy by the above during the drain
    machine: float  # cores busy on the whole machine (other work included)


def start_dispatcher(
    dsn: str, core: int, port: int, concurrency: int, per_subscription: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": dsn,
        "HOOKLINE_ROLE": "dispatcher",
        "HOOKLINE_PORT": str(port),
        "HOOKLINE_ADMIN_TOKEN": TOKEN,
        "HOOKLINE_CALLBACK_TOKEN": TOKEN,
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
        "HOOKLINE_DISPATCH_CONCURRENCY": str(concurrency),
        "HOOKLINE_SUBSCRIPTION_CONCURRENCY": str(per_subscription),
        "HOOKLINE_LOG_LEVEL": "warning",
        "HOOKLINE_LOG_FORMAT": "text",
    }
    command = harness.pinned(str(core), [sys.executable, "-m", "hookline", "serve", "--no-access-log"])
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def run_once(
    admin_dsn: str,
    template: str,
    dispatchers: int,
    stats: Counted,
    total: int,
    concurrency: int,
    per_subscription: int,
) -> Run:
    """Drain a copy of ``template`` with ``dispatchers`` processes; ``stats`` (reset here) counts
    what the subscriber answered."""
    name = f"hookline_bench_run_{uuid.uuid4().hex[:8]}"
    await admin(admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    dsn = dsn_for(admin_dsn, name)
    ports = [harness.free_port() for _ in range(dispatchers)]
    processes = [start_dispatcher(dsn, core, port, concurrency, per_subscription) for core, port in enumerate(ports)]
    monitor = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for port, process in zip(ports, processes, strict=True):
                await until(lambda p=port, pr=process: _ready(client, p, pr), 30, "a dispatcher to start")
        stats.count, stats.first, stats.last = 0, 0.0, 0.0
        pids = [p.pid for p in processes]
        before = (cpu_seconds(pids), await postgres_cpu(monitor, name), time.process_time(), machine_busy())
        await enable_all(dsn)
        await until(lambda: stats.count >= total, 600, "the backlog to drain")
        after = (cpu_seconds(pids), await postgres_cpu(monitor, name), time.process_time(), machine_busy())
        elapsed = stats.last - stats.first
        await until(lambda: _all_delivered(monitor, total), 30, "every attempt to be recorded")
    finally:
        await monitor.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        await admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    dispatcher, postgres, sink = after[0] - before[0], postgres_used(before[1], after[1]), after[2] - before[2]
    return Run(
        rate=(stats.count - 1) / elapsed,
        dispatcher_us=dispatcher / total * 1e6,
        postgres_us=postgres / total * 1e6,
        sink_us=sink / total * 1e6,
        busy=(dispatcher + postgres + sink) / elapsed,
        machine=(after[3] - before[3]) / elapsed,
    )


async def _all_delivered(conn: asyncpg.Connection, total: int) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'delivered'") >= total)


async def _ready(client: httpx.AsyncClient, port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        err = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"a dispatcher exited: {err[-2000:]}")
    try:
        return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def until(condition: Any, timeout: float, what: str) -> None:
    """Poll ``condition`` (a function, sync or async) until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


# --- helpers --------------------------------------------------------------------------------------
async def admin(admin_dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def dsn_for(admin_dsn: str, name: str) -> str:
    return f"{admin_dsn.rsplit('/', 1)[0]}/{name}"


def run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coro)
    return uvloop.run(coro)
