"""``Idempotency-Key`` on the management API's POSTs, against a running hookline on each backend."""

from __future__ import annotations

from typing import Any

import pytest

from hookline.clock import ManualClock
from tests.conftest import Hookline

JOB = {"provider": "mjproxy", "correlation_key": "order-1", "metadata": {"n": 1}}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def jobs(h: Hookline) -> list[Any]:
    items: list[Any] = (await h.admin.get("/v1/jobs")).json()["items"]
    return items


async def test_a_repeat_gets_the_first_answer_again_and_makes_no_second_job(hookline: Hookline) -> None:
    first = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("try-1"))
    again = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("try-1"))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert [j["id"] for j in await jobs(hookline)] == [first.json()["id"]]


async def test_a_repeat_of_a_registration_with_a_callback_url_gets_the_same_subscription(hookline: Hookline) -> None:
    body = {**JOB, "callback_url": "http://127.0.0.1:9/hook"}
    first = (await hookline.admin.post("/v1/jobs", json=body, headers=key("with-url"))).json()
    again = (await hookline.admin.post("/v1/jobs", json=body, headers=key("with-url"))).json()
    assert again["subscription"] == first["subscription"]
    assert len((await hookline.admin.get("/v1/subscriptions")).json()["items"]) == 1


async def test_the_same_key_with_another_body_is_refused(hookline: Hookline) -> None:
    await hookline.admin.post("/v1/jobs", json=JOB, headers=key("k1"))
    other = await hookline.admin.post("/v1/jobs", json={**JOB, "correlation_key": "order-2"}, headers=key("k1"))
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await jobs(hookline)) == 1


async def test_the_same_key_on_another_route_is_refused(hookline: Hookline) -> None:
    await hookline.admin.post("/v1/jobs", json=JOB, headers=key("k1"))
    other = await hookline.admin.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/h"}, headers=key("k1"))
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert (await hookline.admin.get("/v1/subscriptions")).json()["items"] == []


async def test_requests_without_a_key_are_not_deduplicated(hookline: Hookline) -> None:
    for _ in range(2):
        body = {"url": "http://127.0.0.1:9/h"}
        assert (await hookline.admin.post("/v1/subscriptions", json=body)).status_code == 201
    assert len((await hookline.admin.get("/v1/subscriptions")).json()["items"]) == 2


@pytest.mark.parametrize("value", ["", "k" * 256, "tab\there", "caf\xe9"])
async def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_refused(hookline: Hookline, value: str) -> None:
    response = await hookline.admin.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": value.encode("latin-1")})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await jobs(hookline) == []


async def test_a_key_of_255_characters_is_taken(hookline: Hookline) -> None:
    for _ in range(2):
        response = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("~" * 255))
        assert response.status_code == 201
    assert len(await jobs(hookline)) == 1


async def test_without_the_admin_token_the_key_changes_nothing(hookline: Hookline) -> None:
    response = await hookline.anon.post("/v1/jobs", json=JOB, headers=key("k1"))
    assert response.status_code == 401
    assert (await hookline.admin.post("/v1/jobs", json=JOB, headers=key("k1"))).status_code == 201


async def test_a_registration_refused_for_its_correlation_key_is_replayed_to_its_own_key(hookline: Hookline) -> None:
    first = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("first"))
    again = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("first"))
    other = await hookline.admin.post("/v1/jobs", json=JOB, headers=key("second"))
    assert (first.status_code, again.status_code, again.json()["id"]) == (201, 201, first.json()["id"])
    assert other.status_code == 409 and other.json()["error"]["code"] == "correlation_key_taken"
    assert first.json()["id"] in other.json()["error"]["message"]


async def test_registering_a_correlation_key_an_unbound_job_has_is_a_conflict(hookline: Hookline) -> None:
    assert (await hookline.admin.post("/v1/jobs", json=JOB)).status_code == 201
    again = await hookline.admin.post("/v1/jobs", json=JOB)
    assert again.status_code == 409 and again.json()["error"]["code"] == "correlation_key_taken"
    assert len(await jobs(hookline)) == 1


async def test_an_answer_that_says_try_again_is_not_kept(hookline: Hookline) -> None:
    """409 "enable it first": once enabled, the same request with the same key runs."""
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/h"})).json()
    await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": False})
    path, body = f"/v1/subscriptions/{sub['id']}/replay", {"since": "2026-01-01T00:00:00Z"}
    refused = await hookline.admin.post(path, json=body, headers=key("replay-1"))
    assert refused.status_code == 409
    await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": True})
    ran = await hookline.admin.post(path, json=body, headers=key("replay-1"))
    assert ran.status_code == 202 and "idempotent-replayed" not in ran.headers


async def test_a_kept_answer_expires_after_24_hours(hookline_factory: Any, database_url: str) -> None:
    clock = ManualClock()
    h: Hookline = await hookline_factory(database_url, clock=clock)
    body = {"url": "http://127.0.0.1:9/h"}
    first = await h.admin.post("/v1/subscriptions", json=body, headers=key("daily"))
    clock.advance(24 * 3600 - 1)
    assert (await h.admin.post("/v1/subscriptions", json=body, headers=key("daily"))).json()["id"] == first.json()["id"]
    clock.advance(1)
    later = await h.admin.post("/v1/subscriptions", json=body, headers=key("daily"))
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in later.headers


async def test_a_repeated_secret_rotation_rotates_once(hookline: Hookline) -> None:
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/h"})).json()
    path = f"/v1/subscriptions/{sub['id']}/rotate-secret"
    first = await hookline.admin.post(path, headers=key("rotate-1"))
    again = await hookline.admin.post(path, headers=key("rotate-1"))
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    current = (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
    assert current["secret"] == first.json()["secret"] != sub["secret"]
