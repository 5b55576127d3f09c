"""Dispatch throughput on PostgreSQL with one and with two dispatcher processes.

    python -m bench.postgres_scaling [--deliveries 16000] [--runs 3] [--concurrency 256] [--pg URL]

A backlog of due deliveries (distinct jobs, one event each, fanned out to 4 subscriptions) is
built once in a template database; each run copies it, starts the dispatcher processes
(``python -m hookline serve --role dispatcher``, pinned with ``taskset``), waits until they are
ready, enables the subscriptions (which makes the whole backlog due at once and wakes them with
NOTIFY) and times the drain at the sink: deliveries per second between the first and the last
request the sink answers. The work timed is the dispatchers' whole path: claims, signing, the HTTP
POST, and recording each attempt (every run checks that all of them were recorded). Runs of the
two set-ups alternate, so drift hits both alike.

Cores (the machine has 2): one dispatcher runs on core 0; with two, the second runs on core 1.
The sink — a minimal HTTP/1.1 responder in this process, far cheaper per request than a
dispatcher — runs on core 1. PostgreSQL is a shared system service and is not pinned. CPU time is
read from /proc for the dispatchers, the sink, and the PostgreSQL backends serving the run's
database (plus the server's WAL writer, checkpointer and background writer), and divided by the
deliveries: that budget, not the ratio alone, says what limits scaling on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench import harness
from bench.cpu import cpu_seconds, machine_busy, postgres_cpu, postgres_used
from bench.harness import Row
from bench.sink import SinkProtocol, SinkStats
from hookline.clock import SystemClock
from hookline.models import Inbound
from hookline.store.base import SubscriptionChanges
from hookline.store.postgres import PostgresStore
from receiver.adapters import ADAPTERS

REPO = Path(__file__).resolve().parents[1]
SUBSCRIPTIONS = 4
TOKEN = "bench-token-0123456789abcdef"
DEFAULT_PG = os.environ.get("HOOKLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


# --- the backlog ----------------------------------------------------------------------------------
async def build_template(admin_dsn: str, name: str, sink_url: str, deliveries: int) -> None:
    """A database holding ``deliveries`` paused deliveries: SUBSCRIPTIONS disabled subscriptions
    to the sink, and deliveries / SUBSCRIPTIONS jobs with one event each."""
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    store = PostgresStore(_dsn(admin_dsn, name), clock=SystemClock())
    await store.open()
    try:
        now = time.time()
        subs = []
        for i in range(SUBSCRIPTIONS):
            sub = harness.sink_subscription(f"{sink_url}/hook/{i}", f"bench sink {i}", now)
            subs.append(await store.create_subscription(sub))
        jobs = deliveries // SUBSCRIPTIONS
        for start in range(0, jobs, 1000):
            await asyncio.gather(*(store.record_callback(_callback(j)) for j in range(start, min(jobs, start + 1000))))
        off = SubscriptionChanges(enabled=False, set_fields=frozenset({"enabled"}))
        for sub in subs:
            await store.update_subscription(sub.id, off, time.time())
    finally:
        await store.close()
    # A database in service has planner statistics (autovacuum keeps them); a freshly filled one
    # would have none until autovacuum comes by.
    await _admin(_dsn(admin_dsn, name), "VACUUM ANALYZE")


def _callback(job: int) -> Inbound:
    body = orjson.dumps(
        {"id": f"bench-{job}", "action": "BLEND", "status": "SUBMITTED", "progress": "0%", "state": f"order-{job}"}
    )
    snapshot = ADAPTERS["mjproxy"](orjson.loads(body))
    return Inbound("mjproxy", body, {"content-type": "application/json"}, time.time(), snapshot=snapshot)


async def enable_all(dsn: str) -> None:
    """Enable every subscription the way an operator would: their deliveries become due, and the
    dispatchers hear of it by NOTIFY."""
    store = PostgresStore(dsn, clock=SystemClock(), max_connections=1)
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


@dataclass
class Setup:
    dispatchers: int
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in self.runs))


def start_dispatcher(dsn: str, core: int, port: int, concurrency: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": dsn,
        "HOOKLINE_ROLE": "dispatcher",
        "HOOKLINE_PORT": str(port),
        "HOOKLINE_ADMIN_TOKEN": TOKEN,
        "HOOKLINE_CALLBACK_TOKEN": TOKEN,
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
        "HOOKLINE_DISPATCH_CONCURRENCY": str(concurrency),
        "HOOKLINE_SUBSCRIPTION_CONCURRENCY": str(min(concurrency, 1000)),
        "HOOKLINE_LOG_LEVEL": "warning",
        "HOOKLINE_LOG_FORMAT": "text",
    }
    command = ["taskset", "-c", str(core), sys.executable, "-m", "hookline", "serve", "--no-access-log"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def run_once(
    admin_dsn: str, template: str, dispatchers: int, stats: SinkStats, total: int, concurrency: int
) -> Run:
    name = f"hookline_bench_run_{uuid.uuid4().hex[:8]}"
    await _admin(admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    dsn = _dsn(admin_dsn, name)
    ports = [_free_port() for _ in range(dispatchers)]
    processes = [start_dispatcher(dsn, core, port, concurrency) for core, port in enumerate(ports)]
    monitor = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for port, process in zip(ports, processes, strict=True):
                await _until(lambda p=port, pr=process: _ready(client, p, pr), 30, "a dispatcher to start")
        stats.count, stats.first, stats.last = 0, 0.0, 0.0
        pids = [p.pid for p in processes]
        before = (cpu_seconds(pids), await postgres_cpu(monitor, name), time.process_time(), machine_busy())
        await enable_all(dsn)
        await _until(lambda: stats.count >= total, 600, "the backlog to drain")
        after = (cpu_seconds(pids), await postgres_cpu(monitor, name), time.process_time(), machine_busy())
        elapsed = stats.last - stats.first
        await _until(lambda: _all_delivered(monitor, total), 30, "every attempt to be recorded")
    finally:
        await monitor.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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


async def _until(condition: Any, timeout: float, what: str) -> None:
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
async def _admin(admin_dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _dsn(admin_dsn: str, name: str) -> str:
    return f"{admin_dsn.rsplit('/', 1)[0]}/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- main -----------------------------------------------------------------------------------------
async def measure(args: argparse.Namespace) -> tuple[dict[int, Setup], int]:
    """Both set-ups, ``args.runs`` times each, alternating; returns them and the backlog size."""
    os.sched_setaffinity(0, {1})  # the sink (this process) on core 1
    stats = SinkStats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(stats), "127.0.0.1", 0)
    sink_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    template = f"hookline_bench_tpl_{uuid.uuid4().hex[:8]}"
    total = args.deliveries // SUBSCRIPTIONS * SUBSCRIPTIONS
    print(f"building a backlog of {total} deliveries ({SUBSCRIPTIONS} subscriptions) ...", flush=True)
    await build_template(args.pg, template, sink_url, total)
    setups = {1: Setup(1), 2: Setup(2)}
    try:
        for number in range(1, args.runs + 1):
            for count in (1, 2):
                run = await run_once(args.pg, template, count, stats, total, args.concurrency)
                setups[count].runs.append(run)
                print(
                    f"  run {number}, {count} dispatcher(s): {run.rate:,.0f} deliveries/s; CPU per delivery: "
                    f"dispatchers {run.dispatcher_us:.0f} us, PostgreSQL {run.postgres_us:.0f} us, "
                    f"sink {run.sink_us:.0f} us; cores busy: these {run.busy:.2f}, whole machine {run.machine:.2f}",
                    flush=True,
                )
    finally:
        await _admin(args.pg, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        server.close()
    return setups, total


async def main(args: argparse.Namespace) -> None:
    setups, total = await measure(args)
    report(setups, total, args)


def report(setups: dict[int, Setup], total: int, args: argparse.Namespace) -> None:
    one, two = setups[1], setups[2]
    print()
    print(
        f"Dispatch throughput on PostgreSQL: {total} deliveries to a local sink, {SUBSCRIPTIONS} subscriptions, "
        f"HOOKLINE_DISPATCH_CONCURRENCY={args.concurrency}; medians of {args.runs} runs"
    )
    print()
    print(
        "| dispatchers | cores | deliveries/s (runs) | median "
        "| CPU per delivery: dispatchers, PostgreSQL, sink | cores busy |"
    )
    print("|---|---|---|---|---|---|")
    for setup, cores in ((one, "dispatcher 0; sink 1"), (two, "dispatchers 0 and 1; sink 1")):
        rates = ", ".join(f"{r.rate:,.0f}" for r in setup.runs)
        cpu = ", ".join(f"{setup.median(n):.0f} us" for n in ("dispatcher_us", "postgres_us", "sink_us"))
        print(
            f"| {setup.dispatchers} | {cores} | {rates} | **{setup.median('rate'):,.0f}** | {cpu} | "
            f"{setup.median('busy'):.2f} (machine {setup.median('machine'):.2f}) |"
        )
    ratio = two.median("rate") / one.median("rate")
    per_delivery = sum(two.median(n) for n in ("dispatcher_us", "postgres_us", "sink_us"))
    ceiling = 2 / (per_delivery / 1e6)
    print()
    print(f"two / one: **{ratio:.2f}x** (goal 1.7x)")
    print(
        f"CPU ceiling for two dispatchers on this machine: 2 cores / {per_delivery:.0f} us per delivery "
        f"(dispatcher + PostgreSQL + sink) = {ceiling:,.0f} deliveries/s = "
        f"{ceiling / one.median('rate'):.2f}x one dispatcher"
    )


def run(deliveries: int = 16000, runs: int = 3, concurrency: int = 256, pg: str = DEFAULT_PG) -> list[Row]:
    """For ``python -m bench``: one row, two dispatchers against one (the baseline)."""
    args = argparse.Namespace(deliveries=deliveries, runs=runs, concurrency=concurrency, pg=pg)
    setups, total = _run_loop(measure(args))
    one, two = setups[1].median("rate"), setups[2].median("rate")
    ratio = two / one
    return [
        Row(
            f"postgres: dispatch, 2 processes ({total} deliveries)",
            f"{two:,.0f} deliveries/s",
            f"1 process: {one:,.0f}/s",
            f"{ratio:.2f}x",
            ">= 1.7x",
            "met" if ratio >= 1.7 else "NOT MET",
        )
    ]


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.run(coro)
    return uvloop.run(coro)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres_scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=16000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256, help="HOOKLINE_DISPATCH_CONCURRENCY of each dispatcher")
    parser.add_argument(
        "--pg", default=DEFAULT_PG, help="an admin connection: the benchmark creates and drops its own databases"
    )
    _run_loop(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
