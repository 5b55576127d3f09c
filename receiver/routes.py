"""``POST /callbacks/{provider}/{token}``: the callback target for the upstream APIs.

The answer (200 with the outcome) is sent only after the callback, its job change and its events
are committed. A wrong token is 401 and stores nothing. A body that is not JSON, or has no task
id, is 400 — and is still kept in the callback log as ``rejected``. A body over
``HOOKLINE_MAX_BODY_BYTES`` is 413. ``/callbacks/{provider}/{token}/`` (a trailing slash, as people
paste it) is served the same, directly: never with a redirect, which Java senders (midjourney-proxy's
RestTemplate) do not follow for a POST and count as delivered.

This is the hot path, so it is served by :class:`CallbackFastPath`, a plain ASGI middleware that
answers ``POST /callbacks/...`` itself instead of going through Starlette's routing, exception
middleware and Request/Response objects (measured: that stack cost more than the JSON parse).
The Starlette route stays registered for the other methods (405) and for documentation; both
entries share :meth:`CallbackReceiver.handle`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hookline.api.http import is_number, read_body
from hookline.errors import InputError
from hookline.runtime import Runtime
from hookline.tokens import MIN_TOKEN_LENGTH
from receiver import ingest
from receiver.adapters import ADAPTERS

# Headers worth keeping with a callback: they help tell senders apart when something goes wrong.
KEPT_HEADERS = frozenset(
    {"content-type", "user-agent", "content-length", "x-forwarded-for", "x-request-id", "x-real-ip"}
)
_KEPT_RAW = frozenset(h.encode() for h in KEPT_HEADERS)


def _error(code: str, message: str, **extra: object) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}, **extra})


class CallbackReceiver:
    """Turns one callback request into a committed callback and an answer."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt  # the callback token is read per request: it is resolved at start-up

    async def handle(
        self, provider: str, token: str, headers: dict[str, str], body: bytes, started: float
    ) -> tuple[int, bytes]:
        """(status, JSON body) for a callback whose body has been read (within the size limit)."""
        rt = self.rt
        if provider not in ADAPTERS:
            # Not echoed when it could be a token (/callbacks/<token>/<token>).
            shown = provider if len(provider) < MIN_TOKEN_LENGTH and rt.callback_token not in provider else "***"
            return 404, _error("unknown_provider", f"unknown provider {shown!r}; use one of: {', '.join(ADAPTERS)}")
        if not hmac.compare_digest(token.encode(), rt.callback_token.encode()):
            return 401, _error("unauthorized", "wrong callback token: use the URL 'hookline info' prints")
        inbound = ingest.heard(
            provider, "callback", body, rt.clock.now(), callback_token=rt.callback_token, headers=headers
        )
        result = await ingest.record(rt, inbound, started=started)
        if inbound.reject_reason is not None:
            return 400, _error(
                "invalid_callback", inbound.reject_reason, callback_id=result.callback_id, outcome="rejected"
            )
        return 200, orjson.dumps(
            {"callback_id": result.callback_id, "job_id": result.job_id, "outcome": result.outcome}
        )


class CallbackFastPath:
    """Answers ``POST /callbacks/{provider}/{token}`` directly; passes everything else on."""

    def __init__(self, app: ASGIApp, *, rt: Runtime) -> None:
        self.app = app
        self.receiver = CallbackReceiver(rt)
        self.max_body = rt.config.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/callbacks/"):
            parts = scope["path"].split("/")
            if len(parts) == 5 and parts[4] == "":
                parts.pop()  # a trailing slash
            if len(parts) == 4 and parts[2] and parts[3]:
                await self._serve(scope, receive, send, parts[2], parts[3])
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, provider: str, token: str) -> None:
        started = time.perf_counter()
        headers = _kept_headers(scope["headers"])
        declared = headers.get("content-length")
        if declared is not None and is_number(declared) and int(declared) > self.max_body:
            await _answer(send, 413, _too_large(self.max_body))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender gave up before sending the whole body: nothing to store
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _answer(send, 413, _too_large(self.max_body))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        status, body = await self.receiver.handle(provider, token, headers, b"".join(chunks), started)
        await _answer(send, status, body)


def _kept_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode(): value.decode("latin-1") for name, value in raw if name in _KEPT_RAW}


def _too_large(max_body: int) -> bytes:
    return _error("body_too_large", f"the body is larger than {max_body} bytes (HOOKLINE_MAX_BODY_BYTES)")


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def routes(rt: Runtime) -> list[Route]:
    """The Starlette route: serves what the fast path does not (and documents the route)."""
    receiver = CallbackReceiver(rt)

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await read_body(request, rt.config.max_body_bytes)
        except InputError as exc:
            return Response(_error(exc.code, exc.message), status_code=exc.status, media_type="application/json")
        headers = {name: value for name, value in request.headers.items() if name in KEPT_HEADERS}
        status, payload = await receiver.handle(
            request.path_params["provider"], request.path_params["token"], headers, body, started
        )
        return Response(payload, status_code=status, media_type="application/json")

    return [Route("/callbacks/{provider}/{token}", receive, methods=["POST"], name="callbacks")]
