"""``/v1/deliveries``: every (event, subscription) pair with its attempts, and manual retry (one
delivery, or every one a filter matches)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api import fields
from hookline.api.auth import scoped
from hookline.api.http import (
    JSONResponse,
    page_body,
    parse_time,
    path_id,
    query_choice,
    query_cursor,
    query_limit,
    query_text,
    read_json_object,
)
from hookline.errors import InputError, NotFound
from hookline.models import DELIVERY_STATUSES, EVENT_TYPES
from hookline.queries import BulkRetry, DeliveryQuery
from hookline.runtime import Runtime

BULK_RETRY_FIELDS = ("status", "subscription_id", "event_type", "since", "until")


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

    async def retry_all(request: Request) -> Response:
        doc: dict[str, Any] = {}
        if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
            doc = await read_json_object(request, rt.config.max_body_bytes)
        queued = await store.retry_deliveries(bulk_retry(doc), rt.clock.now())
        return JSONResponse({"queued": queued}, status_code=202)

    return [
        Route("/v1/deliveries/retry", scoped(rt, "deliveries:write", retry_all), methods=["POST"]),
        Route("/v1/deliveries", scoped(rt, "deliveries:read", list_all), methods=["GET"]),
        Route("/v1/deliveries/{delivery_id}", scoped(rt, "deliveries:read", show), methods=["GET"]),
        Route("/v1/deliveries/{delivery_id}/retry", scoped(rt, "deliveries:write", retry), methods=["POST"]),
    ]


def bulk_retry(doc: dict[str, Any]) -> BulkRetry:
    """The filter of ``POST /v1/deliveries/retry`` (an empty body: every dead delivery); 400 for a
    field that is unknown or wrong."""
    fields.only(doc, BULK_RETRY_FIELDS)
    status = fields.choice(doc, "status", ("dead", "pending")) or "dead"
    sub_id = fields.text(doc, "subscription_id", max_length=64)
    event_type = fields.choice(doc, "event_type", EVENT_TYPES)
    since = parse_time(doc["since"], "since") if doc.get("since") is not None else None
    until = parse_time(doc["until"], "until") if doc.get("until") is not None else None
    if since is not None and until is not None and until <= since:
        raise InputError("until must be later than since", code="invalid_field")
    return BulkRetry(status, sub_id, event_type, since, until)
