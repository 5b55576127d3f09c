"""Memory: hookline's resident set with 1 M stored events and 100 k pending deliveries, while it
drains the backlog to a sink and an API client pages through jobs and deliveries.

The database is built fast and directly (hookline's own schema via the store's migrations, rows of
realistic size with ``executemany``), since writing a million callbacks through HTTP would take
minutes and is what the ingest benchmark measures. Baseline: the same hookline, idle, on an empty
database, in the same run. Goal: at most 200 MB, because the backlog is streamed from the store,
never loaded whole.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench import dispatch, harness
from bench.harness import Row, say
from hookline.ids import new_id

EVENTS_PER_JOB = 4


async def _create(data_dir: Path, sink_url: str) -> str:
    from hookline.clock import SystemClock
    from hookline.config import Config
    from hookline.store import open_store

    store = open_store(Config.from_env({"HOOKLINE_DATA_DIR": str(data_dir)}), clock=SystemClock())
    await store.open()
    now = time.time()
    sub = harness.sink_subscription(sink_url, "memory bench", now)
    await store.create_subscription(sub)
    await store.close()
    return sub.id


def build(data_dir: Path, sink_url: str, events: int, pending: int) -> None:
    """``events`` events (each with its callback, as ingest writes them), ``pending`` of them with a
    pending delivery (the newest, each the head of its chain)."""
    sub_id = asyncio.run(_create(data_dir, sink_url))
    template = orjson.loads((harness.ROOT / "tests" / "fixtures" / "mjproxy-blend-06-in-progress-46.json").read_bytes())
    conn = sqlite3.connect(data_dir / "hookline.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # building a fixture, not serving: speed over durability
    now = time.time()
    batch = 20000
    for start in range(0, events, batch):
        jobs, callbacks, rows, deliveries = [], [], [], []
        for i in range(start, min(events, start + batch)):
            job_id = f"job_{i // EVENTS_PER_JOB:026d}"
            sequence = i % EVENTS_PER_JOB + 1
            callback_id, event_id = new_id("cb"), new_id("msg")
            body = orjson.dumps({**template, "id": f"mem-{i // EVENTS_PER_JOB}", "progress": f"{sequence * 20}%"})
            callbacks.append((callback_id, job_id, "mjproxy", "callback", "applied", now, "{}", body, None))
            head = orjson.dumps(
                {
                    "type": "job.progress",
                    "timestamp": "2026-11-21T00:00:00.000Z",
                    "data": {"job_id": job_id, "sequence": sequence, "status": "in_progress"},
                }
            )
            rows.append((event_id, job_id, "job.progress", sequence, now, head, callback_id))
            if sequence == EVENTS_PER_JOB:
                jobs.append(
                    (
                        job_id,
                        "mjproxy",
                        f"mem-{i // EVENTS_PER_JOB}",
                        f"key-{i}",
                        "in_progress",
                        80,
                        "[]",
                        None,
                        "blend",
                        "{}",
                        callback_id,
                        sequence,
                        "callback",
                        now,
                        now,
                        now,
                    )
                )
            if i >= events - pending:
                # a job's first pending delivery heads its chain; the later ones wait to be promoted
                head_of_chain = i == events - pending or sequence == 1
                deliveries.append(
                    (
                        new_id("dlv"),
                        event_id,
                        sub_id,
                        job_id,
                        "job.progress",
                        sequence,
                        now if head_of_chain else None,
                        now,
                        now,
                    )
                )
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", jobs)
        conn.executemany("INSERT INTO callbacks VALUES (?,?,?,?,?,?,?,?,?)", callbacks)
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?)", rows)
        conn.executemany(
            "INSERT INTO deliveries (id, event_id, subscription_id, job_id, event_type, sequence, status, attempts, "
            "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            deliveries,
        )
        conn.execute("COMMIT")
        done = min(events, start + batch)
        if done % (events // 10 or 1) < batch or done == events:  # ten progress lines, not fifty
            say(f"memory: built {done:,} of {events:,} events")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.running = pid, 0.0, 0, True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, harness.rss_mb(self.pid))
                self.samples += 1
            except OSError:
                return
            time.sleep(0.1)


def _browse(base: str) -> None:
    """What an operator does: page through jobs and deliveries."""
    headers = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for path in ("/v1/jobs", "/v1/deliveries"):
            cursor = None
            for _ in range(20):
                page = client.get(path, params={"limit": "500", **({"cursor": cursor} if cursor else {})}).json()
                cursor = page["next_cursor"]
                if not cursor:
                    break


def run(events: int = 1_000_000, pending: int = 100_000) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    sink_process, sink_url = dispatch.sink()
    with harness.running(sink_process, f"{sink_url}/stats"):
        port = harness.free_port()
        empty = harness.hookline_process(work / "empty", port)
        with harness.running(empty, f"http://127.0.0.1:{port}/readyz"):
            time.sleep(1)
            baseline = harness.rss_mb(empty.pid)
        say(f"memory: building {events:,} events and {pending:,} pending deliveries")
        build(work / "full", f"{sink_url}/hook", events, pending)
        size = sum(f.stat().st_size for f in (work / "full").iterdir()) / 1e9
        port = harness.free_port()
        server = harness.hookline_process(
            work / "full", port, HOOKLINE_DISPATCH_CONCURRENCY="64", HOOKLINE_SUBSCRIPTION_CONCURRENCY="64"
        )
        with harness.running(server, f"http://127.0.0.1:{port}/readyz"):
            sampler = Sampler(server.pid)
            sampler.start()
            say("memory: draining the backlog while paging through the API")
            _browse(f"http://127.0.0.1:{port}")
            dispatch.measure_at_sink(sink_url, pending, timeout=900)
            _browse(f"http://127.0.0.1:{port}")
            sampler.running = False
            sampler.join()
    for path in sorted(work.rglob("*"), reverse=True):
        (path.unlink() if path.is_file() else path.rmdir()) if path.exists() else None
    return [
        Row(
            f"memory, peak RSS ({events / 1e6:g} M events, {pending / 1e3:g} k pending, {size:.1f} GB db)",
            f"{sampler.peak:.0f} MB",
            f"{baseline:.0f} MB idle, empty db",
            f"+{sampler.peak - baseline:.0f} MB",
            "<= 200 MB",
            "met" if sampler.peak <= 200 else "NOT MET",
        )
    ]
