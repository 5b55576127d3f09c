"""The dashboard's subscription settings page (issue 15): shows a subscription's headers, rate
limit, retry schedule and status / min_progress filters, and saves them through its form (with
the API's checks: a bad value is a 400 page and changes nothing)."""

from __future__ import annotations

import html
from typing import Any

import httpx

from tests.conftest import Hookline
from tests.hookline.test_dashboard import browser, csrf  # noqa: F401 - the fixture

URL = "http://127.0.0.1:9/hook"


async def test_the_settings_page_shows_what_is_set(hookline: Hookline, browser: httpx.AsyncClient) -> None:  # noqa: F811
    body = {
        "url": URL,
        "headers": {"X-Team": "render"},
        "rate_limit": 12,
        "retry_schedule": [5, 300],
        "filter": {"status": ["failed"], "min_progress": 30, "provider": "mjproxy"},
    }
    sub = (await hookline.admin.post("/v1/subscriptions", json=body)).json()
    listing = (await browser.get("/dashboard/subscriptions")).text
    assert f'href="/dashboard/subscriptions/{sub["id"]}"' in listing and "≤ 12/s" in listing
    page = html.unescape((await browser.get(f"/dashboard/subscriptions/{sub['id']}")).text)
    assert "X-Team: render" in page
    assert 'name="rate_limit" value="12"' in page and 'name="retry_schedule" value="5, 300"' in page
    assert 'name="status_failed" value="1" checked' in page and 'name="min_progress" value="30"' in page


async def test_the_settings_form_saves_and_keeps_the_rest_of_the_filter(
    hookline: Hookline,
    browser: httpx.AsyncClient,  # noqa: F811
) -> None:
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": URL, "filter": {"provider": "useapi"}})).json()
    form = {
        "csrf": await csrf(browser),
        "headers": "Authorization: Bearer abc\r\nX-Team: render\r\n",
        "rate_limit": "7",
        "retry_schedule": "10, 60",
        "status_succeeded": "1",
        "status_failed": "1",
        "min_progress": "",
    }
    saved = await browser.post(f"/dashboard/subscriptions/{sub['id']}/settings", data=form)
    assert saved.status_code == 303
    assert "Subscription settings saved." in (await browser.get(saved.headers["location"])).text
    shown = (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
    assert shown["headers"] == {"Authorization": "Bearer abc", "X-Team": "render"}
    assert (shown["rate_limit"], shown["retry_schedule"]) == (7, [10, 60])
    assert shown["filter"] == {"provider": "useapi", "status": ["succeeded", "failed"]}


async def test_a_bad_value_in_the_form_is_an_error_page_and_changes_nothing(
    hookline: Hookline,
    browser: httpx.AsyncClient,  # noqa: F811
) -> None:
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": URL, "rate_limit": 3})).json()
    for bad in ({"headers": "Host: evil"}, {"rate_limit": "0"}, {"retry_schedule": "soon"}, {"min_progress": "200"}):
        form: dict[str, Any] = {"csrf": await csrf(browser), **bad}
        response = await browser.post(f"/dashboard/subscriptions/{sub['id']}/settings", data=form)
        assert response.status_code == 400, bad
    assert (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["rate_limit"] == 3
