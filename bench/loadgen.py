"""Open-loop load at a fixed rate: ``python -m bench.loadgen MODE URL RATE SECONDS [SUBSCRIBER_URLS...]``.

``hookline``: POST a midjourney-proxy callback with a new task id and ``bench_sent`` (the send time)
to URL, RATE per second. ``direct`` (the end-to-end baseline): POST, for each would-be callback,
the signed event straight to every subscriber URL — what a subscriber would see with no hookline in
between. Requests are started on schedule whether or not earlier ones finished (open loop), so a
slow server shows up as latency, not as a lower rate.
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


async def run(mode: str, url: str, rate: float, seconds: float, subscribers: list[str]) -> None:
    from dispatcher import signing

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        total = int(rate * seconds)
        start = time.perf_counter()
        tasks = []

        async def send(i: int) -> None:
            doc = callback(i)
            if mode == "hookline":
                async with session.post(url, data=orjson.dumps(doc)) as response:
                    await response.read()
                return
            event = orjson.dumps({"type": "job.submitted", "timestamp": "", "data": {"upstream": doc}})
            headers = signing.headers([SECRET], f"msg_{i}", int(time.time()), event)
            for target in subscribers:
                async with session.post(target, data=event, headers=headers) as response:
                    await response.read()

        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(i)))
        await asyncio.gather(*tasks)


def main() -> None:
    mode, url, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    uvloop.run(run(mode, url, rate, seconds, sys.argv[5:]))


if __name__ == "__main__":
    main()
