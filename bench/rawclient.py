"""The dispatch baseline: a raw aiohttp client posting N bodies to a URL with C in flight.
``python -m bench.rawclient URL N CONCURRENCY BODY_FILE``; prints the wall time."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import uvloop


async def blast(url: str, total: int, concurrency: int, body: bytes) -> float:
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_x",
        "webhook-timestamp": "0",
        "webhook-signature": "v1,AAAA",
    }
    remaining = total
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return time.perf_counter() - started


def main() -> None:
    url, total, concurrency, body_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    print(uvloop.run(blast(url, total, concurrency, Path(body_file).read_bytes())))


if __name__ == "__main__":
    main()
