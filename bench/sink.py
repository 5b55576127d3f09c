"""A webhook sink for benchmarks: answers 200 to every request and counts them, at a small
fraction of a dispatcher's cost per request (so the sink is not what a benchmark measures)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


@dataclass
class SinkStats:
    count: int = 0
    first: float = 0.0
    last: float = 0.0


def next_request(buffer: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The first whole request in ``buffer`` — (its head, its body, what follows it) — or None while
    it is not all there. Parses no more than the end of the headers and Content-Length: the sinks
    must cost far less per request than what they measure."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end]
    lowered = head.lower()
    at = lowered.find(b"content-length:")
    length = 0
    if at >= 0:
        stop = lowered.find(b"\r\n", at)
        length = int(lowered[at + 15 : stop if stop > 0 else None])
    size = end + 4 + length
    if len(buffer) < size:
        return None
    return head, buffer[end + 4 : size], buffer[size:]


class RequestProtocol(asyncio.Protocol):
    """A keep-alive connection of a benchmark's subscriber: each whole request (``next_request``)
    goes to :meth:`request`, which answers it."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (found := next_request(self.buffer)) is not None:
            head, body, self.buffer = found
            self.request(head, body)

    def request(self, head: bytes, body: bytes) -> None:
        raise NotImplementedError


class SinkProtocol(RequestProtocol):
    """Answers 200 at once to every request, counting them."""

    def __init__(self, stats: SinkStats) -> None:
        super().__init__()
        self.stats = stats

    def request(self, head: bytes, body: bytes) -> None:
        now = time.perf_counter()
        if self.stats.count == 0:
            self.stats.first = now
        self.stats.count += 1
        self.stats.last = now
        self.transport.write(RESPONSE)
