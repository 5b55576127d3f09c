"""Every ``/v1`` route declares the scope it needs, and enforces it: a table of (method, path) →
scope, checked against the routes the app really serves (a route missing from the table, or
serving without a declared scope, fails here), then every scope tried on every route against a
live server: allowed with the route's scope (or, for a ``:read``, its ``:write``) or ``admin``,
403 ``forbidden`` naming the scope with any other, 401 with none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hookline.api.auth import PUBLIC, SCOPES, declared_scope, public, scoped
from hookline.app import build_app
from hookline.runtime import Runtime
from tests.conftest import Hookline, make_config
from tests.support import run_server

# Add a route, add it here with its scope (and say so in SPEC.md's "API keys and scopes").
SCOPE_OF: dict[tuple[str, str], str] = {
    ("POST", "/v1/jobs"): "jobs:write",
    ("GET", "/v1/jobs"): "jobs:read",
    ("GET", "/v1/jobs/{job_id}"): "jobs:read",
    ("DELETE", "/v1/jobs"): "jobs:write",
    ("DELETE", "/v1/jobs/{job_id}"): "jobs:write",
    ("GET", "/v1/callbacks"): "jobs:read",
    ("POST", "/v1/blend"): "jobs:write",
    ("POST", "/v1/subscriptions"): "subscriptions:write",
    ("GET", "/v1/subscriptions"): "subscriptions:read",
    ("GET", "/v1/subscriptions/{sub_id}"): "subscriptions:read",
    ("PATCH", "/v1/subscriptions/{sub_id}"): "subscriptions:write",
    ("DELETE", "/v1/subscriptions/{sub_id}"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{sub_id}/rotate-secret"): "subscriptions:write",
    ("POST", "/v1/subscriptions/{sub_id}/replay"): "subscriptions:write",
    ("GET", "/v1/deliveries"): "deliveries:read",
    ("GET", "/v1/deliveries/{delivery_id}"): "deliveries:read",
    ("POST", "/v1/deliveries/{delivery_id}/retry"): "deliveries:write",
    ("POST", "/v1/deliveries/retry"): "deliveries:write",
    ("GET", "/v1/events"): "events:read",
    ("GET", "/v1/event-types"): "events:read",
    ("POST", "/v1/api-keys"): "admin",
    ("GET", "/v1/api-keys"): "admin",
    ("DELETE", "/v1/api-keys/{key_id}"): "admin",
    ("GET", "/v1/archive/{sha256}"): PUBLIC,  # subscribers fetch archived images by content hash
}
# Ids that exist nowhere: an allowed request reaches the handler and gets a 4xx about the input.
PATH_VALUES = {"job_id": "job_none", "sub_id": "sub_none", "delivery_id": "dlv_none", "key_id": "key_none"}


def served(routes: list[BaseRoute]) -> dict[tuple[str, str], str | None]:
    """Every (method, path) under /v1 the routes serve, with the scope each declared (None: none)."""
    return {
        (method, route.path): declared_scope(route.endpoint)
        for route in routes
        if isinstance(route, Route) and route.path.startswith("/v1/")
        for method in sorted((route.methods or set()) - {"HEAD"})
    }


def undeclared(routes: list[BaseRoute]) -> list[str]:
    return [f"{method} {path}" for (method, path), scope in served(routes).items() if scope is None]


def test_every_v1_route_declares_a_scope(tmp_path: Path) -> None:
    app = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path))
    assert undeclared(app.routes) == [], "wrap the handler in scoped(rt, SCOPE, ...) or public(...)"


def test_the_table_names_every_served_route_with_its_declared_scope(tmp_path: Path) -> None:
    app = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path))
    assert served(app.routes) == SCOPE_OF


def test_a_route_without_a_scope_is_caught(tmp_path: Path) -> None:
    """The walk itself: a handler served bare is reported; scoped and public ones are not."""

    async def bare(request: Request) -> Response:
        return Response()

    rt: Runtime = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)).state.runtime
    routes: list[BaseRoute] = [
        Route("/v1/forgotten", bare, methods=["DELETE"]),
        Route("/v1/guarded", scoped(rt, "jobs:read", bare), methods=["GET"]),
        Route("/v1/open", public(bare), methods=["GET"]),
    ]
    assert undeclared(routes) == ["DELETE /v1/forgotten"]


def test_an_unknown_scope_cannot_be_declared(tmp_path: Path) -> None:
    rt: Runtime = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)).state.runtime

    async def handler(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="unknown scope 'jobs:delete'"):
        scoped(rt, "jobs:delete", handler)


async def _send(h: Hookline, method: str, path: str, token: str | None) -> httpx.Response:
    url = path.format(**PATH_VALUES)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PATCH") else None
    return await h.anon.request(method, url, headers=headers, json=body)


async def test_each_scope_on_each_route(hookline: Hookline) -> None:
    keys: dict[str, str] = {}
    for scope in SCOPES:
        made = await hookline.admin.post("/v1/api-keys", json={"name": f"only {scope}", "scopes": [scope]})
        assert made.status_code == 201, made.text
        keys[scope] = made.json()["key"]
    wrong: list[str] = []
    for (method, path), needed in SCOPE_OF.items():
        if needed == PUBLIC:
            continue
        anonymous = await _send(hookline, method, path, None)
        if anonymous.status_code != 401:
            wrong.append(f"{method} {path} without a credential: {anonymous.status_code}")
        answers = {"admin token": await _send(hookline, method, path, hookline.config.admin_token)}
        for scope, key in keys.items():
            answers[scope] = await _send(hookline, method, path, key)
        for who, response in answers.items():
            allowed = who in ("admin token", "admin", needed, needed.replace(":read", ":write"))
            code = response.status_code
            if allowed and code in (401, 403):
                wrong.append(f"{method} {path} refused {who}: {code} {response.text}")
            if not allowed:
                error = response.json().get("error", {}) if code == 403 else {}
                if code != 403 or error.get("code") != "forbidden" or repr(needed) not in error.get("message", ""):
                    wrong.append(f"{method} {path} with {who}: {code} {response.text}")
    assert wrong == []


async def test_a_public_route_needs_no_credential(hookline: Hookline) -> None:
    response = await hookline.anon.get("/v1/archive/" + "0" * 64)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_the_handler_knows_the_credential(tmp_path: Path) -> None:
    """``request.state.credential``: "admin" for the admin token, the key's id for a key (what
    idempotency records are keyed by)."""
    app = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path), access_log=False)
    rt: Runtime = app.state.runtime

    async def who(request: Request) -> Response:
        return JSONResponse({"credential": request.state.credential})

    app.router.routes.append(Route("/v1/whoami", scoped(rt, "events:read", who), methods=["GET"]))
    async with run_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        admin = {"Authorization": f"Bearer {rt.admin_token}"}
        body = {"name": "feed", "scopes": ["events:read"]}
        made = (await client.post("/v1/api-keys", json=body, headers=admin)).json()
        assert (await client.get("/v1/whoami", headers=admin)).json() == {"credential": "admin"}
        by_key = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {made['key']}"})
        assert by_key.json() == {"credential": made["id"]}


async def test_the_openapi_document_names_each_operations_scope(hookline: Hookline) -> None:
    """A client reads which key to make from /openapi.json, before any 403."""
    doc = (await hookline.anon.get("/openapi.json")).json()
    named = {
        (method.upper(), path): op["security"][0]["adminToken"][0]
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if path.startswith("/v1/") and op.get("security")
    }
    assert named == {route: scope for route, scope in SCOPE_OF.items() if scope != PUBLIC}
    replay = doc["paths"]["/v1/subscriptions/{sub_id}/replay"]["post"]["description"]
    assert "Needs the scope `subscriptions:write` or `admin`." in replay
    listing = doc["paths"]["/v1/jobs"]["get"]["description"]
    assert "`jobs:read`, its `jobs:write` or `admin`" in listing
    assert doc["paths"]["/v1/archive/{sha256}"]["get"]["security"] == []
