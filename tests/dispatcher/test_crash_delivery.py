"""SIGKILL during delivery, restart: every event reaches every matching subscriber at least once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support import HooklineProcess, Subscriber, free_port, run_server, wait_for

JOBS = 20


async def _all_event_ids(admin: httpx.AsyncClient) -> set[str]:
    ids: set[str] = set()
    jobs = (await admin.get("/v1/jobs", params={"limit": "500"})).json()["items"]
    for job in jobs:
        detail = (await admin.get(f"/v1/jobs/{job['id']}")).json()
        ids |= {e["id"] for e in detail["events"]}
    return ids


async def test_deliveries_in_flight_at_sigkill_are_sent_after_restart(tmp_path: Path) -> None:
    slow, fast = Subscriber(delay=0.2), Subscriber()
    async with run_server(slow.app(), lifespan="off") as slow_url, run_server(fast.app(), lifespan="off") as fast_url:
        server = HooklineProcess(tmp_path / "data", free_port())
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, headers=server.admin_headers, timeout=10) as admin:
            for url in (slow_url, fast_url):
                assert (await admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).status_code == 201
            async with httpx.AsyncClient(timeout=10) as client:
                for i in range(JOBS):
                    for status, progress in (("SUBMITTED", "0%"), ("IN_PROGRESS", "50%"), ("SUCCESS", "100%")):
                        body = {
                            "id": f"crash-{i}",
                            "status": status,
                            "progress": progress,
                            "imageUrl": "https://cdn.example.com/x.png",
                        }
                        answer = await client.post(server.callback_url("mjproxy"), content=orjson.dumps(body))
                        assert answer.status_code == 200
            expected = await _all_event_ids(admin)
        assert len(expected) == JOBS * 3

        await wait_for(lambda: len(slow.received) >= 5, what="deliveries in flight")
        server.kill()
        assert len({r.headers["webhook-id"] for r in slow.received}) < len(expected)

        server.process = None
        await server.start()
        try:
            for sink in (slow, fast):
                await wait_for(
                    lambda sink=sink: _ids(sink) >= expected,
                    timeout=60,  # type: ignore[misc]
                    what="every event at every subscriber",
                )
            for sink in (slow, fast):
                _assert_in_order_per_job(sink)
        finally:
            server.stop()


def _ids(sink: Subscriber) -> set[str]:
    return {r.headers["webhook-id"] for r in sink.received}


def _assert_in_order_per_job(sink: Subscriber) -> None:
    """First arrivals of each job's events come in sequence order (re-sends may repeat)."""
    seen: dict[str, list[int]] = {}
    for event in (r.json() for r in sink.received):
        data: dict[str, Any] = event["data"]
        sequences = seen.setdefault(data["job_id"], [])
        if data["sequence"] not in sequences:
            sequences.append(data["sequence"])
    assert all(s == sorted(s) for s in seen.values()), seen
