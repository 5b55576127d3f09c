"""End to end: callback in → verified event at a subscriber, at a fixed 1,000 callbacks/s with three
subscribers (3,000 deliveries/s). Latency is measured by each subscriber after it verified the
signature, from the ``bench_sent`` time the load generator put in the callback.

Baseline: a relay on the same core and stack as hookline that signs each callback as an event and
posts it to the same three subscribers before answering — hookline's path without durability,
correlation, queueing or retries. The load generator and the subscribers (the tool core) carry
the same load in both runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import harness, loadgen
from bench.harness import Row, percentile, say

RATE = 1000
SECONDS = 10
WARMUP = 1.0  # seconds of samples dropped at the start


def subscribers() -> tuple[harness.Process, str]:
    port = harness.free_port()
    process = harness.Process(
        harness.pinned(harness.TOOL_CORE, [sys.executable, "-m", "bench.servers", "subscribers", str(port)]),
        env={"BENCH_SECRET": loadgen.SECRET},
        cwd=harness.ROOT,
    )
    return process, f"http://127.0.0.1:{port}"


def latencies(url: str, expected: int, timeout: float = 120) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = httpx.get(f"{url}/stats", timeout=30).json()
        if stats["failed"]:
            raise SystemExit(f"{stats['failed']} events failed signature verification")
        if stats["verified"] >= expected:
            samples: list[float] = stats["latencies"]
            return samples[int(WARMUP * RATE * 3) :]
        time.sleep(0.5)
    raise SystemExit(f"subscribers verified {stats['verified']} of {expected} events")


def loadgen_run(url: str) -> None:
    subprocess.run(
        harness.pinned(harness.TOOL_CORE, [sys.executable, "-m", "bench.loadgen", url, str(RATE), str(SECONDS)]),
        cwd=harness.ROOT,
        check=True,
    )


def run() -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    expected = RATE * SECONDS * 3
    process, sub_url = subscribers()
    with harness.running(process, f"{sub_url}/stats"):
        port = harness.free_port()
        relay = harness.Process(
            harness.pinned(harness.SERVER_CORE, [sys.executable, "-m", "bench.servers", "relay", str(port)]),
            env={"BENCH_SECRET": loadgen.SECRET, "BENCH_SUBSCRIBERS": ",".join(f"{sub_url}/s/{n}" for n in (1, 2, 3))},
            cwd=harness.ROOT,
        )
        with harness.running(relay, f"http://127.0.0.1:{port}/nothing"):
            say(f"end to end: baseline relay, {RATE} callbacks/s, 3 subscribers, {SECONDS} s")
            loadgen_run(f"http://127.0.0.1:{port}/callbacks/mjproxy/x")
            base = latencies(sub_url, expected)
    process, sub_url = subscribers()
    with harness.running(process, f"{sub_url}/stats"):
        port = harness.free_port()
        server = harness.hookline_process(work / "data", port)
        with harness.running(server, f"http://127.0.0.1:{port}/readyz"):
            headers = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}
            for n in (1, 2, 3):
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/subscriptions",
                    headers=headers,
                    json={"url": f"{sub_url}/s/{n}", "secret": loadgen.SECRET},
                    timeout=10,
                ).raise_for_status()
            say(f"end to end: hookline, {RATE} callbacks/s, 3 subscribers, {SECONDS} s")
            loadgen_run(f"http://127.0.0.1:{port}/callbacks/mjproxy/{harness.CALLBACK_TOKEN}")
            ours = latencies(sub_url, expected)
    p50, p99 = percentile(ours, 50) * 1000, percentile(ours, 99) * 1000
    b50, b99 = percentile(base, 50) * 1000, percentile(base, 99) * 1000
    return [
        Row(
            f"end to end at {RATE}/s, 3 subscribers (verified)",
            f"p50 {p50:.1f} ms p99 {p99:.1f} ms",
            f"p50 {b50:.1f} ms p99 {b99:.1f} ms relay",
            f"+{p99 - b99:.1f} ms p99",
            "p99 <= 25 ms",
            "met" if p99 <= 25 else "NOT MET",
        )
    ]
