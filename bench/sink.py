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


class SinkProtocol(asyncio.Protocol):
    """Answers 200 to every request on a keep-alive connection, counting them; parses no more
    than the end of the headers and Content-Length."""

    def __init__(self, stats: SinkStats) -> None:
        self.stats = stats
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop > 0 else None])
            size = end + 4 + length
            if len(self.buffer) < size:
                return
            self.buffer = self.buffer[size:]
            now = time.perf_counter()
            if self.stats.count == 0:
                self.stats.first = now
            self.stats.count += 1
            self.stats.last = now
            self.transport.write(RESPONSE)
