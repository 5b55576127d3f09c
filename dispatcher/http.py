"""A small HTTP/1.1 client for one job: POST a webhook, read the status, two headers and the first
few KiB of the answer.

Why not aiohttp on this path: counted with callgrind on this project's machine, a POST through
aiohttp's client cost ~380k instructions, this client ~20k-40k; delivering an event spent more in
the HTTP client than in everything else hookline does for it. What it does, it does the way a
webhook sender must:

- keep-alive connections, pooled per origin (scheme, host, port); a connection the server closed
  while idle is detected when reused, and the request is sent once more on a fresh one;
- every address a name resolves to goes through the egress guard before a connection is made, and
  the connection goes to a checked address (no second lookup to race with: no DNS rebinding);
- TLS with certificate and hostname verification (the system's trust store by default);
- one deadline for connect, send and answer; redirects are not followed (a 3xx is the answer);
- an answer's body is kept up to ``body_cap`` bytes; a longer one is not read: the connection is
  closed instead of reused. 1xx interim answers are skipped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

from hookline.egress import EgressGuard

KEPT_HEADERS = frozenset({b"retry-after", b"location"})
IDLE_TIMEOUT = 15.0  # seconds a pooled connection may sit idle (servers close theirs too)
MAX_IDLE_PER_ORIGIN = 64


class ConnectionLost(ConnectionError):
    """The connection closed (or the answer was malformed) before a whole answer arrived."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.answered_nothing = not sent


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; only retry-after and location are kept
    body: bytes  # at most the pool's body_cap bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    https: bool
    host: str
    port: int
    target: bytes  # the request line's path and query
    host_header: bytes


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and its response parser; one request at a time."""

    def __init__(self, body_cap: int) -> None:
        self.body_cap = body_cap
        self.transport: Any = None  # an asyncio transport (uvloop's are not asyncio.Transport subclasses)
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.last_used = time.monotonic()
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.received_any = False
        self.truncated = False
        self.keep_alive = False

    # asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.close()  # bytes nobody asked for: this connection's stream cannot be trusted any more
            return
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionLost("the server switched protocols", sent=True))
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLost(f"not a valid HTTP answer: {exc}", sent=True))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            detail = f": {exc}" if exc else ""
            self.waiter.set_exception(
                ConnectionLost(f"the connection closed before an answer{detail}", sent=self.received_any)
            )

    # httptools callbacks ----------------------------------------------------------------------
    def on_status(self, _: bytes) -> None:
        self.status = self.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered in KEPT_HEADERS:
            self.headers[lowered.decode()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        room = self.body_cap - len(self.body)
        if room > 0:
            self.body += chunk[:room]
        if len(chunk) > room:
            # Longer than what is kept: answer now and drop the connection rather than read it all.
            self.truncated = True
            self._answer()
            self.close()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self._reset()  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self.received_any = True
            return
        # httptools answers this only inside its callbacks (it resets right after).
        self.keep_alive = self.parser.should_keep_alive()
        self._answer()

    # ------------------------------------------------------------------------------------------
    def _answer(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Response(self.status, self.headers, bytes(self.body)))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.close()

    @property
    def reusable(self) -> bool:
        return not self.closed and not self.truncated and self.keep_alive

    async def request(self, data: bytes) -> Response:
        self._reset()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None
            self.last_used = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class Pool:
    """Keep-alive connections per origin; ``post`` one webhook at a time per connection."""

    def __init__(
        self,
        guard: EgressGuard,
        *,
        body_cap: int = 4096,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "hookline",
    ) -> None:
        self.guard = guard
        self.body_cap = body_cap
        self.ssl_context = ssl_context
        self.user_agent = user_agent.encode()
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._origins: dict[str, _Origin] = {}
        self._closed = False

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> Response:
        """POST ``body`` to ``url`` and return the answer. Raises EgressRefused, TimeoutError,
        ConnectionError (refused, reset, malformed answer) or ssl.SSLError."""
        origin = self._origin(url)
        data = self._request_bytes(origin, headers, body)
        async with asyncio.timeout(timeout):
            conn = self._checkout(origin)
            if conn is not None:
                try:
                    response = await conn.request(data)
                except ConnectionLost as exc:
                    conn.close()
                    if not exc.answered_nothing:
                        raise
                    # The server had closed it while it sat idle: once more, on a fresh connection.
                except BaseException:
                    conn.close()  # a timeout: an answer may still come on it
                    raise
                else:
                    self._checkin(origin, conn)
                    return response
            conn = await self._connect(origin)
            try:
                response = await conn.request(data)
            except BaseException:
                conn.close()
                raise
            self._checkin(origin, conn)
            return response

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for conn in connections:
                conn.close()
        self._idle.clear()

    # ------------------------------------------------------------------------------------------
    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {url!r}")
            https = parts.scheme == "https"
            port = parts.port or (443 if https else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host = parts.hostname
            shown = f"[{host}]" if ":" in host else host
            if port != (443 if https else 80):
                shown = f"{shown}:{port}"
            origin = _Origin(https, host, port, target.encode(), shown.encode("idna"))
            if len(self._origins) > 10_000:
                self._origins.clear()
            self._origins[url] = origin
        return origin

    def _request_bytes(self, origin: _Origin, headers: dict[str, str], body: bytes) -> bytes:
        lines = [
            b"POST ",
            origin.target,
            b" HTTP/1.1\r\nhost: ",
            origin.host_header,
            b"\r\nuser-agent: ",
            self.user_agent,
            b"\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\n",
        ]
        for name, value in headers.items():
            lines += [name.encode(), b": ", value.encode(), b"\r\n"]
        lines += [b"\r\n", body]
        return b"".join(lines)

    def _checkout(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get((origin.https, origin.host, origin.port))
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.last_used < IDLE_TIMEOUT:
                return conn
            conn.close()
        return None

    def _checkin(self, origin: _Origin, conn: _Connection) -> None:
        if self._closed or not conn.reusable:
            conn.close()
            return
        idle = self._idle.setdefault((origin.https, origin.host, origin.port), [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
        else:
            idle.append(conn)

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await self._addresses(origin)
        tls: dict[str, Any] = {}
        if origin.https:
            tls = {"ssl": self.ssl_context or _default_context(), "server_hostname": origin.host}
        error: Exception | None = None
        for address in addresses:
            try:
                _, conn = await loop.create_connection(lambda: _Connection(self.body_cap), address, origin.port, **tls)
            except ssl.SSLError:
                raise
            except OSError as exc:
                error = exc
                continue
            return conn
        raise ConnectionError(f"cannot connect to {origin.host}:{origin.port}: {error}")

    async def _addresses(self, origin: _Origin) -> list[str]:
        """The addresses to try, each checked by the egress guard (one refused address refuses the
        name: a name that also resolves to a private address is not to be trusted)."""
        try:
            ipaddress.ip_address(origin.host)
        except ValueError:
            pass
        else:
            self.guard.check_ip(origin.host)
            return [origin.host]
        infos = await asyncio.get_running_loop().getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.guard.check_ip(address)
        return addresses


_CONTEXT: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = ssl.create_default_context()  # verifies certificates and host names
    return _CONTEXT
