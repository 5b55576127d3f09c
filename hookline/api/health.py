"""``/healthz`` (the process is up), ``/readyz`` (the store answers), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.http import JSONResponse, error_response
from hookline.errors import StoreError
from hookline.runtime import Runtime

log = logging.getLogger(__name__)


def routes(rt: Runtime) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await rt.store.ping()
        except StoreError as exc:
            log.warning("readiness check failed: %s", exc)
            return error_response(503, "store_unavailable", "the database does not answer")
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        now = rt.clock.now()
        try:
            backlog = await rt.store.backlog(now)
        except StoreError as exc:
            log.warning("cannot read the backlog for /metrics: %s", exc)
        else:
            rt.metrics.backlog.set(backlog.pending)
            rt.metrics.dead.set(backlog.dead)
            oldest = backlog.oldest_pending_at
            rt.metrics.backlog_age.set(max(0.0, now - oldest) if oldest is not None else 0.0)
        return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
