"""Open-loop load at a fixed rate: ``python -m bench.loadgen URL RATE SECONDS``.

POST a midjourney-proxy callback with a new task id and ``bench_sent`` (the send time) to URL, RATE
per second. Requests are started on schedule whether or not earlier ones finished (open loop), so
a slow server shows up as latency, not as a lower rate.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson
import uvloop

SECRET = "whsec_QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5D"


def callback(i: int) -> dict[str, object]:
    return {
        "id": f"e2e-{i}-{time.time_ns()}",
        "action": "BLEND",
        "status": "SUBMITTED",
        "progress": "0%",
        "state": f"order-{i}",
        "bench_sent": time.time(),
    }


async def run(url: str, rate: float, seconds: float) -> None:
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(i: int) -> None:
            async with session.post(url, data=orjson.dumps(callback(i))) as response:
                await response.read()

        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(i)))
        await asyncio.gather(*tasks)


def main() -> None:
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    uvloop.run(run(url, rate, seconds))


if __name__ == "__main__":
    main()
