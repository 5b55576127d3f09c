"""Helper servers the benchmarks run as separate processes: ``python -m bench.servers KIND PORT``.

- ``bare``: the baseline for ingest — a Starlette route that parses the JSON body with orjson and
  answers 200 (the "bare starlette route" of PERF.md), on the same uvicorn/uvloop/httptools stack.
- ``sink``: a delivery target that answers 200 as cheaply as possible and counts what it got.
- ``relay``: the end-to-end baseline — what hookline does minus durability, queueing, retries
  and correlation: take the callback, sign an event around it, post it to every subscriber in
  ``BENCH_SUBSCRIBERS`` at once, answer 200. Same server stack, same core as hookline.
- ``subscribers``: three subscribers (``/s/1`` … ``/s/3``) that verify each event's signature with
  the ``standardwebhooks`` package and record end-to-end latency from the ``bench_sent`` time the
  load generator put into the callback (it comes back as ``data.upstream.bench_sent``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import orjson
import uvicorn


def bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def callback(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(b'{"outcome":"applied"}', media_type="application/json")

    return Starlette(routes=[Route("/callbacks/{provider}/{token}", callback, methods=["POST"])])


class Relay:
    """POST /callbacks/...: sign the callback as an event and forward it to every subscriber."""

    def __init__(self, secret: str, targets: list[str]) -> None:
        self.secret = secret
        self.targets = targets
        self.session: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import asyncio

        import aiohttp

        from hookline import signing

        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _reply(send, 404, b"")
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        doc = orjson.loads(await _body(receive))
        event = orjson.dumps({"type": "job.submitted", "timestamp": "", "data": {"upstream": doc}})
        headers = signing.headers([self.secret], f"msg_{time.time_ns()}", int(time.time()), event)

        async def post(target: str) -> None:
            async with self.session.post(target, data=event, headers=headers) as response:
                await response.read()

        await asyncio.gather(*[post(target) for target in self.targets])
        await _reply(send, 200, b'{"outcome":"applied"}')


class Sink:
    """Counts POSTs; ``GET /stats`` → {count, first, last} (wall-clock times of the first and last)."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            await _reply(send, 200, orjson.dumps({"count": self.count, "first": self.first, "last": self.last}))
            return
        while (await receive()).get("more_body"):
            pass
        now = time.time()
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now
        await _reply(send, 200, b"ok")


class Subscribers:
    """Verifies signatures and records latency; ``GET /stats`` → {verified, failed, latencies}."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks import Webhook

        self.webhook = Webhook(secret)
        self.latencies: list[float] = []
        self.failed = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            await _reply(
                send,
                200,
                orjson.dumps({"verified": len(self.latencies), "failed": self.failed, "latencies": self.latencies}),
            )
            return
        body = await _body(receive)
        received = time.time()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            event = self.webhook.verify(body, headers)
            sent = event["data"]["upstream"]["bench_sent"]
            self.latencies.append(received - sent)
        except Exception:
            self.failed += 1
        await _reply(send, 200, b"ok")


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Any, status: int, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    app: Any
    if kind == "bare":
        app = bare_app()
    elif kind == "sink":
        app = Sink()
    elif kind == "relay":
        app = Relay(os.environ["BENCH_SECRET"], os.environ["BENCH_SUBSCRIBERS"].split(","))
    elif kind == "subscribers":
        app = Subscribers(os.environ["BENCH_SECRET"])
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
