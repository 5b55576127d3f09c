"""The simulator's ASGI app: both upstream APIs, the CDN serving result images, and sample inputs.

``GET /attachments/{channel}/{message}/{file}?ex=&is=&hm=`` serves a result image the way Discord's
CDN does: a link with a wrong ``hm`` or past its ``ex`` is a 404 "This content is no longer
available.". ``GET /samples/{name}.png`` serves a small PNG to blend (for the demo and tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulator import mjproxy, png, useapi
from simulator.engine import Simulator

GONE = "This content is no longer available."
SAMPLE_SIZE = 48


def build_app(sim: Simulator) -> Starlette:
    async def attachment(request: Request) -> Response:
        await sim.record(request)
        if sim.knobs.cdn_failures > 0:
            sim.knobs.cdn_failures -= 1
            return PlainTextResponse("upstream connect error", status_code=503)
        body = sim.image(request.url.path, dict(request.query_params))
        if body is None:
            return PlainTextResponse(GONE, status_code=404)
        return Response(body, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    async def sample(request: Request) -> Response:
        await sim.record(request)
        name = request.path_params["name"]
        if not name.isalnum() or len(name) > 32:
            return PlainTextResponse("no such sample", status_code=404)
        return Response(png.render(SAMPLE_SIZE, SAMPLE_SIZE, f"sample:{name}"), media_type="image/png")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    return Starlette(
        routes=[
            *mjproxy.routes(sim),
            *useapi.routes(sim),
            Route("/attachments/{channel}/{message}/{filename}", attachment, methods=["GET"]),
            Route("/samples/{name}.png", sample, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
