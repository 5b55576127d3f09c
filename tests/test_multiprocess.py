"""Several real hookline processes on one PostgreSQL database: one receiver and two dispatchers
(``python -m hookline serve --role ...``), a real subscriber, 100 jobs' lifecycles posted to the
receiver. Every event must arrive, in sequence order per job — and still arrive when a dispatcher
is killed with SIGKILL in the middle of the work."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import MJPROXY_LIFECYCLE, REPO, Subscriber, fixture_json, free_port, run_server, wait_for

pytestmark = pytest.mark.postgres

ADMIN_TOKEN = "multiprocess-admin-token-0123456789"
CALLBACK_TOKEN = "multiprocess-callback-token-0123456789"
JOBS = 100
EVENTS_PER_JOB = 9  # the lifecycle's 10 callbacks repeat "IN_PROGRESS 0%" once


class Process:
    """One ``hookline serve`` process; its output goes to a log file (shown when a wait fails)."""

    def __init__(self, role: str, url: str, log_dir: Path, **env: str) -> None:
        self.role = role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{role}-{self.port}.log"
        environ = {
            **os.environ,
            "HOOKLINE_DATABASE_URL": url,
            "HOOKLINE_ROLE": role,
            "HOOKLINE_PORT": str(self.port),
            "HOOKLINE_DATA_DIR": str(log_dir / "data"),
            "HOOKLINE_ADMIN_TOKEN": ADMIN_TOKEN,
            "HOOKLINE_CALLBACK_TOKEN": CALLBACK_TOKEN,
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
            "HOOKLINE_LOG_FORMAT": "text",
            "HOOKLINE_LOG_LEVEL": "warning",
            **{f"HOOKLINE_{k}": v for k, v in env.items()},
        }
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "hookline", "serve", "--no-access-log"],
                cwd=REPO,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, client: httpx.AsyncClient) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.role} exited with {self.popen.returncode}:\n{self.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(f"{self.url}/readyz")).status_code == 200
        return False

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@contextlib.asynccontextmanager
async def cluster(url: str, log_dir: Path, **env: str) -> AsyncIterator[list[Process]]:
    """A receiver and two dispatchers, ready; stopped (SIGTERM) afterwards."""
    processes = [Process(role, url, log_dir, **env) for role in ("receiver", "dispatcher", "dispatcher")]
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for p in processes:
                await wait_for(lambda p=p: p.ready(client), timeout=30, interval=0.05, what=f"{p.role} to be ready")
        yield processes
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes))


def lifecycle(job: int) -> list[bytes]:
    """The fixture lifecycle with this job's own upstream id and correlation key."""
    bodies = []
    for name in MJPROXY_LIFECYCLE:
        body = fixture_json(name)
        body["id"], body["state"] = f"mp-{job:04d}", f"order-{job:04d}"
        bodies.append(orjson.dumps(body))
    return bodies


async def post_jobs(receiver: Process, count: int) -> None:
    """Each job's callbacks in order; 20 jobs at a time."""
    path = f"{receiver.url}/callbacks/mjproxy/{CALLBACK_TOKEN}"
    limit = asyncio.Semaphore(20)
    async with httpx.AsyncClient(timeout=30, headers={"content-type": "application/json"}) as client:

        async def post(job: int) -> None:
            async with limit:
                for body in lifecycle(job):
                    response = await client.post(path, content=body)
                    assert response.status_code == 200, response.text

        await asyncio.gather(*(post(job) for job in range(count)))


async def subscribe(receiver: Process, url: str) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        response = await admin.post(f"{receiver.url}/v1/subscriptions", json={"url": url})
        assert response.status_code == 201, response.text


def first_arrivals(sink: Subscriber) -> dict[str, list[int]]:
    """Per job, the sequence numbers in the order they first arrived."""
    seen: set[str] = set()
    order: dict[str, list[int]] = {}
    for received in sink.received:
        if received.headers["webhook-id"] in seen:
            continue
        seen.add(received.headers["webhook-id"])
        data: dict[str, Any] = received.json()["data"]
        order.setdefault(data["job_id"], []).append(data["sequence"])
    return order


def unique_events(sink: Subscriber) -> int:
    return len({r.headers["webhook-id"] for r in sink.received})


async def test_a_receiver_and_two_dispatchers_deliver_every_event_once_in_order(pg_url: str, tmp_path: Path) -> None:
    sink = Subscriber()
    async with run_server(sink.app(), lifespan="off") as sink_url, cluster(pg_url, tmp_path) as (receiver, *_):
        await subscribe(receiver, f"{sink_url}/hook")
        await post_jobs(receiver, JOBS)
        total = JOBS * EVENTS_PER_JOB
        await wait_for(lambda: unique_events(sink) == total, timeout=30, what=f"{total} events")
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:

            async def all_recorded() -> bool:
                page = (await admin.get(f"{receiver.url}/v1/deliveries", params={"status": "pending"})).json()
                return not page["items"]

            await wait_for(all_recorded, timeout=10, what="every delivery recorded as delivered")
    assert len(sink.received) == total  # exactly once: nothing was sent twice
    order = first_arrivals(sink)
    assert len(order) == JOBS
    assert all(sequences == list(range(1, EVENTS_PER_JOB + 1)) for sequences in order.values())


async def test_killing_a_dispatcher_midway_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    # Short leases so the killed dispatcher's deliveries are reclaimed quickly; a slow subscriber
    # so that it dies holding some.
    sink = Subscriber(delay=0.02)
    env = {"DELIVERY_TIMEOUT": "1", "LEASE": "2"}
    async with run_server(sink.app(), lifespan="off") as sink_url, cluster(pg_url, tmp_path, **env) as processes:
        receiver, doomed, _survivor = processes
        await subscribe(receiver, f"{sink_url}/hook")
        posting = asyncio.create_task(post_jobs(receiver, JOBS))
        total = JOBS * EVENTS_PER_JOB
        await wait_for(lambda: len(sink.received) >= total // 3, timeout=30, what="a third of the events")
        doomed.kill()
        await posting
        await wait_for(lambda: unique_events(sink) == total, timeout=40, what=f"all {total} events after the kill")
    order = first_arrivals(sink)
    assert len(order) == JOBS
    assert all(sequences == list(range(1, EVENTS_PER_JOB + 1)) for sequences in order.values())
