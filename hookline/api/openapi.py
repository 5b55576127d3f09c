"""``GET /openapi.json``: the management API, described by hand (OpenAPI 3.1).

Hand-written rather than generated, so the document says what the handlers really do: which
fields are refused, which may be null, which status codes each route answers. Add a route to the
API, add its operation here: ``tests/hookline/test_openapi.py`` fails for a served ``/v1`` route
that is missing, and runs schemathesis against a live server to check the rest.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hookline import __version__
from hookline.api import idempotency
from hookline.api.auth import ADMIN, PUBLIC, declared_scope
from hookline.api.http import JSONResponse
from hookline.api.paths import PATHS
from hookline.api.schemas import COMPONENTS
from hookline.api.webhooks import EVENT_COMPONENTS, WEBHOOKS
from hookline.runtime import Runtime

for _path, _item in PATHS.items():
    if _path.startswith("/v1/") and "post" in _item:
        _item["post"] = idempotency.described(_item["post"])


def document(public_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "hookline management API",
            "version": __version__,
            "description": "Jobs, their callbacks and events, subscriptions and deliveries. Every /v1 route needs "
            "`Authorization: Bearer <token>`: the admin token, or an API key (`hlk_...`, `POST /v1/api-keys`) "
            "with the operation's scope (a 403 names a missing one). Lists are newest first: follow `next_cursor` "
            "(the event feed, `/v1/events`, is oldest first: follow it with `?after=`). Errors are "
            '`{"error": {"code", "message"}}`.',
        },
        "security": [{"adminToken": []}],
        "paths": PATHS,
        "webhooks": WEBHOOKS,
        "components": {
            "schemas": {**COMPONENTS, **EVENT_COMPONENTS},
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the admin token (an admin credential), or an API key with the needed scope",
                }
            },
        },
    }
    if public_url:
        doc["servers"] = [{"url": public_url}]
    return doc


def with_scopes(doc: dict[str, Any], served: list[BaseRoute]) -> dict[str, Any]:
    """``doc`` with each operation naming the scope its route declared (``hookline.api.auth``): in
    its security requirement (OpenAPI 3.1 lets a bearer requirement list the roles it needs) and in
    its description, so a client knows which key to make before it gets a 403."""
    declared = {
        (method.lower(), route.path): scope
        for route in served
        if isinstance(route, Route) and (scope := declared_scope(route.endpoint)) not in (None, PUBLIC)
        for method in route.methods or ()
    }
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        paths[path] = dict(item)
        for method, op in item.items():
            scope = declared.get((method, path))
            if scope is None or not isinstance(op, dict):
                continue
            also = f", its `{scope[:-5]}:write`" if scope.endswith(":read") else ""
            needs = f"Needs the scope `{scope}`{also} or `{ADMIN}`." if scope != ADMIN else "Needs `admin`."
            described = f"{op['description']}\n\n{needs}" if op.get("description") else needs
            paths[path][method] = {**op, "security": [{"adminToken": [scope]}], "description": described}
    return {**doc, "paths": paths}


def routes(rt: Runtime) -> list[Route]:
    body: bytes | None = None

    async def openapi(request: Request) -> Response:
        nonlocal body
        if body is None:  # the first request: the app's routes are all known by now
            body = bytes(JSONResponse(with_scopes(document(rt.config.public_url), request.app.routes)).body)
        return Response(body, media_type="application/json")

    return [Route("/openapi.json", openapi, methods=["GET"])]
