"""Dashboard logout revokes the session itself, not only the browser's cookie: a copy of the
cookie is refused afterwards, by every receiver process sharing the database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookline.store import Store
from tests.conftest import Hookline
from tests.hookline.test_dashboard import csrf, log_in


def session_cookie(client: httpx.AsyncClient) -> dict[str, str]:
    return {"hookline_session": client.cookies["hookline_session"]}


async def log_out(client: httpx.AsyncClient) -> None:
    response = await client.post("/dashboard/logout", data={"csrf": await csrf(client)})
    assert response.status_code == 303


async def test_a_copy_of_a_logged_out_session_cookie_is_refused(hookline: Hookline) -> None:
    async with httpx.AsyncClient(base_url=hookline.url) as browser, httpx.AsyncClient(base_url=hookline.url) as thief:
        await log_in(browser)
        thief.cookies.update(session_cookie(browser))
        assert (await thief.get("/")).status_code == 200
        await log_out(browser)
        page = await thief.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
        assert (await thief.get("/dashboard/live?jobs=job_x")).status_code == 401
        assert (await thief.post("/dashboard/logout", data={"csrf": "x"})).status_code == 403


async def test_logging_out_one_session_keeps_the_others(hookline: Hookline) -> None:
    async with httpx.AsyncClient(base_url=hookline.url) as laptop, httpx.AsyncClient(base_url=hookline.url) as phone:
        await log_in(laptop)
        await log_in(phone)
        await log_out(laptop)
        assert (await phone.get("/")).status_code == 200
        assert (await laptop.get("/")).status_code == 303


@pytest.mark.postgres
async def test_logout_holds_across_receiver_processes(hookline_factory: Any, pg_url: str) -> None:
    first = await hookline_factory(pg_url, ROLE="receiver")
    second = await hookline_factory(pg_url, ROLE="receiver")
    async with httpx.AsyncClient(base_url=first.url) as browser, httpx.AsyncClient(base_url=second.url) as elsewhere:
        await log_in(browser)
        elsewhere.cookies.update(session_cookie(browser))
        assert (await elsewhere.get("/")).status_code == 200
        await log_out(browser)
        assert (await elsewhere.get("/")).status_code == 303


async def test_revocations_are_forgotten_once_the_session_would_have_expired(store: Store) -> None:
    await store.revoke_session("old-nonce", expires_at=1_000.0, now=500.0)
    await store.revoke_session("new-nonce", expires_at=9_000.0, now=500.0)
    assert await store.session_revoked("old-nonce") and await store.session_revoked("new-nonce")
    await store.revoke_session("newer-nonce", expires_at=9_500.0, now=2_000.0)
    assert not await store.session_revoked("old-nonce")  # its cookie has expired: no need to remember it
    assert await store.session_revoked("new-nonce") and not await store.session_revoked("never-revoked")
