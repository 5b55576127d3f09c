"""``/v1/events`` (the event feed) and ``/v1/event-types`` (the catalogue).

The feed is for a consumer without a public URL: it lists every event, oldest first, each the
body every subscriber got plus its ``id`` (the ``webhook-id`` header). Passing ``after=<next_cursor>``
returns only later events, so polling with the last ``next_cursor`` follows the stream without
missing or repeating an event (``Store.list_events`` says how each backend keeps that promise).
"""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.auth import scoped
from hookline.api.http import query_choice, query_limit, query_text
from hookline.catalogue import catalogue
from hookline.errors import InputError
from hookline.models import EVENT_TYPES, Event
from hookline.queries import EventQuery
from hookline.runtime import Runtime

# ``<position>_<event id>`` (see hookline.queries.feed_cursor). At most 18 digits: positions
# stay far below 2**63 on both backends, and a larger number would overflow the drivers (a 500).
CURSOR_PATTERN = r"^(0|[1-9][0-9]{0,17})_[A-Za-z0-9_]{1,64}$"
_CURSOR = re.compile(CURSOR_PATTERN)


def query_after(request: Request) -> str | None:
    """The ``after`` cursor, or a 400 that says where a cursor comes from."""
    raw = request.query_params.get("after")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not _CURSOR.fullmatch(raw):
        raise InputError(
            "after must be the next_cursor of a previous GET /v1/events answer (leave it out to start "
            "at the oldest event)",
            code="invalid_query",
        )
    return raw


def feed_item(event: Event) -> bytes:
    """``{"id": <event id>, ...the event body as delivered...}``, spliced without re-encoding the
    body (so ``data.upstream`` stays byte for byte what the subscribers got)."""
    return b'{"id":' + orjson.dumps(event.id) + b"," + event.payload.lstrip()[1:]


def routes(rt: Runtime) -> list[Route]:
    store = rt.store
    types_body = orjson.dumps({"items": catalogue()})

    async def list_events(request: Request) -> Response:
        query = EventQuery(
            type=query_choice(request, "type", EVENT_TYPES),
            job_id=query_text(request, "job_id", 64),
            limit=query_limit(request),
            after=query_after(request),
        )
        page = await store.list_events(query)
        body = b"".join(
            (
                b'{"items":[',
                b",".join(feed_item(e) for e in page.items),
                b'],"next_cursor":',
                orjson.dumps(page.next_cursor),
                b"}",
            )
        )
        return Response(body, media_type="application/json")

    async def event_types(request: Request) -> Response:
        return Response(types_body, media_type="application/json")

    return [
        Route("/v1/events", scoped(rt, "events:read", list_events), methods=["GET"]),
        Route("/v1/event-types", scoped(rt, "events:read", event_types), methods=["GET"]),
    ]
