"""End to end: callback in → verified event at a subscriber, at a fixed 1,000 callbacks/s with three
subscribers (3,000 deliveries/s). Latency is measured by each subscriber after it verified the
signature, from the ``bench_sent`` time the load generator put in the callback.

Baseline: a relay on the same core and stack as hookline that signs each callback as an event and
posts it to the same three subscribers before answering — hookline's path without durability,
correlation, queueing or retries. The load generator and the subscribers (the tool core) carry
the same load in both runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import harness, loadgen
from bench.harness import Row, median, percentile, say

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


def relay_once() -> list[float]:
    """Latencies through the baseline relay (fresh subscribers)."""
    process, sub_url = subscribers()
    with harness.running(process, f"{sub_url}/stats"):
        port = harness.free_port()
        relay = harness.Process(
            harness.pinned(harness.SERVER_CORE, [sys.executable, "-m", "bench.servers", "relay", str(port)]),
            env={"BENCH_SECRET": loadgen.SECRET, "BENCH_SUBSCRIBERS": ",".join(f"{sub_url}/s/{n}" for n in (1, 2, 3))},
            cwd=harness.ROOT,
        )
        with harness.running(relay, f"http://127.0.0.1:{port}/nothing"):
            loadgen_run(f"http://127.0.0.1:{port}/callbacks/mjproxy/x")
            return latencies(sub_url, RATE * SECONDS * 3)


def hookline_once(data: Path) -> list[float]:
    """Latencies through hookline on a fresh SQLite database (fresh subscribers)."""
    process, sub_url = subscribers()
    with harness.running(process, f"{sub_url}/stats"):
        port = harness.free_port()
        server = harness.hookline_process(data, port)
        with harness.running(server, f"http://127.0.0.1:{port}/readyz"):
            headers = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}
            for n in (1, 2, 3):
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/subscriptions",
                    headers=headers,
                    json={"url": f"{sub_url}/s/{n}", "secret": loadgen.SECRET},
                    timeout=10,
                ).raise_for_status()
            loadgen_run(f"http://127.0.0.1:{port}/callbacks/mjproxy/{harness.CALLBACK_TOKEN}")
            return latencies(sub_url, RATE * SECONDS * 3)


def run(runs: int = 3) -> list[Row]:
    """``runs`` runs of each, alternating; the medians of their p50s and p99s (this machine has
    latency hiccups of tens of milliseconds that hit the baseline as often as hookline)."""
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for i in range(runs):
        say(f"end to end {i + 1}/{runs}: baseline relay, {RATE} callbacks/s, 3 subscribers, {SECONDS} s")
        base.append(_p50_p99(relay_once()))
        say(f"end to end {i + 1}/{runs}: hookline, {RATE} callbacks/s, 3 subscribers, {SECONDS} s")
        ours.append(_p50_p99(hookline_once(work / f"data-{i}")))
    shutil.rmtree(work, ignore_errors=True)
    p50, p99 = median([r[0] for r in ours]), median([r[1] for r in ours])
    b50, b99 = median([r[0] for r in base]), median([r[1] for r in base])
    return [
        Row(
            f"end to end at {RATE}/s, 3 subscribers (verified)",
            f"p50 {p50:.1f} ms p99 {p99:.1f} ms (p99s {', '.join(f'{r[1]:.0f}' for r in ours)})",
            f"p50 {b50:.1f} ms p99 {b99:.1f} ms relay (p99s {', '.join(f'{r[1]:.0f}' for r in base)})",
            f"{p99 - b99:+.1f} ms p99",
            "p99 <= 25 ms",
            "met" if p99 <= 25 else "NOT MET",
        )
    ]


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
