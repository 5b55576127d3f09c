"""Request ids and the access log (pure ASGI, so it costs little on the callback path)."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.logs import request_id
from hookline.runtime import Runtime
from hookline.tokens import redact_path

log = logging.getLogger("hookline.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_QUIET = ("/healthz", "/readyz", "/metrics")
# Request ids: a per-process random prefix and a counter — unique enough to find a request's log
# lines, and cheap (this runs on every callback).
_PREFIX = os.urandom(3).hex()
_counter = itertools.count(1)


class RequestLog:
    """Give every request an id (``x-request-id`` in and out) and log one line when it ends."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True, rt: Runtime | None = None) -> None:
        self.app = app
        self.access_log = access_log
        self.rt = rt  # its tokens are masked in logged paths (they are resolved at start-up)

    def redact(self, path: str) -> str:
        """The path with the tokens masked: never log them."""
        hidden = (self.rt.callback_token, self.rt.admin_token) if self.rt is not None else ()
        return redact_path(path, hidden)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = given if given and _SAFE_ID.match(given) else f"{_PREFIX}{next(_counter):x}"
        token = request_id.set(rid)
        status = 500
        status_sent = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status = message["status"]
                status_sent = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], self.redact(scope["path"]))
            if status_sent:
                raise
            await _internal_error(send_with_id, rid)
        finally:
            path = scope["path"]
            if self.access_log and path not in _QUIET:
                log.info(
                    "%s %s %d",
                    scope["method"],
                    self.redact(path),
                    status,
                    extra={"status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
                )
            request_id.reset(token)


async def _internal_error(send: Send, rid: str) -> None:
    """A 500 that tells the caller where to look, and nothing else (no trace, no detail)."""
    body = orjson.dumps(
        {"error": {"code": "internal", "message": f"internal error; the server log has the details (request id {rid})"}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
