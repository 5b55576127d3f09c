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
import statistics
import uuid
from dataclasses import dataclass, field

from bench.harness import Row
from bench.pgfleet import DEFAULT_PG, Run, admin, build_template, run_loop, run_once
from bench.sink import SinkProtocol, SinkStats

SUBSCRIPTIONS = 4


@dataclass
class Setup:
    dispatchers: int
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in self.runs))


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
    await build_template(
        args.pg, template, [f"{sink_url}/hook/{i}" for i in range(SUBSCRIPTIONS)], total // SUBSCRIPTIONS
    )
    setups = {1: Setup(1), 2: Setup(2)}
    try:
        for number in range(1, args.runs + 1):
            for count in (1, 2):
                run = await run_once(
                    args.pg, template, count, stats, total, args.concurrency, min(args.concurrency, 1000)
                )
                setups[count].runs.append(run)
                print(
                    f"  run {number}, {count} dispatcher(s): {run.rate:,.0f} deliveries/s; CPU per delivery: "
                    f"dispatchers {run.dispatcher_us:.0f} us, PostgreSQL {run.postgres_us:.0f} us, "
                    f"sink {run.sink_us:.0f} us; cores busy: these {run.busy:.2f}, whole machine {run.machine:.2f}",
                    flush=True,
                )
    finally:
        await admin(args.pg, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
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
    setups, total = run_loop(measure(args))
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


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres_scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=16000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256, help="HOOKLINE_DISPATCH_CONCURRENCY of each dispatcher")
    parser.add_argument(
        "--pg", default=DEFAULT_PG, help="an admin connection: the benchmark creates and drops its own databases"
    )
    run_loop(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
