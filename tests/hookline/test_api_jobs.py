"""``/v1/jobs`` and the management API's conventions (auth, error shape, pagination)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Hookline
from tests.support import fixture_bytes


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/job_x", "/v1/subscriptions", "/v1/deliveries", "/v1/callbacks"])
async def test_management_api_needs_the_admin_token(hookline: Hookline, path: str) -> None:
    missing = await hookline.anon.get(path)
    wrong = await hookline.anon.get(path, headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"code", "message"}
        assert response.headers["www-authenticate"] == "Bearer"


async def test_register_then_callback_binds_and_shows_the_timeline(hookline: Hookline) -> None:
    created = await hookline.admin.post(
        "/v1/jobs", json={"provider": "mjproxy", "correlation_key": "order-7f3a9c", "metadata": {"customer": "c-1"}}
    )
    assert created.status_code == 201
    job = created.json()
    assert job["status"] == "queued" and job["upstream_id"] is None and job["origin"] == "registered"
    answer = (await hookline.post_callback("mjproxy", fixture_bytes("mjproxy-blend-01-submitted.json"))).json()
    assert answer["job_id"] == job["id"]
    detail = (await hookline.admin.get(f"/v1/jobs/{job['id']}")).json()
    assert detail["upstream_id"] == "1722931207538412" and detail["status"] == "submitted"
    assert [e["type"] for e in detail["events"]] == ["job.submitted"]
    assert detail["events"][0]["payload"]["data"]["metadata"] == {"customer": "c-1"}
    assert detail["callbacks"][0]["outcome"] == "applied"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "provider is required"),
        ({"provider": "midjourney", "correlation_key": "k"}, "provider must be one of"),
        ({"provider": "mjproxy"}, "correlation_key is required"),
        ({"provider": "mjproxy", "correlation_key": ""}, "correlation_key must not be empty"),
        ({"provider": "mjproxy", "correlation_key": "k" * 1025}, "at most 1024"),
        ({"provider": "mjproxy", "correlation_key": 5}, "correlation_key must be a string"),
        ({"provider": "mjproxy", "correlation_key": "k", "metadata": [1]}, "metadata must be a JSON object"),
        ({"provider": "mjproxy", "correlation_key": "k", "colour": "red"}, "unknown field 'colour'"),
        ({"provider": "mjproxy", "correlation_key": "k", "callback_url": "ftp://x"}, "callback_url must be an http"),
    ],
)
async def test_register_validation_names_the_field(hookline: Hookline, body: dict[str, Any], fragment: str) -> None:
    response = await hookline.admin.post("/v1/jobs", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b"null", b"\xff\xfe"])
async def test_register_refuses_bodies_that_are_not_objects(hookline: Hookline, raw: bytes) -> None:
    response = await hookline.admin.post("/v1/jobs", content=raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


async def test_registering_a_known_upstream_id_is_a_conflict(hookline: Hookline) -> None:
    body = {"provider": "useapi", "correlation_key": "k", "upstream_id": "J1"}
    assert (await hookline.admin.post("/v1/jobs", json=body)).status_code == 201
    again = await hookline.admin.post("/v1/jobs", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_exists"


async def test_list_filters_and_cursor(hookline: Hookline) -> None:
    # Bound (upstream_id given): a key that an unbound job has already cannot be registered again.
    for i in range(5):
        body = {"provider": "mjproxy", "correlation_key": f"k{i % 2}", "upstream_id": f"T{i}"}
        assert (await hookline.admin.post("/v1/jobs", json=body)).status_code == 201
    await hookline.admin.post("/v1/jobs", json={"provider": "useapi", "correlation_key": "k0"})
    first = (await hookline.admin.get("/v1/jobs", params={"provider": "mjproxy", "limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    keys = [j["correlation_key"] for j in first["items"]]
    rest = (
        await hookline.admin.get(
            "/v1/jobs", params={"provider": "mjproxy", "limit": 10, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    assert keys + [j["correlation_key"] for j in rest["items"]] == ["k0", "k1", "k0", "k1", "k0"]
    k0 = (await hookline.admin.get("/v1/jobs", params={"correlation_key": "k0"})).json()["items"]
    assert len(k0) == 4
    queued = (await hookline.admin.get("/v1/jobs", params={"status": "queued"})).json()["items"]
    assert len(queued) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "x"},
        {"limit": "100000"},
        {"status": "done"},
        {"provider": "x"},
        {"cursor": "'; drop table jobs"},
    ],
)
async def test_bad_query_parameters_are_400(hookline: Hookline, params: dict[str, str]) -> None:
    response = await hookline.admin.get("/v1/jobs", params=params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"


async def test_unknown_job_is_404(hookline: Hookline) -> None:
    response = await hookline.admin.get("/v1/jobs/job_doesnotexist")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_health_and_readiness(hookline: Hookline) -> None:
    assert (await hookline.anon.get("/healthz")).json() == {"status": "ok"}
    assert (await hookline.anon.get("/readyz")).json() == {"status": "ready"}
