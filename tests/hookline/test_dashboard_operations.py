"""The dashboard's operations of issue 14 over plain HTTP: pause and resume a subscription, retry
all of its dead deliveries (CSRF-protected POSTs like every button), and a failing subscription
shown as failing, not as "in progress". Both backends, real subscribers on loopback."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Hookline
from tests.hookline.test_dashboard import browser, csrf, log_in
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, wait_for

__all__ = ["browser"]  # the fixture, used by name


async def _items(h: Hookline, path: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await h.admin.get(path, params=params)).json()["items"]
    return items


def _row(page: str, sub_id: str) -> str:
    start = page.index(f'<tr id="{sub_id}"')
    return page[start : page.index("</tr>", start)]


async def test_a_subscription_is_paused_and_resumed_from_the_dashboard(
    hookline: Hookline, browser: httpx.AsyncClient, subscriber: Any
) -> None:
    sink, url = subscriber
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    base = f"/dashboard/subscriptions/{sub['id']}"
    paused = await browser.post(f"{base}/pause", data={"csrf": await csrf(browser), "next": "/dashboard/subscriptions"})
    assert paused.status_code == 303 and paused.headers["location"].endswith("done=paused")
    page = (await browser.get(paused.headers["location"])).text
    assert "Subscription paused" in page
    row = _row(page, sub["id"])
    assert "badge-paused" in row and f'action="{base}/resume"' in row
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: _items(hookline, "/v1/deliveries", subscription_id=sub["id"]), what="a held delivery")
    assert sink.received == []
    resumed = await browser.post(f"{base}/resume", data={"csrf": await csrf(browser)})
    assert resumed.status_code == 303 and "done=resumed" in resumed.headers["location"]
    await wait_for(lambda: sink.received, what="the held delivery after resuming")
    assert (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["paused"] is False


async def test_pausing_needs_the_session_csrf_token(hookline: Hookline, subscriber: Any) -> None:
    _, url = subscriber
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    async with httpx.AsyncClient(base_url=hookline.url) as mine:
        await log_in(mine)
        for action in ("pause", "retry-dead"):
            refused = await mine.post(f"/dashboard/subscriptions/{sub['id']}/{action}", data={"csrf": "forged"})
            assert refused.status_code == 403
    assert (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["paused"] is False


async def test_retry_all_dead_sends_every_dead_delivery_of_the_subscription_again(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05")
    sink, url = subscriber
    sink.default = 503
    sub = (await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: _items(h, "/v1/deliveries", status="dead"), what="a dead delivery")
    sink.default = 200
    async with httpx.AsyncClient(base_url=h.url) as mine:
        await log_in(mine)
        page = (await mine.get("/dashboard/subscriptions")).text
        assert f'action="/dashboard/subscriptions/{sub["id"]}/retry-dead"' in _row(page, sub["id"])
        done = await mine.post(f"/dashboard/subscriptions/{sub['id']}/retry-dead", data={"csrf": await csrf(mine)})
        assert done.status_code == 303 and "done=retried-dead&count=1" in done.headers["location"]
        assert "1 deliveries queued" in (await mine.get(done.headers["location"])).text
    await wait_for(lambda: _items(h, "/v1/deliveries", status="delivered"), what="the retried delivery")


async def test_a_failing_subscription_is_shown_as_failing(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="3600")
    sink, url = subscriber
    sink.default = 503
    sub = (await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

    async def failing() -> bool:
        return bool((await h.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["failing_since"])

    await wait_for(failing, what="the subscription to be failing")
    async with httpx.AsyncClient(base_url=h.url) as mine:
        await log_in(mine)
        row = _row((await mine.get("/dashboard/subscriptions")).text, sub["id"])
    assert '<span class="badge badge-failing">failing</span>' in row
    assert "badge-pending" not in row and "badge-in_progress" not in row


async def test_a_job_is_erased_from_its_page(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    """The job page's button erases the job as ``DELETE /v1/jobs/{id}`` does (CSRF-checked)."""
    response = await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    job_id = response.json()["job_id"]
    here = f"/dashboard/jobs/{job_id}"
    assert f'action="{here}/erase"' in (await browser.get(here)).text
    assert (await browser.post(f"{here}/erase", data={"csrf": "forged"})).status_code == 403
    assert (await hookline.admin.get(f"/v1/jobs/{job_id}")).status_code == 200

    erased = await browser.post(f"{here}/erase", data={"csrf": await csrf(browser), "next": here})

    assert erased.status_code == 303 and erased.headers["location"] == "/?done=erased"
    assert "Job erased" in (await browser.get(erased.headers["location"])).text
    assert (await hookline.admin.get(f"/v1/jobs/{job_id}")).status_code == 404
    assert await _items(hookline, "/v1/callbacks") == []
    again = await browser.post(f"{here}/erase", data={"csrf": await csrf(browser), "next": "/"})
    assert again.status_code == 404
