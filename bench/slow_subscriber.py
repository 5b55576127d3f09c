"""Dispatch against a subscriber that answers in 50 ms: how well a dispatcher keeps its in-flight
slots full (issue 17).

    python -m bench.slow_subscriber [--jobs 500] [--runs 3] [--pg URL]

Against real subscribers, tens to hundreds of ms away, a dispatcher's rate is set by how full it
keeps its ``HOOKLINE_DISPATCH_CONCURRENCY`` slots, not by CPU: with 24 in flight and answers after
50 ms the ceiling is 24 / 0.05 s = 480 deliveries/s. The backlog: ``jobs`` jobs of 3 events each
(one callback per event), every event to 4 subscriptions, all due at once (each job's later events
wait, as always, until the one before is delivered). Rows:

- SQLite, one ``hookline serve`` (every role, one process): rate against the ceiling of 480/s.
- PostgreSQL, one and two dispatcher processes (``--role dispatcher``; ``bench.pgfleet``): the
  ratio of two to one (their ceiling is 960/s).

The subscriber counts every request and checks, per subscription, that no event arrived twice
(``webhook-id``) and that each job's events arrived in order (``data.sequence``); a row is only
"met" with neither. It also reports how many requests it held open at once, on average (the
dispatchers' slots kept full: rate = that / 50 ms) and at most.

Cores (the machine has 2): the subscriber — an asyncio protocol in this process, answering each
request 50 ms after it arrived (``loop.call_later``) — runs on core 1 (this process pins itself
there). hookline on SQLite runs on core 0; on PostgreSQL one dispatcher runs on core 0, and with
two, the second on core 1. PostgreSQL is a shared system service and is not pinned.

Each dispatcher gets ``HOOKLINE_DISPATCH_CONCURRENCY=24``; ``HOOKLINE_SUBSCRIPTION_CONCURRENCY`` is
24 on SQLite and 48 on PostgreSQL, where the bound counts the leases of every dispatcher together,
the queued ones included (with 24 there, two dispatchers reached 1.56-1.70x one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench import harness
from bench.harness import Row, say
from bench.pgfleet import DEFAULT_PG, admin, build_template, run_loop, run_once, until
from bench.sink import RequestProtocol

DELAY = 0.05
IN_FLIGHT = 24
CEILING = IN_FLIGHT / DELAY
# On PostgreSQL the per-subscription bound is global: room for both dispatchers' 24 in flight
# and the deliveries each holds leased in its local queue (see dispatcher.worker).
PER_SUBSCRIPTION_PG = 2 * IN_FLIGHT
SUBSCRIPTIONS = 4
EVENTS_PER_JOB = 3
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


@dataclass
class SubscriberStats:
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    open: int = 0
    most_open: int = 0
    open_area: float = 0.0  # requests open x seconds since the first request
    area_at_last: float = 0.0  # open_area when the last request came
    changed: float = 0.0
    duplicates: int = 0
    out_of_order: int = 0
    seen: set[tuple[bytes, str]] = field(default_factory=set)
    sequence: dict[tuple[bytes, str], int] = field(default_factory=dict)

    def opened(self, now: float, change: int) -> None:
        """A request came (+1) or was answered (-1) at ``now``."""
        if self.changed:
            self.open_area += self.open * (now - self.changed)
        self.changed = now
        self.open += change
        self.most_open = max(self.most_open, self.open)
        if change > 0:
            self.area_at_last = self.open_area

    def mean_open(self) -> float:
        """Requests open on average between the first request and the last."""
        return self.area_at_last / (self.last - self.first) if self.last > self.first else 0.0

    def reset(self) -> None:
        self.count = self.open = self.most_open = self.duplicates = self.out_of_order = 0
        self.first = self.last = self.open_area = self.area_at_last = self.changed = 0.0
        self.seen.clear()
        self.sequence.clear()


class SlowSubscriber(RequestProtocol):
    """Answers 200 to every request ``DELAY`` seconds after it arrived (keep-alive, one request at
    a time per connection, as aiohttp sends them), recording what it checks."""

    def __init__(self, stats: SubscriberStats) -> None:
        super().__init__()
        self.stats = stats

    def request(self, head: bytes, body: bytes) -> None:
        self._record(head, head.lower(), body)
        asyncio.get_running_loop().call_later(DELAY, self._answer)

    def _record(self, head: bytes, lowered: bytes, body: bytes) -> None:
        stats = self.stats
        now = time.perf_counter()
        if stats.count == 0:
            stats.first = now
        stats.count += 1
        stats.last = now
        stats.opened(now, +1)
        path = head.split(b" ", 2)[1]
        at = lowered.find(b"webhook-id:")
        webhook_id = head[at + 11 : head.find(b"\r\n", at)].strip().decode() if at >= 0 else ""
        if (path, webhook_id) in stats.seen:
            stats.duplicates += 1
        stats.seen.add((path, webhook_id))
        data = orjson.loads(body)["data"]
        chain = (path, data["job_id"])
        if data["sequence"] <= stats.sequence.get(chain, 0):
            stats.out_of_order += 1
        stats.sequence[chain] = data["sequence"]

    def _answer(self) -> None:
        self.stats.opened(time.perf_counter(), -1)
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)


@dataclass
class Outcome:
    rate: float
    most_open: int
    mean_open: float
    duplicates: int
    out_of_order: int

    def clean(self) -> bool:
        return self.duplicates == 0 and self.out_of_order == 0

    def describe(self) -> str:
        return (
            f"{self.rate:,.0f}/s (open at once: {self.mean_open:.1f} on average, at most {self.most_open}; "
            f"{self.duplicates} duplicates, {self.out_of_order} out of order)"
        )


def outcome(stats: SubscriberStats, rate: float) -> Outcome:
    return Outcome(rate, stats.most_open, stats.mean_open(), stats.duplicates, stats.out_of_order)


# --- SQLite: one hookline process ------------------------------------------------------------------
async def sqlite_once(stats: SubscriberStats, url: str, jobs: int) -> Outcome:
    from hookline.clock import SystemClock
    from hookline.config import Config
    from hookline.store import open_store

    data = Path(tempfile.mkdtemp(prefix="bench-slowsub-"))
    store = open_store(Config.from_env({"HOOKLINE_DATA_DIR": str(data)}), clock=SystemClock())
    await store.open()
    try:
        urls = [f"{url}/hook/{i}" for i in range(SUBSCRIPTIONS)]
        await build_template("", "", urls, jobs, EVENTS_PER_JOB, store=store)
    finally:
        await store.close()
    total = jobs * EVENTS_PER_JOB * SUBSCRIPTIONS
    stats.reset()
    port = harness.free_port()
    server = harness.hookline_process(
        data, port, HOOKLINE_DISPATCH_CONCURRENCY=str(IN_FLIGHT), HOOKLINE_SUBSCRIPTION_CONCURRENCY=str(IN_FLIGHT)
    )
    server.start()
    try:
        await until(lambda: stats.count >= total or not server.alive(), 600, "the backlog to drain")
        if not server.alive():
            raise RuntimeError(f"hookline exited:\n{server.output()[-3000:]}")
        rate = (stats.count - 1) / (stats.last - stats.first)
        await until(lambda: _all_recorded(port), 60, "every attempt to be recorded")
    finally:
        server.stop()
    return outcome(stats, rate)


async def _all_recorded(port: int) -> bool:
    headers = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(
                f"http://127.0.0.1:{port}/v1/deliveries", params={"status": "pending", "limit": "1"}, headers=headers
            )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and not answer.json()["items"]


# --- all of it --------------------------------------------------------------------------------------
async def measure(runs: int, jobs: int, pg: str) -> dict[str, list[Outcome]]:
    """``runs`` runs of each set-up (SQLite; PostgreSQL with 1 and 2 dispatchers), alternating."""
    os.sched_setaffinity(0, {int(harness.TOOL_CORE)})  # the subscriber (this process) on the tool core
    stats = SubscriberStats()
    server = await asyncio.get_running_loop().create_server(lambda: SlowSubscriber(stats), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    template = f"hookline_bench_tpl_{uuid.uuid4().hex[:8]}"
    total = jobs * EVENTS_PER_JOB * SUBSCRIPTIONS
    found: dict[str, list[Outcome]] = {"sqlite": [], "pg1": [], "pg2": []}
    try:
        say(f"slowsub: a PostgreSQL backlog of {total:,} deliveries")
        await build_template(pg, template, [f"{url}/hook/{i}" for i in range(SUBSCRIPTIONS)], jobs, EVENTS_PER_JOB)
        for number in range(1, runs + 1):
            say(f"slowsub run {number}/{runs}: SQLite, 1 process")
            found["sqlite"].append(await sqlite_once(stats, url, jobs))
            for count in (1, 2):
                say(f"slowsub run {number}/{runs}: PostgreSQL, {count} dispatcher process(es)")
                stats.reset()
                run = await run_once(pg, template, count, stats, total, IN_FLIGHT, PER_SUBSCRIPTION_PG)
                found[f"pg{count}"].append(outcome(stats, run.rate))
            for name, outcomes in found.items():
                say(f"  {name}: {outcomes[-1].describe()}")
    finally:
        await admin(pg, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        server.close()
    return found


def rows(found: dict[str, list[Outcome]], total: int) -> list[Row]:
    def median(name: str) -> float:
        return statistics.median(o.rate for o in found[name])

    clean = all(o.clean() for outcomes in found.values() for o in outcomes)
    problems = "" if clean else " (duplicates or order broken)"
    sqlite, one, two = median("sqlite"), median("pg1"), median("pg2")

    def runs(name: str) -> str:
        return ", ".join(f"{o.rate:,.0f}" for o in found[name])

    return [
        Row(
            f"slowsub: SQLite, 1 dispatcher, {IN_FLIGHT} in flight, 50 ms subscriber ({total:,} deliveries)",
            f"{sqlite:,.0f}/s ({runs('sqlite')})",
            f"ceiling {CEILING:,.0f}/s",
            f"{sqlite / CEILING:.0%}",
            ">= 90 %",
            "met" if sqlite / CEILING >= 0.9 and clean else "NOT MET" + problems,
        ),
        Row(
            "slowsub: PostgreSQL, 2 dispatcher processes vs 1",
            f"{two:,.0f}/s ({runs('pg2')})",
            f"1 process: {one:,.0f}/s ({runs('pg1')}), {one / CEILING:.0%} of its ceiling",
            f"{two / one:.2f}x",
            ">= 1.8x",
            "met" if two / one >= 1.8 and clean else "NOT MET" + problems,
        ),
    ]


def run(runs: int = 3, jobs: int = 500, pg: str = DEFAULT_PG) -> list[Row]:
    """For ``python -m bench``."""
    found = run_loop(measure(runs, jobs, pg))
    return rows(found, jobs * EVENTS_PER_JOB * SUBSCRIPTIONS)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_subscriber", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help=f"jobs of {EVENTS_PER_JOB} events to 4 subscriptions")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default=DEFAULT_PG, help="an admin connection (the benchmark makes its own databases)")
    args = parser.parse_args()
    print(harness.table(run(args.runs, args.jobs, args.pg)))


if __name__ == "__main__":
    cli()
