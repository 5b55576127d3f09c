"""The HTTP/1.1 server protocol: uvicorn's httptools protocol with the two limits it lacks.

uvicorn's httptools protocol buffers a request line and headers of any size (one header line
streamed without end grew a process by 60 MiB a connection) and waits for them forever (idle and
slow-loris connections were never closed). :class:`GuardedHttpToolsProtocol` keeps httptools (the
callback path's speed depends on it) and adds, per request:

- a size limit: once more than ``max_header_bytes`` have arrived without the end of the headers,
  the answer is 431 and the connection is closed, so at most that much plus one read is buffered;
- a deadline: a connection must finish a request's headers within ``header_timeout`` seconds of
  its first byte (or of connecting, for the first request), else it is closed. Between requests
  uvicorn's keep-alive timeout applies as before.

Bodies are not affected: their size is checked by the routes (``HOOKLINE_MAX_BODY_BYTES``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit (431) and a header read deadline.
    Use :func:`guarded_protocol` to get one with hookline's configured limits."""

    max_header_bytes: ClassVar[int] = 32 * 1024
    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True  # True from the end of one request until the next one's headers end
        self._header_bytes = 0
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends anything is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._header_deadline is None:
                self._arm()
        super().data_received(data)
        if self._reading_headers and self._header_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse_oversized()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._disarm()
        # The bytes read may include a body that came in the same read: measure the headers
        # themselves, but only then (this runs on every request).
        if self._header_bytes > self.max_header_bytes and self._header_size() > self.max_header_bytes:
            self._refuse_oversized()
            raise _Refused  # stops the parser; the request never reaches the app
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # not after a 431
            super().send_400_response(msg)

    def _header_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) + 16

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers = True
        self._header_bytes = 0

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info(
                "closed a connection that sent %d header bytes in %g s without finishing them",
                self._header_bytes,
                self.header_timeout,
            )
            self.transport.close()

    def _refuse_oversized(self) -> None:
        log.warning("refused a request whose line and headers exceed %d bytes (431)", self.max_header_bytes)
        self._disarm()
        body = orjson.dumps(
            {
                "error": {
                    "code": "headers_too_large",
                    "message": f"the request line and headers are larger than {self.max_header_bytes} bytes "
                    "(HOOKLINE_MAX_HEADER_BYTES)",
                }
            }
        )
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that has been answered 431."""


def guarded_protocol(max_header_bytes: int, header_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``, with these limits."""

    class Configured(GuardedHttpToolsProtocol):
        pass

    Configured.max_header_bytes = max_header_bytes
    Configured.header_timeout = header_timeout
    return Configured
