"""App assembly: routes for the configured role, the background services, and their lifecycle.

Start-up order: open the store (migrating it), resolve the tokens, start the services. Shutdown
runs in reverse: uvicorn stops accepting and finishes in-flight requests, then the services stop
(the dispatcher finishes or releases its deliveries), then the store finishes queued writes and
closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from hookline import dashboard, tokens
from hookline.api import apikeys, callbacks, deliveries, events, health, jobs, openapi, subscriptions
from hookline.api.http import error_response, input_error_response
from hookline.api.idempotency import Idempotency
from hookline.api.middleware import RequestLog
from hookline.clock import Clock, SystemClock
from hookline.config import Config
from hookline.errors import InputError
from hookline.runtime import Runtime
from hookline.store import Store, open_store
from receiver import routes as receiver_routes
from upstream import archive_route, blend_route

log = logging.getLogger(__name__)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self, grace: float = 10.0) -> None: ...


def build_app(
    config: Config,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    on_ready: Callable[[Runtime, tokens.Tokens], None] | None = None,
    store_is_open: bool = False,
    access_log: bool = True,
    shutdown_grace: float = 10.0,
) -> Starlette:
    """The ASGI app for ``config.role``: ``receiver`` serves callbacks, the management API and the
    dashboard; ``dispatcher`` runs delivery (and serves only health and metrics); ``all`` does both."""
    clock = clock or SystemClock()
    rt = Runtime(config=config, store=store or open_store(config, clock=clock), clock=clock)
    routes: list[BaseRoute] = [*health.routes(rt)]
    middleware = [Middleware(RequestLog, access_log=access_log, rt=rt)]
    if config.role in ("all", "receiver"):
        middleware.append(Middleware(receiver_routes.CallbackFastPath, rt=rt))
        middleware.append(Middleware(Idempotency, rt=rt))  # Idempotency-Key on every POST under /v1
        # Each module contributes its routes; add a module here to serve more.
        modules = (receiver_routes, jobs, callbacks, subscriptions, deliveries, blend_route, archive_route, openapi)
        for module in (*modules, events, apikeys, dashboard):
            routes += module.routes(rt)

    services: list[Service] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not store_is_open:
            await rt.store.open(migrate=True)
        resolved = await tokens.resolve(config, rt.store)
        rt.admin_token, rt.callback_token = resolved.admin, resolved.callback
        services.extend(background_services(rt))
        started: list[Service] = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            if on_ready is not None:
                on_ready(rt, resolved)
            yield
        finally:
            for service in reversed(started):
                try:
                    await service.stop(shutdown_grace)
                except Exception:
                    log.exception("stopping %s failed", type(service).__name__)
            await rt.store.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={
            InputError: _input_error,
            HTTPException: _http_error,
        },
    )
    app.state.runtime = rt
    return app


def background_services(rt: Runtime) -> list[Service]:
    """The workers this process runs for its role. Background work (delivery, and any other
    worker) belongs to the dispatcher role; ``all`` runs it too."""
    if rt.config.role not in ("all", "dispatcher"):
        return []
    from dispatcher.worker import Dispatcher
    from hookline.retention import Pruner
    from upstream.services import upstream_services

    return [Dispatcher(rt), *upstream_services(rt), Pruner(rt)]


async def _input_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputError)
    return input_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # The path is echoed, so a token in a mistyped callback URL must not be.
    rt: Runtime = request.app.state.runtime
    path = tokens.redact_path(request.url.path, (rt.callback_token, rt.admin_token))
    if exc.status_code == 404:
        return error_response(404, "not_found", f"no route for {request.method} {path}")
    if exc.status_code == 405:
        allow = {"Allow": _allowed_methods(request)}
        return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {path}", allow)
    return error_response(exc.status_code, "http_error", str(exc.detail))


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path: Starlette's own 405 names only the first
    route's (``GET /v1/jobs`` and ``POST /v1/jobs`` are two routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))
