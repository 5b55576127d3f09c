"""The dashboard's API keys page: admin only (a session), make a key (shown once, then never
again), revoke one; both changes need the session's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Hookline
from tests.hookline.test_dashboard import field, log_in


@pytest.fixture
async def browser(hookline: Hookline) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hookline.url, timeout=30) as client:
        assert (await log_in(client)).status_code == 303
        yield client


async def test_the_keys_page_needs_a_login(hookline: Hookline) -> None:
    response = await hookline.anon.get("/dashboard/keys")
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login")
    assert (await hookline.admin.get("/dashboard/keys")).status_code == 303  # a bearer token is not a session


async def test_make_a_key_shows_it_once_and_it_works(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/keys")
    assert page.status_code == 200 and "No API keys yet." in page.text
    made = await browser.post(
        "/dashboard/keys",
        data={
            "csrf": field(page.text, "csrf"),
            "name": "render farm",
            "scope:jobs:read": "on",
            "scope:events:read": "on",
        },
    )
    assert made.status_code == 200 and "shown this once" in made.text
    assert made.headers["cache-control"] == "no-store"
    found = re.search(r'value="(hlk_[A-Za-z0-9_-]+)" data-key-value', made.text)
    assert found
    key = found.group(1)
    works = await hookline.anon.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert works.status_code == 200
    listed = await browser.get("/dashboard/keys")
    assert "render farm" in listed.text and "jobs:read events:read" in listed.text
    assert key not in listed.text and f"{key[:10]}…" in listed.text


async def test_revoke_a_key(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    made = (await hookline.admin.post("/v1/api-keys", json={"name": "old", "scopes": ["jobs:read"]})).json()
    page = await browser.get("/dashboard/keys")
    revoked = await browser.post(
        f"/dashboard/keys/{made['id']}/revoke", data={"csrf": field(page.text, "csrf"), "next": "/dashboard/keys"}
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == "/dashboard/keys?done=revoked"
    after = await browser.get(revoked.headers["location"])
    assert "API key revoked" in after.text and made["id"] not in after.text
    refused = await hookline.anon.get("/v1/jobs", headers={"Authorization": f"Bearer {made['key']}"})
    assert refused.status_code == 401


async def test_key_changes_need_the_csrf_token(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    made = (await hookline.admin.post("/v1/api-keys", json={"name": "kept", "scopes": ["jobs:read"]})).json()
    forged = await browser.post(f"/dashboard/keys/{made['id']}/revoke", data={"csrf": "wrong"})
    assert forged.status_code == 403
    forged_make = await browser.post("/dashboard/keys", data={"name": "evil", "scope:admin": "on"})
    assert forged_make.status_code == 403 and "hlk_" not in forged_make.text
    assert [k["name"] for k in (await hookline.admin.get("/v1/api-keys")).json()["items"]] == ["kept"]


async def test_a_key_without_scopes_is_refused_with_a_message(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/keys")
    response = await browser.post("/dashboard/keys", data={"csrf": field(page.text, "csrf"), "name": "none"})
    assert response.status_code == 400 and "scopes must list at least one of" in response.text


async def test_an_admin_key_logs_in_until_it_is_revoked(hookline: Hookline) -> None:
    made = (await hookline.admin.post("/v1/api-keys", json={"name": "ops", "scopes": ["admin"]})).json()
    async with httpx.AsyncClient(base_url=hookline.url, timeout=30) as client:
        assert (await log_in(client, token=made["key"])).status_code == 303
        assert (await client.get("/dashboard/keys")).status_code == 200
        assert (await hookline.admin.delete(f"/v1/api-keys/{made['id']}")).status_code == 204
        after = await client.get("/dashboard/keys")
        assert after.status_code == 303 and after.headers["location"].startswith("/dashboard/login")


async def test_a_key_without_admin_cannot_log_in(hookline: Hookline) -> None:
    made = (await hookline.admin.post("/v1/api-keys", json={"name": "app", "scopes": ["jobs:read"]})).json()
    async with httpx.AsyncClient(base_url=hookline.url, timeout=30) as client:
        response = await log_in(client, token=made["key"])
        assert response.status_code == 401 and "nor an API key with the admin scope" in response.text
        assert (await client.get("/dashboard/keys")).status_code == 303
