"""``GET /v1/callbacks``: the callback log, rejected callbacks included (they belong to no job)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.auth import scoped
from hookline.api.http import JSONResponse, page_body, query_choice, query_cursor, query_limit
from hookline.models import OUTCOMES, PROVIDERS
from hookline.queries import CallbackQuery
from hookline.runtime import Runtime


def routes(rt: Runtime) -> list[Route]:
    async def list_all(request: Request) -> Response:
        page = await rt.store.list_callbacks(
            CallbackQuery(
                outcome=query_choice(request, "outcome", OUTCOMES),
                provider=query_choice(request, "provider", PROVIDERS),
                limit=query_limit(request),
                cursor=query_cursor(request, "cb"),
            )
        )
        return JSONResponse(page_body([c.to_api() for c in page.items], page.next_cursor))

    return [Route("/v1/callbacks", scoped(rt, "jobs:read", list_all), methods=["GET"])]
