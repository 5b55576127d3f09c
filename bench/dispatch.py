"""Dispatch: deliveries/s draining a backlog to a local sink — claims, signing, sending and attempt
recording included — against a raw aiohttp client posting the same bodies to the same sink with
the same number in flight.

The backlog (N callbacks of N distinct jobs, one subscription) is written through the real store
before hookline starts; hookline then drains it. Rates are measured at the sink, first to last.
CPU per delivery is what the hookline process (or the raw client) spent, user + system, over the
drain, divided by the deliveries: the cost of each delivery whatever the machine's other load.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench import harness
from bench.cpu import cpu_seconds
from bench.harness import Row, median, say

IN_FLIGHT = 64


async def fill(data_dir: Path, sink_url: str, total: int) -> bytes:
    """Write ``total`` callbacks (one pending delivery each) through the store; return one payload."""
    from hookline.clock import SystemClock
    from hookline.config import Config
    from hookline.models import Inbound
    from hookline.queries import JobQuery
    from hookline.store import open_store
    from receiver.adapters import ADAPTERS

    config = Config.from_env({"HOOKLINE_DATA_DIR": str(data_dir)})
    store = open_store(config, clock=SystemClock())
    await store.open()
    now = time.time()
    await store.create_subscription(harness.sink_subscription(sink_url, "bench sink", now))
    template = (harness.ROOT / "tests" / "fixtures" / "mjproxy-blend-06-in-progress-46.json").read_bytes()
    doc = orjson.loads(template)
    semaphore = asyncio.Semaphore(256)

    async def one(i: int) -> None:
        doc_i = {**doc, "id": f"dispatch-{i}"}
        body = orjson.dumps(doc_i)
        async with semaphore:
            await store.record_callback(Inbound("mjproxy", body, {}, time.time(), snapshot=ADAPTERS["mjproxy"](doc_i)))

    await asyncio.gather(*[one(i) for i in range(total)])
    job = (await store.list_jobs(JobQuery(limit=1))).items[0]
    payload = (await store.job_events(job.id))[0].payload
    await store.close()
    return payload


def sink_stats(url: str) -> dict[str, float]:
    stats: dict[str, float] = httpx.get(f"{url}/stats", timeout=5).json()
    return stats


def measure_at_sink(sink_url: str, total: int, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = sink_stats(sink_url)
        if stats["count"] >= total:
            return (stats["count"] - 1) / (stats["last"] - stats["first"])
        time.sleep(0.1)
    raise SystemExit(f"the sink got {sink_stats(sink_url)['count']} of {total} deliveries in {timeout} s")


def sink() -> tuple[harness.Process, str]:
    port = harness.free_port()
    process = harness.Process(
        harness.pinned(harness.TOOL_CORE, [sys.executable, "-m", "bench.servers", "sink", str(port)]), cwd=harness.ROOT
    )
    return process, f"http://127.0.0.1:{port}"


def run(runs: int = 3, total: int = 20000) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    ours, raw = [], []
    our_cpu, raw_cpu = [], []  # µs per delivery
    payload = b""
    for i in range(runs):
        process, sink_url = sink()
        with harness.running(process, f"{sink_url}/stats"):
            data = work / f"data-{i}"
            say(f"dispatch run {i + 1}/{runs}: writing a backlog of {total:,} deliveries")
            payload = asyncio.run(fill(data, f"{sink_url}/hook", total))
            say(f"dispatch run {i + 1}/{runs}: hookline drains it")
            port = harness.free_port()
            server = harness.hookline_process(
                data,
                port,
                HOOKLINE_DISPATCH_CONCURRENCY=str(IN_FLIGHT),
                HOOKLINE_SUBSCRIPTION_CONCURRENCY=str(IN_FLIGHT),
            )
            with harness.running(server, f"http://127.0.0.1:{port}/healthz"):
                before = cpu_seconds([server.pid])
                ours.append(measure_at_sink(sink_url, total))
                _wait_recorded(f"http://127.0.0.1:{port}")
                our_cpu.append((cpu_seconds([server.pid]) - before) / total * 1e6)
        process, sink_url = sink()
        with harness.running(process, f"{sink_url}/stats"):
            say(f"dispatch run {i + 1}/{runs}: raw aiohttp baseline")
            body = work / "payload.json"
            body.write_bytes(payload)
            before_children = _children_cpu()
            subprocess.run(
                harness.pinned(
                    harness.SERVER_CORE,
                    [
                        sys.executable,
                        "-m",
                        "bench.rawclient",
                        f"{sink_url}/hook",
                        str(total),
                        str(IN_FLIGHT),
                        str(body),
                    ],
                ),
                cwd=harness.ROOT,
                check=True,
                capture_output=True,
            )
            raw_cpu.append((_children_cpu() - before_children) / total * 1e6)
            raw.append(measure_at_sink(sink_url, total))
    o, b = median(ours), median(raw)
    return [
        Row(
            f"dispatch, deliveries/s ({IN_FLIGHT} in flight, backlog of {total:,})",
            f"{o:,.0f}/s, {median(our_cpu):,.0f} µs CPU each",
            f"{b:,.0f}/s raw aiohttp, {median(raw_cpu):,.0f} µs CPU each",
            f"{o / b:.0%}",
            ">= 50 %",
            "met" if o / b >= 0.5 else "NOT MET",
        )
    ]


def _children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_recorded(base: str, timeout: float = 60) -> None:
    """Every delivery is recorded as delivered (not only received by the sink)."""
    headers = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = httpx.get(
            f"{base}/v1/deliveries", params={"status": "pending", "limit": "1"}, headers=headers, timeout=10
        ).json()["items"]
        if not pending:
            return
        time.sleep(0.2)
    raise SystemExit("deliveries the sink received were not all recorded as delivered")
