"""``/v1/deliveries``: every (event, subscription) pair with its attempts, and manual retry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.auth import scoped
from hookline.api.http import (
    JSONResponse,
    page_body,
    path_id,
    query_choice,
    query_cursor,
    query_limit,
    query_text,
)
from hookline.errors import NotFound
from hookline.models import DELIVERY_STATUSES
from hookline.runtime import Runtime
from hookline.store.base import DeliveryQuery


def routes(rt: Runtime) -> list[Route]:
    store = rt.store

    async def list_all(request: Request) -> Response:
        page = await store.list_deliveries(
            DeliveryQuery(
                status=query_choice(request, "status", DELIVERY_STATUSES),
                subscription_id=query_text(request, "subscription_id", 64),
                job_id=query_text(request, "job_id", 64),
                limit=query_limit(request),
                cursor=query_cursor(request, "dlv"),
            )
        )
        return JSONResponse(page_body([d.to_api() for d in page.items], page.next_cursor))

    async def show(request: Request) -> Response:
        delivery_id = path_id(request, "delivery_id", "delivery")
        delivery = await store.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        body = delivery.to_api()
        body["attempt_log"] = [a.to_api() for a in await store.delivery_attempts(delivery_id)]
        return JSONResponse(body)

    async def retry(request: Request) -> Response:
        delivery = await store.retry_delivery(path_id(request, "delivery_id", "delivery"), rt.clock.now())
        return JSONResponse(delivery.to_api(), status_code=202)

    return [
        Route("/v1/deliveries", scoped(rt, "deliveries:read", list_all), methods=["GET"]),
        Route("/v1/deliveries/{delivery_id}", scoped(rt, "deliveries:read", show), methods=["GET"]),
        Route("/v1/deliveries/{delivery_id}/retry", scoped(rt, "deliveries:write", retry), methods=["POST"]),
    ]
