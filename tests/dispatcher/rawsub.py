"""A webhook subscriber on raw sockets, so a test chooses the exact bytes of every answer: each
HTTP framing a real server may use, and the broken ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# An answer: called with the request's number (from 1) and the writer; returns whether to keep
# the connection open for another request.
Answer = Callable[[int, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawSubscriber:
    answer: Answer
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def events(self) -> list[Any]:
        return [json.loads(body) for _, body in self.requests]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if not await self.answer(len(self.requests), writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_subscriber(answer: Answer, host: str = "127.0.0.1") -> AsyncIterator[tuple[RawSubscriber, str]]:
    """Serve ``answer`` on a loopback port of ``host`` (``127.0.0.1`` or ``::1``); yield the
    subscriber and its base URL."""
    sub = RawSubscriber(answer)

    def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(sub.serve(reader, writer))
        sub.tasks.add(task)
        task.add_done_callback(sub.tasks.discard)

    server = await asyncio.start_server(start, host, 0)
    port = server.sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    try:
        yield sub, f"http://{shown}:{port}"
    finally:
        server.close()
        for task in list(sub.tasks):
            task.cancel()
        await asyncio.gather(*sub.tasks, return_exceptions=True)
        await server.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
