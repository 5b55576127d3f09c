"""Soak: callbacks at a steady rate for minutes with a short ``HOOKLINE_RETENTION``, on SQLite and
on PostgreSQL. The database's row counts and size must level off (the pruner deletes as fast as
jobs age out), and ingest p99 while the pruner runs must stay within 2x of ingest p99 in the same
run without it (``HOOKLINE_RETENTION`` a year: nothing to prune).

Each job is three callbacks (submitted, progress, success) from an open-loop load generator on the
tool core, fanned out to one subscriber (a sink), so every kind of row is made: jobs, callbacks,
events, deliveries, attempts (archives are queued too: HOOKLINE_ARCHIVE=false leaves them pending,
as a deployment without the archive does). ``python -m bench.soak [--quick]`` or ``python -m
bench soak``; the load generator is ``python -m bench.soak load URL RATE SECONDS OUT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import harness
from bench.harness import Row, percentile, say

PG_ADMIN = os.environ.get("HOOKLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ("jobs", "callbacks", "events", "deliveries", "attempts")
YEAR = str(365 * 86400)


# --- the load generator (a process of its own, on the tool core) ------------------------------------
async def load(url: str, rate: float, seconds: float, out: Path) -> None:
    """POST ``rate`` callbacks/s for ``seconds`` (open loop): jobs of submitted, progress, success.
    Writes [[seconds since start, latency in seconds], ...] for every answered request."""
    import aiohttp
    import orjson

    steps = (("SUBMITTED", "0%"), ("IN_PROGRESS", "50%"), ("SUCCESS", "100%"))
    run = uuid.uuid4().hex[:8]
    timings: list[tuple[float, float]] = []
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def send(i: int, started: float) -> None:
            nonlocal failures
            status, progress = steps[i % 3]
            doc = {"id": f"soak-{run}-{i // 3}", "action": "BLEND", "status": status, "progress": progress}
            doc["state"] = f"order-{i // 3}"
            if status == "SUCCESS":
                doc["imageUrl"] = "https://cdn.example/x.png"
            sent = time.perf_counter()
            async with session.post(url, data=orjson.dumps(doc)) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
            timings.append((sent - started, time.perf_counter() - sent))

        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(i, start)))
        await asyncio.gather(*tasks)
    out.write_text(json.dumps({"timings": timings, "failures": failures}))


# --- measuring the database ---------------------------------------------------------------------------
def sqlite_sample(path: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        found: dict[str, float] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    found["mb"] = (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6
    return found


async def pg_sample(dsn: str) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        found: dict[str, float] = {t: await conn.fetchval(f"SELECT COUNT(*) FROM {t}") for t in TABLES}
        found["mb"] = await conn.fetchval("SELECT pg_database_size(current_database())") / 1e6
    finally:
        await conn.close()
    return found


async def pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# --- one phase: a fresh hookline, the load, samples every few seconds ------------------------------------
@dataclass
class Phase:
    latencies: list[tuple[float, float]]
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    failures: int = 0

    def p99_ms(self, since: float) -> float:
        return percentile([latency for at, latency in self.latencies if at >= since], 99) * 1000

    def rows(self, sample: dict[str, float]) -> int:
        return int(sum(sample[t] for t in TABLES))


def phase(backend: str, rate: float, seconds: float, retention: str, interval: str, every: float) -> Phase:
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    env = {"HOOKLINE_RETENTION": retention, "HOOKLINE_PRUNE_INTERVAL": interval, "HOOKLINE_ARCHIVE": "false"}
    pg_name = f"soak_{uuid.uuid4().hex[:10]}"
    if backend == "postgres":
        asyncio.run(pg_admin(f'CREATE DATABASE "{pg_name}"'))
        env["HOOKLINE_DATABASE_URL"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{pg_name}"
    sink_port, port = harness.free_port(), harness.free_port()
    sink = harness.Process(
        harness.pinned(harness.TOOL_CORE, [sys.executable, "-m", "bench.servers", "sink", str(sink_port)]),
        cwd=harness.ROOT,
    )
    server = harness.hookline_process(work / "data", port, **env)
    out = work / "timings.json"
    try:
        with (
            harness.running(sink, f"http://127.0.0.1:{sink_port}/stats"),
            harness.running(server, f"http://127.0.0.1:{port}/readyz"),
        ):
            created = httpx.post(
                f"http://127.0.0.1:{port}/v1/subscriptions",
                json={"url": f"http://127.0.0.1:{sink_port}/hook"},
                headers={"Authorization": f"Bearer {harness.ADMIN_TOKEN}"},
            )
            created.raise_for_status()
            url = f"http://127.0.0.1:{port}/callbacks/mjproxy/{harness.CALLBACK_TOKEN}"
            argv = [sys.executable, "-m", "bench.soak", "load", url, str(rate), str(seconds), str(out)]
            loadgen = harness.Process(harness.pinned(harness.TOOL_CORE, argv), cwd=harness.ROOT).start()
            samples: list[tuple[float, dict[str, float]]] = []
            started = time.monotonic()
            while True:
                time.sleep(min(every, 0.5) if not samples else every)
                if not loadgen.alive():
                    break  # only samples taken under load count
                at = time.monotonic() - started
                sample = (
                    asyncio.run(pg_sample(env["HOOKLINE_DATABASE_URL"]))
                    if backend == "postgres"
                    else sqlite_sample(work / "data" / "hookline.db")
                )
                samples.append((at, sample))
                say(f"  {backend} t={at:5.0f} s rows " + " ".join(f"{t}={int(sample[t])}" for t in TABLES)
                    + f" db {sample['mb']:.1f} MB")  # fmt: skip
            loadgen.stop()
            if not out.exists():
                raise SystemExit(f"the load generator failed:\n{loadgen.output()[-2000:]}")
    finally:
        if backend == "postgres":
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    result = json.loads(out.read_text())
    return Phase([(at, latency) for at, latency in result["timings"]], samples, result["failures"])


def backends() -> list[str]:
    asked: list[str] = [name for name in ("sqlite", "postgres") if name in sys.argv]  # python -m bench.soak sqlite
    if asked:
        return asked
    found = ["sqlite"]
    try:
        asyncio.run(pg_admin("SELECT 1"))
        found.append("postgres")
    except Exception as exc:  # no PostgreSQL here: say so, measure SQLite
        say(f"soak: PostgreSQL at {PG_ADMIN} unreachable ({type(exc).__name__}); SQLite only")
    return found


def run(quick: bool = False) -> list[Row]:
    rate = 150.0  # callbacks/s: 50 jobs/s, each fanned out to one subscriber
    seconds, retention, interval, every = (15.0, "4", "1", 1.5) if quick else (240.0, "60", "10", 15.0)
    window = seconds / 2  # p99 over the second half: pruning is in full swing by then
    rows: list[Row] = []
    for backend in backends():
        say(f"soak {backend}: {rate:g} callbacks/s for {seconds:g} s without pruning (HOOKLINE_RETENTION a year)")
        base = phase(backend, rate, seconds, YEAR, YEAR, every)
        say(f"soak {backend}: the same with HOOKLINE_RETENTION={retention} HOOKLINE_PRUNE_INTERVAL={interval}")
        soak = phase(backend, rate, seconds, retention, interval, every)
        if base.failures or soak.failures:
            raise SystemExit(f"hookline answered errors during the soak: {base.failures} / {soak.failures}")
        mid = next(s for at, s in soak.samples if at >= seconds / 2)
        end, base_end = soak.samples[-1][1], base.samples[-1][1]
        grew = soak.rows(end) / max(1, soak.rows(mid))
        over_time = " → ".join(
            f"{soak.rows(s) / 1000:.1f}k" for _, s in soak.samples[:: max(1, len(soak.samples) // 6)]
        )
        rows.append(
            Row(
                f"soak {backend}: rows over {seconds:g} s, retention {retention} s",
                f"{over_time} rows; {end['mb']:.1f} MB at the end",
                f"{soak.rows(base_end) / 1000:.1f}k rows, {base_end['mb']:.1f} MB unpruned",
                f"end/mid {grew:.2f}",
                "levels off (end/mid <= 1.2)",
                "met" if grew <= 1.2 else "NOT MET",
            )
        )
        with_p99, without_p99 = soak.p99_ms(window), base.p99_ms(window)
        ratio = with_p99 / without_p99 if without_p99 else float("inf")
        rows.append(
            Row(
                f"soak {backend}: ingest p99 while pruning ({rate:g}/s)",
                f"p99 {with_p99:.1f} ms",
                f"p99 {without_p99:.1f} ms without pruning",
                f"{ratio:.2f}x",
                "<= 2x",
                "met" if ratio <= 2 else "NOT MET",
            )
        )
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        import uvloop

        url, rate, seconds, out = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5])
        uvloop.run(load(url, rate, seconds, out))
        return
    print(harness.table(run(quick="--quick" in sys.argv)))


if __name__ == "__main__":
    main()
