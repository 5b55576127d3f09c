"""API keys: made with scopes and shown once, stored only as a hash, listed without the key,
refused at once when revoked (in every process on PostgreSQL) or expired, and never logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookline.apikeys import ApiKey, key_hash
from hookline.app import build_app
from hookline.clock import ManualClock
from hookline.errors import NotFound
from hookline.store import Store
from tests.conftest import Hookline, make_config
from tests.support import run_server


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make(h: Hookline, *scopes: str, **extra: Any) -> dict[str, Any]:
    response = await h.admin.post("/v1/api-keys", json={"name": "app", "scopes": list(scopes), **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# store -------------------------------------------------------------------------------------------


async def test_the_store_finds_a_key_by_its_hash_and_forgets_it_when_revoked(store: Store) -> None:
    key = ApiKey("key_01", "feed", ("events:read",), key_hash("hlk_secret"), "hlk_se", 100.0, expires_at=900.0)
    await store.create_api_key(key)
    assert await store.find_api_key(key_hash("hlk_secret")) == key
    assert await store.find_api_key(key_hash("hlk_other")) is None
    assert await store.get_api_key("key_01") == key and await store.get_api_key("key_02") is None
    assert [k.id for k in await store.list_api_keys()] == ["key_01"]
    await store.revoke_api_key("key_01", 200.0)
    found = await store.find_api_key(key_hash("hlk_secret"))
    assert found is not None and found.revoked_at == 200.0
    assert await store.list_api_keys() == []
    with pytest.raises(NotFound):
        await store.revoke_api_key("key_01", 300.0)


# the API -----------------------------------------------------------------------------------------


async def test_a_new_key_is_shown_once_and_listed_without_it(hookline: Hookline) -> None:
    made = await make(hookline, "jobs:read", "events:read")
    assert made["key"].startswith("hlk_") and len(made["key"]) > 40
    assert made["scopes"] == ["jobs:read", "events:read"] and made["expires_at"] is None
    listed = (await hookline.admin.get("/v1/api-keys")).json()["items"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0] and made["key"] not in str(listed)
    assert made["key"].startswith(listed[0]["prefix"])


async def test_a_key_works_within_its_scopes(hookline: Hookline) -> None:
    made = await make(hookline, "jobs:read")
    assert (await hookline.anon.get("/v1/jobs", headers=bearer(made["key"]))).status_code == 200
    refused = await hookline.anon.get("/v1/deliveries", headers=bearer(made["key"]))
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "forbidden",
        "message": "this needs the scope 'deliveries:read'; the API key has jobs:read",
    }


async def test_only_admin_manages_keys(hookline: Hookline) -> None:
    made = await make(hookline, "subscriptions:write", "jobs:write")
    response = await hookline.anon.post(
        "/v1/api-keys", json={"name": "escalate", "scopes": ["admin"]}, headers=bearer(made["key"])
    )
    assert response.status_code == 403 and "'admin'" in response.json()["error"]["message"]
    admin_key = await make(hookline, "admin")
    assert (await hookline.anon.get("/v1/api-keys", headers=bearer(admin_key["key"]))).status_code == 200


async def test_a_revoked_key_is_refused_at_once(hookline: Hookline) -> None:
    made = await make(hookline, "jobs:read")
    assert (await hookline.admin.delete(f"/v1/api-keys/{made['id']}")).status_code == 204
    response = await hookline.anon.get("/v1/jobs", headers=bearer(made["key"]))
    assert (
        response.status_code == 401 and response.json()["error"]["message"] == f"the API key {made['id']} was revoked"
    )
    assert (await hookline.admin.delete(f"/v1/api-keys/{made['id']}")).status_code == 404
    assert (await hookline.admin.get("/v1/api-keys")).json()["items"] == []


async def test_a_revoked_key_is_refused_by_every_process(hookline_factory: Any, pg_url: str) -> None:
    one = await hookline_factory(pg_url)
    other = await hookline_factory(pg_url)
    made = await make(one, "jobs:read")
    assert (await other.anon.get("/v1/jobs", headers=bearer(made["key"]))).status_code == 200
    assert (await one.admin.delete(f"/v1/api-keys/{made['id']}")).status_code == 204
    assert (await other.anon.get("/v1/jobs", headers=bearer(made["key"]))).status_code == 401


async def test_an_expired_key_is_refused(hookline_factory: Any, database_url: str) -> None:
    clock = ManualClock(4070908800.0 - 60)  # a minute before 2099-01-01
    h = await hookline_factory(database_url, clock=clock)
    made = await make(h, "jobs:read", expires_at="2099-01-01T00:00:00Z")
    clock.advance(59)
    assert (await h.anon.get("/v1/jobs", headers=bearer(made["key"]))).status_code == 200
    clock.advance(1)
    response = await h.anon.get("/v1/jobs", headers=bearer(made["key"]))
    assert (
        response.status_code == 401 and response.json()["error"]["message"] == f"the API key {made['id']} has expired"
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("hlk_" + "x" * 43, "unknown API key"),
        ("not-a-key-at-all", "the token is neither the admin token nor an API key"),
    ],
)
async def test_an_unknown_key_is_401(hookline: Hookline, token: str, message: str) -> None:
    response = await hookline.anon.get("/v1/jobs", headers=bearer(token))
    assert response.status_code == 401 and response.json()["error"]["message"].startswith(message)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scopes": ["jobs:read"]}, "name is required"),
        ({"name": "x"}, "scopes is required"),
        ({"name": "x", "scopes": []}, "scopes must list at least one of jobs:read"),
        ({"name": "x", "scopes": ["jobs:delete"]}, "scopes: 'jobs:delete' is not one of"),
        ({"name": "x", "scopes": "admin"}, "scopes must be a list of strings"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at must be in the future"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "tomorrow"}, "expires_at must be an RFC 3339 time"),
        ({"name": "x", "scopes": ["admin"], "key": "hlk_mine"}, "unknown field"),
    ],
)
async def test_a_bad_key_request_is_400_naming_the_field(hookline: Hookline, body: Any, message: str) -> None:
    response = await hookline.admin.post("/v1/api-keys", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


async def test_read_only_subscriptions_scope_never_sees_a_secret(hookline: Hookline, subscriber: Any) -> None:
    _, url = subscriber
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    reader, writer = await make(hookline, "subscriptions:read"), await make(hookline, "subscriptions:write")
    shown = (await hookline.anon.get(f"/v1/subscriptions/{sub['id']}", headers=bearer(reader["key"]))).json()
    assert shown["id"] == sub["id"] and "secret" not in shown and sub["secret"] not in str(shown)
    listed = (await hookline.anon.get("/v1/subscriptions", headers=bearer(reader["key"]))).json()
    assert sub["secret"] not in str(listed)
    full = (await hookline.anon.get(f"/v1/subscriptions/{sub['id']}", headers=bearer(writer["key"]))).json()
    assert full["secret"] == sub["secret"]


async def test_keys_are_never_logged_nor_echoed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(make_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path), access_log=True)
    admin = bearer(app.state.runtime.config.admin_token)
    caplog.set_level(logging.DEBUG)
    async with run_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        made = (await client.post("/v1/api-keys", json={"name": "app", "scopes": ["jobs:read"]}, headers=admin)).json()
        key = made["key"]
        answers = [
            await client.get("/v1/jobs", headers=bearer(key)),
            await client.get("/v1/deliveries", headers=bearer(key)),
            await client.get("/v1/jobs", headers=bearer(key[:-1] + ("Q" if key[-1] != "Q" else "R"))),
            await client.get(f"/v1/nowhere/{key}", headers=bearer(key)),
        ]
        assert (await client.delete(f"/v1/api-keys/{made['id']}", headers=admin)).status_code == 204
        answers.append(await client.get("/v1/jobs", headers=bearer(key)))
    assert [a.status_code for a in answers] == [200, 403, 401, 404, 401]
    for answer in answers:
        assert key not in answer.text and key[4:] not in answer.text
    # The server's records (the test's own HTTP client logs the URLs it calls).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("hookline", "uvicorn")))
    assert "GET /v1/nowhere/hlk_*** 404" in logged
    assert key[4:] not in logged


async def test_idempotency_keys_are_kept_per_api_key(hookline: Hookline) -> None:
    """Two apps may pick the same Idempotency-Key: each gets its own answer; a repeat by one app
    gets that app's answer again."""
    one, other = await make(hookline, "jobs:write"), await make(hookline, "jobs:write")
    body = {"provider": "mjproxy", "correlation_key": "k"}
    first = await hookline.anon.post(
        "/v1/jobs", json={**body, "correlation_key": "k1"}, headers={**bearer(one["key"]), "Idempotency-Key": "a"}
    )
    second = await hookline.anon.post(
        "/v1/jobs", json={**body, "correlation_key": "k2"}, headers={**bearer(other["key"]), "Idempotency-Key": "a"}
    )
    assert first.status_code == second.status_code == 201 and first.json()["id"] != second.json()["id"]
    again = await hookline.anon.post(
        "/v1/jobs", json={**body, "correlation_key": "k1"}, headers={**bearer(one["key"]), "Idempotency-Key": "a"}
    )
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
