"""Shared machinery for the benchmarks: pinned processes, readiness, RSS sampling, tables.

The machine has 2 cores. Servers under test run pinned to core 0 (``taskset -c 0``); load
generators, sinks and subscribers run on core 1, so the thing measured gets one whole core and the
tools measuring it do not compete with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from hookline.models import Subscription

ROOT = Path(__file__).resolve().parents[1]
SERVER_CORE = "0"
TOOL_CORE = "1"
ADMIN_TOKEN = "bench-admin-token-0123456789"
CALLBACK_TOKEN = "bench-callback-token-0123456789"


def say(message: str) -> None:
    """Progress for a person watching a long run (stderr, so the table on stdout stays clean)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: str, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", core, *argv] if shutil.which("taskset") else list(argv)


@dataclass
class Process:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self) -> Process:
        self.log = Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv, env={**os.environ, **self.env}, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


@contextlib.contextmanager
def running(process: Process, ready_url: str | None = None, timeout: float = 60) -> Iterator[Process]:
    process.start()
    try:
        if ready_url:
            wait_ready(process, ready_url, timeout)
        yield process
    finally:
        process.stop()


def wait_ready(process: Process, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.argv[:6]} exited:\n{process.output()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout} s:\n{process.output()[-3000:]}")


def hookline_process(data_dir: Path, port: int, **env: str) -> Process:
    """``hookline serve`` on SQLite, one worker, pinned to the server core, no access log."""
    return Process(
        pinned(SERVER_CORE, [sys.executable, "-m", "hookline", "serve", "--no-access-log"]),
        env={
            "HOOKLINE_DATA_DIR": str(data_dir),
            "HOOKLINE_PORT": str(port),
            "HOOKLINE_ADMIN_TOKEN": ADMIN_TOKEN,
            "HOOKLINE_CALLBACK_TOKEN": CALLBACK_TOKEN,
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
            "HOOKLINE_LOG_LEVEL": "warning",
            "HOOKLINE_LOG_FORMAT": "json",
            **env,
        },
        cwd=ROOT,
    )


def sink_subscription(url: str, description: str, now: float) -> Subscription:
    """An enabled subscription of every event to a benchmark sink, signed with the benchmarks' secret."""
    from bench.loadgen import SECRET
    from hookline.ids import new_id
    from hookline.models import SigningSecret, Subscription

    return Subscription(
        id=new_id("sub"),
        url=url,
        event_types=None,
        filter={},
        description=description,
        secrets=[SigningSecret(SECRET, now)],
        enabled=True,
        disabled_reason=None,
        job_id=None,
        created_at=now,
        updated_at=now,
    )


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    measured: str
    baseline: str
    ratio: str
    goal: str
    verdict: str


def table(rows: Sequence[Row]) -> str:
    headers = ("benchmark", "hookline", "baseline (same run)", "ratio", "goal", "")
    cells = [headers, *[(r.benchmark, r.measured, r.baseline, r.ratio, r.goal, r.verdict) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"
