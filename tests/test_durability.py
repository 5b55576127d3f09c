"""A 200 means committed: kill the server with SIGKILL while callbacks are in flight, restart it,
and find every acknowledged callback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from tests.support import HooklineProcess, free_port

TOTAL = 3000
KILL_AFTER = 800


async def test_every_acknowledged_callback_survives_sigkill(tmp_path: Path) -> None:
    server = HooklineProcess(tmp_path / "data", free_port())
    await server.start()
    acked: set[str] = set()
    failed = 0
    url = server.callback_url("mjproxy")
    semaphore = asyncio.Semaphore(64)
    killed = asyncio.Event()

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as client:

        async def send(i: int) -> None:
            nonlocal failed
            body = orjson.dumps({"id": f"durable-{i}", "status": "SUBMITTED", "progress": "0%", "state": f"k{i}"})
            async with semaphore:
                if killed.is_set():
                    return
                try:
                    response = await client.post(url, content=body)
                except httpx.HTTPError:
                    failed += 1
                    return
            if response.status_code == 200:
                acked.add(f"durable-{i}")
                if len(acked) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    server.kill()  # while other requests are still in flight

        await asyncio.gather(*[send(i) for i in range(TOTAL)])
    assert killed.is_set() and len(acked) >= KILL_AFTER

    server.process = None
    await server.start()
    try:
        stored: set[str] = set()
        async with httpx.AsyncClient(base_url=server.url, headers=server.admin_headers, timeout=10) as admin:
            cursor = None
            while True:
                params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
                page = (await admin.get("/v1/jobs", params=params)).json()
                stored |= {job["upstream_id"] for job in page["items"]}
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged callbacks were lost, e.g. {sorted(missing)[:5]}"
    finally:
        server.stop()
