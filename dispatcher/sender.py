"""Sends one signed attempt of a delivery and turns whatever happens into an attempt result.

The HTTP client is aiohttp through ``hookline.egress.client_session``: every connection is checked
by the egress guard (and goes through ``HOOKLINE_EGRESS_PROXY`` when set), and aiohttp reads every
legal answer: close-delimited bodies (HTTP/1.0 and 1.1), chunked with trailers, ``100 Continue``
before the answer, IPv6 literals. Redirects are not followed (a 3xx is a failure). The request
timeout is one deadline for connect, send and answer. Only the first 4 KiB of the answer's body are
read (the attempt log keeps no more); a longer answer's connection is dropped rather than read to
the end. An answer shorter than its Content-Length is a failed attempt.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import aiohttp

from hookline import egress, signing
from hookline.clock import Clock
from hookline.egress import EgressGuard, Unresolvable
from hookline.errors import EgressRefused
from hookline.models import Claim
from hookline.retry import AttemptResult, parse_retry_after

RESPONSE_BODY_CAP = 4096


class Sender:
    def __init__(
        self,
        guard: EgressGuard,
        clock: Clock,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        limit: int = 0,
    ) -> None:
        self.guard = guard
        self.clock = clock
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._limit = limit  # connections at once; 0: unbounded (the dispatcher bounds what is in flight)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session (connections themselves are made on first use)."""
        if self._session is None:
            self._session = egress.client_session(
                self.guard, timeout=self.timeout, limit=self._limit, ssl_context=self._ssl_context
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, claim: Claim) -> AttemptResult:
        """POST the event to the subscriber once, signed for this attempt; never raises for the
        subscriber's behaviour (errors become the result)."""
        started_at = self.clock.now()
        started = time.perf_counter()
        result = AttemptResult(started_at=started_at, latency_ms=0.0)
        # The subscription's own headers first: hookline's (signature, content type) always win, and
        # the API refuses names that would collide with them anyway.
        headers = {**claim.headers, **signing.headers(claim.secrets, claim.event_id, int(started_at), claim.payload)}
        try:
            status, retry_after, location, body = await self._post(claim.url, headers, claim.payload)
        except (EgressRefused, aiohttp.ClientError, OSError, TimeoutError) as exc:  # SSLError is an OSError
            result.error = describe(exc, self.timeout)
        else:
            result.status_code = status
            result.response_body = body.decode("utf-8", "replace") if body else None
            result.retry_after = parse_retry_after(retry_after, started_at)
            if 300 <= status < 400:
                result.error = f"redirect to {(location or '')[:200]!r} not followed: answer 2xx at the subscribed URL"
            elif not 200 <= status < 300:
                result.error = f"HTTP {status}"
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, str | None, str | None, bytes]:
        """POST and read the answer: status, Retry-After, Location and up to 4 KiB of body."""
        if self._session is None:
            raise RuntimeError("Sender.start() was not called")
        session = self._session
        deadline = time.monotonic() + self.timeout
        options: dict[str, Any] = {}  # the first time, the session's timeout: the whole request
        for resend in (False, True):
            egress.new_connection.set(False)
            try:
                async with session.post(url, data=body, headers=headers, allow_redirects=False, **options) as response:
                    kept = await read_capped(response, RESPONSE_BODY_CAP)
                    answer = response.headers
                    return response.status, answer.get("Retry-After"), answer.get("Location"), kept
            except aiohttp.ServerDisconnectedError:
                # A pooled keep-alive connection the server closed while it sat idle, noticed only
                # as the request went out: the request did not reach the application, so it is
                # sent once more on a new connection (RFC 9112 §9.3.1). Never twice, and within
                # the same deadline.
                left = deadline - time.monotonic()
                if resend or egress.new_connection.get() or left <= 0:
                    raise
                options = {"timeout": aiohttp.ClientTimeout(total=left)}
        raise AssertionError("unreachable")


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The first ``cap`` bytes of the answer's body. A longer body is not read on: its connection
    is closed instead of kept for reuse."""
    kept = bytearray()
    content = response.content
    while len(kept) < cap:
        chunk = await content.read(cap - len(kept))
        if not chunk:
            return bytes(kept)
        kept += chunk
    if not content.at_eof():
        response.close()
    return bytes(kept)


def describe(exc: BaseException, timeout: float) -> str:
    """What went wrong, for the attempt log (no stack trace, no secret)."""
    if isinstance(exc, Unresolvable):
        return str(exc)
    if isinstance(exc, EgressRefused):
        return f"refused by the egress guard: {exc}"
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and ConnectionTimeoutError too
        return f"timed out after {timeout:g} s"
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return f"the egress proxy refused the request: {exc.status} {exc.message}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"cannot connect to the egress proxy: {exc.os_error}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        reason = getattr(exc, "reason", None) or getattr(getattr(exc, "certificate_error", None), "reason", None)
        return f"TLS failed: {reason or exc}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host!r}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the connection closed before an answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"the answer was cut short: {_cause(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"not a valid HTTP answer: {exc.message}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a URL hookline can send to: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause) if cause is not None and str(cause) else str(exc)
