"""``/openapi.json`` describes the management API exactly: schemathesis, run against a live
hookline holding real jobs, deliveries and subscriptions, finds no 5xx, no response that breaks
the schema, and no schema-violating request that is accepted."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.api.openapi import document
from hookline.app import build_app
from tests.conftest import Hookline, make_config
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, run_server, wait_for

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
NOT_API = ("/", "/openapi.json")  # the dashboard and the document itself


def test_every_served_api_route_is_described(tmp_path: Path) -> None:
    app = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path))
    spec = document()
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path not in NOT_API and not route.path.startswith("/dashboard")
        for method in (route.methods or ()) - {"HEAD"}
    }
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert served - described == set(), "served but not in /openapi.json"
    assert described - served == set(), "in /openapi.json but not served"


async def test_openapi_is_served_without_the_admin_token(hookline: Hookline) -> None:
    response = await hookline.anon.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1") and "/v1/subscriptions/{sub_id}/replay" in doc["paths"]


async def _seed(h: Hookline, sink_url: str) -> None:
    """Jobs with callbacks and events, a healthy and a dead subscription, delivered and dead
    deliveries: so the fuzzer's requests reach real rows, not only 404s."""
    for body in ({"url": f"{sink_url}/ok"}, {"url": f"{sink_url}/dead", "event_types": ["job.submitted"]}):
        assert (await h.admin.post("/v1/subscriptions", json=body)).status_code == 201
    for name in MJPROXY_LIFECYCLE[:3]:
        assert (await h.post_callback("mjproxy", fixture_bytes(name))).status_code == 200
    await h.post_callback("useapi", b"{not json")

    async def settled() -> bool:
        dead = (await h.admin.get("/v1/deliveries", params={"status": "dead"})).json()["items"]
        return len(dead) == 1

    await wait_for(settled, timeout=10, what="a dead delivery")


def _sink() -> Starlette:
    """Answers 200 on /ok and 503 on /dead, so the seeded deliveries end delivered and dead."""

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(b"", status_code=503 if request.url.path == "/dead" else 200)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


async def test_schemathesis_finds_no_server_errors_or_schema_violations(
    hookline_factory: Any, database_url: str, tmp_path: Path
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05,0.05", DELIVERY_TIMEOUT="1")
    async with run_server(_sink(), lifespan="off") as sink_url:
        await _seed(h, sink_url)
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{h.url}/openapi.json",
            "--url",
            h.url,
            "--header",
            f"Authorization: Bearer {h.config.admin_token}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "40",
            "--seed",
            "20261121",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--no-color",
            cwd=tmp_path,  # its example database and reports stay out of the worktree
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=150)
    report = out.decode(errors="replace")
    assert process.returncode == 0, report[-12000:]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"limit": "²"}),  # str.isdigit says yes, int() says no: was a 500
        ("/v1/jobs", {"cursor": "job_é"}),
        ("/v1/deliveries", {"limit": "\u0661\u0660"}),  # Arabic-Indic "10"
    ],
)
async def test_non_ascii_numbers_and_ids_are_refused(hookline: Hookline, path: str, params: dict[str, str]) -> None:
    response = await hookline.admin.get(path, params=params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"


@pytest.mark.parametrize("url", ["https://exämple.com/hook", "https://example.com/a b", "https://example.com/%zz"])
async def test_urls_that_are_not_uris_are_refused(hookline: Hookline, url: str) -> None:
    response = await hookline.admin.post("/v1/subscriptions", json={"url": url})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("url must be a URL of ASCII characters")


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "mjproxy", "correlation_key": "a\x00b"},
        {"provider": "mjproxy", "correlation_key": "k", "metadata": {"note": "a\x00b"}},
        {"provider": "mjproxy", "correlation_key": "k", "metadata": {"a\x00": 1}},
    ],
)
async def test_nul_characters_are_refused_on_every_backend(hookline: Hookline, body: dict[str, Any]) -> None:
    """PostgreSQL cannot store them; the answer must be a 400 naming the field, never a 500."""
    response = await hookline.admin.post("/v1/jobs", json=body)
    assert response.status_code == 400 and "NUL" in response.json()["error"]["message"]
    listed = await hookline.admin.get("/v1/jobs", params={"correlation_key": "a\x00b"})
    assert listed.status_code == 400


@pytest.mark.parametrize(
    "path", ["/v1/jobs/a%00b", "/v1/subscriptions/%C3%A9", "/v1/deliveries/x%0Ay", "/v1/jobs/" + "j" * 65]
)
async def test_ids_that_cannot_exist_are_404_without_asking_the_store(hookline: Hookline, path: str) -> None:
    response = await hookline.admin.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
