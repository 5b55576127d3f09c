"""``POST /callbacks/{provider}/{token}``: the callback target for the upstream APIs.

The answer (200 with the outcome) is sent only after the callback, its job change and its events
are committed. A wrong token is 401 and stores nothing. A body that is not JSON, or has no task
id, is 400 — and is still kept in the callback log as ``rejected``. A body over
``HOOKLINE_MAX_BODY_BYTES`` is 413.
"""

from __future__ import annotations

import hmac
import time

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.http import JSONResponse, error_response, read_body
from hookline.models import Inbound
from hookline.runtime import Runtime
from hookline.tokens import redact
from receiver.adapters import ADAPTERS, AdapterError

# Headers worth keeping with a callback: they help tell senders apart when something goes wrong.
KEPT_HEADERS = ("content-type", "user-agent", "content-length", "x-forwarded-for", "x-request-id", "x-real-ip")


def routes(rt: Runtime) -> list[Route]:
    config = rt.config
    store = rt.store
    metrics = rt.metrics

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        provider = request.path_params["provider"]
        adapter = ADAPTERS.get(provider)
        if adapter is None:
            return error_response(
                404, "unknown_provider", f"unknown provider {provider!r}; use one of: {', '.join(ADAPTERS)}"
            )
        token = request.path_params["token"]
        if not hmac.compare_digest(token.encode(), rt.callback_token.encode()):
            return error_response(401, "unauthorized", "wrong callback token: use the URL 'hookline info' prints")
        body = await read_body(request, config.max_body_bytes)
        headers = {name: value for name in KEPT_HEADERS if (value := request.headers.get(name)) is not None}
        inbound = Inbound(provider=provider, body=body, headers=headers, received_at=rt.clock.now())
        try:
            document = orjson.loads(body)
            inbound.snapshot = adapter(document)
            inbound.snapshot.raw = redact(inbound.snapshot.raw, rt.callback_token)
        except orjson.JSONDecodeError as exc:
            inbound.reject_reason = f"the body is not valid JSON: {exc}"
        except AdapterError as exc:
            inbound.reject_reason = exc.message
        result = await store.record_callback(inbound)
        metrics.callbacks.labels(provider, result.outcome).inc()
        if inbound.reject_reason is not None:
            return JSONResponse(
                {
                    "error": {"code": "invalid_callback", "message": inbound.reject_reason},
                    "callback_id": result.callback_id,
                    "outcome": "rejected",
                },
                status_code=400,
            )
        metrics.ingest_seconds.labels(provider).observe(time.perf_counter() - started)
        return JSONResponse({"callback_id": result.callback_id, "job_id": result.job_id, "outcome": result.outcome})

    return [Route("/callbacks/{provider}/{token}", receive, methods=["POST"], name="callbacks")]
