"""The dashboard over plain HTTP: login and sessions, CSRF on every state change, escaping of
attacker-controlled text, the security headers, pagination and the live JSON."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from simulator import Knobs, Simulator
from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, fixture_json, run_server, wait_for

ADMIN = "admin-token-for-tests-0123456789"


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, token: str = ADMIN, next_url: str = "/") -> httpx.Response:
    form = await client.get("/dashboard/login")
    return await client.post(
        "/dashboard/login",
        data={"login_token": field(form.text, "login_token"), "token": token, "next": next_url},
    )


@pytest.fixture
async def browser(hookline: Hookline) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in client that keeps cookies and does not follow redirects."""
    async with httpx.AsyncClient(base_url=hookline.url, timeout=30) as client:
        response = await log_in(client)
        assert response.status_code == 303
        yield client


async def csrf(client: httpx.AsyncClient) -> str:
    return field((await client.get("/dashboard/subscriptions")).text, "csrf")


async def test_pages_need_a_login(hookline: Hookline) -> None:
    for path in ("/", "/dashboard/subscriptions", "/dashboard/deliveries", "/dashboard/jobs/job_x"):
        response = await hookline.anon.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login")
    assert (await hookline.anon.get("/dashboard/live?jobs=job_x")).status_code == 401
    # The management API's bearer token is not a dashboard session.
    assert (await hookline.admin.get("/")).status_code == 303


async def test_login_sets_a_strict_http_only_cookie_and_returns_to_the_page(hookline: Hookline) -> None:
    async with httpx.AsyncClient(base_url=hookline.url) as client:
        response = await log_in(client, next_url="/dashboard/subscriptions")
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/subscriptions"
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hookline_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        page = await client.get("/dashboard/subscriptions")
        assert page.status_code == 200 and "<h1>Subscriptions</h1>" in page.text


async def test_a_wrong_token_is_refused_and_no_session_is_given(hookline: Hookline) -> None:
    async with httpx.AsyncClient(base_url=hookline.url) as client:
        response = await log_in(client, token="not-the-admin-token")
        assert response.status_code == 401 and "not the admin token" in response.text
        assert "hookline_session" not in client.cookies
        assert (await client.get("/")).status_code == 303


async def test_a_login_without_the_form_token_is_refused(hookline: Hookline) -> None:
    response = await hookline.anon.post("/dashboard/login", data={"token": ADMIN, "login_token": "x" * 24})
    assert response.status_code == 403 and "hookline_session" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_login_never_redirects_off_site(hookline: Hookline, target: str) -> None:
    async with httpx.AsyncClient(base_url=hookline.url) as client:
        response = await log_in(client, next_url=target)
        assert response.status_code == 303 and response.headers["location"] == "/"


async def test_https_public_url_makes_the_cookie_secure(hookline_factory: Any, database_url: str) -> None:
    h = await hookline_factory(database_url, PUBLIC_URL="https://hooks.example.com")
    form = await h.anon.get("/dashboard/login")
    cookie = form.headers["set-cookie"]
    assert cookie.startswith("__Host-hookline_login=") and "Secure" in cookie


async def test_every_page_has_a_strict_content_security_policy(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    pages = [await browser.get(p) for p in ("/", "/dashboard/subscriptions", "/dashboard/deliveries")]
    for response in [*pages, await hookline.anon.get("/dashboard/login")]:
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text and " style=" not in response.text


async def test_attacker_controlled_text_is_escaped(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    evil = "<script>alert(1)</script>"
    body = fixture_json("mjproxy-blend-10-success.json")
    body.update(
        {
            "id": "xss-1",
            "state": f'"><img src=x onerror=alert(1)>{evil}',
            "prompt": evil,
            "imageUrl": "javascript:alert(1)",
            "failReason": evil,
        }
    )
    answer = (await hookline.post_callback("mjproxy", orjson.dumps(body))).json()
    await hookline.post_callback("mjproxy", b'{"not": "a callback", "x": "<script>alert(2)</script>"}')
    for path in ("/", f"/dashboard/jobs/{answer['job_id']}"):
        page = (await browser.get(path)).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        # Shown as text in the raw body, but never a link or an image: it is not an http(s) URL.
        assert '="javascript:' not in page


async def test_state_changes_need_the_session_csrf_token(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05")
    sink, url = subscriber
    sink.default = 503
    await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    (dead,) = await wait_for(lambda: _items(h, "/v1/deliveries", status="dead"), what="a dead delivery")
    async with httpx.AsyncClient(base_url=h.url) as mine, httpx.AsyncClient(base_url=h.url) as other:
        await log_in(mine)
        await log_in(other)
        path = f"/dashboard/deliveries/{dead['id']}/retry"
        for token in ("", "forged", await csrf(other)):
            refused = await mine.post(path, data={"csrf": token})
            assert refused.status_code == 403
        assert (await mine.get(path)).status_code == 405  # no state change on GET
        assert (await h.admin.get(f"/v1/deliveries/{dead['id']}")).json()["status"] == "dead"
        sink.default = 200
        done = await mine.post(path, data={"csrf": await csrf(mine)})
        assert done.status_code == 303 and done.headers["location"].endswith("done=retried")
        await wait_for(lambda: _items(h, "/v1/deliveries", status="delivered"), what="the retried delivery")


async def test_subscriptions_can_be_disabled_enabled_and_replayed(
    hookline: Hookline, browser: httpx.AsyncClient, subscriber: Any
) -> None:
    sink, url = subscriber
    for name in MJPROXY_LIFECYCLE[:2]:
        await hookline.post_callback("mjproxy", fixture_bytes(name))
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    token = await csrf(browser)
    base = f"/dashboard/subscriptions/{sub['id']}"
    await browser.post(f"{base}/disable", data={"csrf": token, "next": "/dashboard/subscriptions"})
    page = (await browser.get("/dashboard/subscriptions")).text
    assert "disabled by an operator" in page
    assert (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["enabled"] is False
    await browser.post(f"{base}/enable", data={"csrf": token})
    replayed = await browser.post(f"{base}/replay", data={"csrf": token, "since": "2000-01-01T00:00:00Z"})
    assert replayed.status_code == 303 and "count=2" in replayed.headers["location"]
    notice = (await browser.get(replayed.headers["location"])).text
    assert "Replay queued. 2 deliveries queued." in notice
    await wait_for(lambda: len(sink.received) == 2, what="the replayed events")
    bad = await browser.post(f"{base}/replay", data={"csrf": token, "since": "yesterday"})
    assert bad.status_code == 400 and "ISO-8601" in bad.text


async def test_jobs_are_filtered_searched_and_paged(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    for i in range(27):
        await hookline.admin.post("/v1/jobs", json={"provider": "useapi", "correlation_key": f"key-{i}"})
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    first = (await browser.get("/")).text
    assert first.count("<tr data-job=") == 25
    older = re.search(r'href="(/\?cursor=job_[^"]+)" rel="next"', first)
    assert older, "an Older link"
    second = (await browser.get(older.group(1).replace("&amp;", "&"))).text
    assert second.count("<tr data-job=") == 3 and "Newest" in second
    mjproxy = (await browser.get("/", params={"provider": "mjproxy"})).text
    assert mjproxy.count("<tr data-job=") == 1 and "order-7f3a9c" in mjproxy
    found = (await browser.get("/", params={"q": "key-3"})).text
    assert found.count("<tr data-job=") == 1 and "key-3" in found
    wrong = await browser.get("/", params={"status": "done"})
    assert wrong.status_code == 400 and "status must be one of" in wrong.text


async def test_the_job_page_shows_callbacks_events_and_deliveries(
    hookline: Hookline, browser: httpx.AsyncClient, subscriber: Any
) -> None:
    sink, url = subscriber
    await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})
    job_id = ""
    for name in MJPROXY_LIFECYCLE[:3]:
        job_id = (await hookline.post_callback("mjproxy", fixture_bytes(name))).json()["job_id"]
    await wait_for(lambda: len(sink.received) == 2, what="two deliveries")

    async def recorded() -> bool:  # the subscriber answered; the attempts are written just after
        items = (await hookline.admin.get("/v1/deliveries", params={"status": "delivered"})).json()["items"]
        return len(items) == 2

    await wait_for(recorded, what="both attempts recorded")
    page = (await browser.get(f"/dashboard/jobs/{job_id}")).text
    assert page.count("callback received") == 3 and page.count("event emitted") == 2
    assert page.count("delivery attempt") == 2 and "duplicate" in page
    assert "&quot;state&quot;: &quot;order-7f3a9c&quot;" in page or "order-7f3a9c" in page
    assert "1722931207538412" in page  # the raw body is shown (escaped)


async def test_live_json_reports_progress_and_delivery_status(hookline: Hookline, browser: httpx.AsyncClient) -> None:
    job_id = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).json()["job_id"]
    before = (await browser.get("/dashboard/live", params={"jobs": job_id, "job": job_id, "watch_new": "1"})).json()
    assert before["jobs"][job_id]["status"] == "submitted" and before["newest"] == job_id
    await hookline.post_callback("mjproxy", fixture_bytes("mjproxy-blend-06-in-progress-46.json"))
    after = (await browser.get("/dashboard/live", params={"jobs": job_id, "job": job_id})).json()
    assert after["jobs"][job_id]["progress"] == 46 and after["counts"][job_id] != before["counts"][job_id]
    bad = await browser.get("/dashboard/live", params={"jobs": "<x>"})
    assert bad.status_code == 400


async def test_logout_ends_the_session(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/dashboard/logout", data={"csrf": await csrf(browser)})
    assert response.status_code == 303
    assert (await browser.get("/")).status_code == 303


async def _items(h: Hookline, path: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await h.admin.get(path, params=params)).json()["items"]
    return items


async def _held_chain(h: Hookline, url: str) -> tuple[str, list[dict[str, Any]]]:
    """A job with two events whose subscriber failed the first: (job id, its deliveries, oldest first)."""
    await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})
    job_id = ""
    for name in MJPROXY_LIFECYCLE[:3]:
        job_id = (await h.post_callback("mjproxy", fixture_bytes(name))).json()["job_id"]

    async def tried() -> list[dict[str, Any]] | None:
        items = await _items(h, "/v1/deliveries", job_id=job_id)
        return items[::-1] if len(items) == 2 and items[-1]["attempts"] == 1 else None

    return job_id, await wait_for(tried, what="the first delivery tried and failed")


async def test_a_delivery_held_behind_an_earlier_one_says_which(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="600")  # the failed one is retried much later
    sink, url = subscriber
    sink.default = 500
    job_id, (first, second) = await _held_chain(h, url)
    async with httpx.AsyncClient(base_url=h.url, timeout=30) as client:
        await log_in(client)
        page = (await client.get(f"/dashboard/jobs/{job_id}")).text
        assert page.count("waiting for #1") == 1
        assert f'<a href="/dashboard/deliveries/{first["id"]}" class="waiting">waiting for #1</a>' in page
        live = (await client.get("/dashboard/live", params={"deliveries": f"{first['id']},{second['id']}"})).json()
    assert live["deliveries"][second["id"]]["next"] == "waiting for #1"
    assert live["deliveries"][second["id"]]["waiting_for"] == first["id"]
    assert live["deliveries"][first["id"]]["waiting_for"] is None and live["deliveries"][first["id"]]["next"]


async def test_deliveries_name_their_subscription_by_url(
    hookline: Hookline, browser: httpx.AsyncClient, subscriber: Any
) -> None:
    sink, url = subscriber
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/orders?team=a&x=1"})).json()
    job_id = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).json()["job_id"]
    await wait_for(lambda: len(sink.received) == 1, what="the delivery")
    shown = f"{url}/orders?team=a&amp;x=1"  # escaped, like everything else
    for path in ("/dashboard/deliveries?status=all", f"/dashboard/jobs/{job_id}"):
        page = (await browser.get(path)).text
        assert f'class="url">{shown}</' in page, path
    scoped = (await browser.get("/dashboard/deliveries", params={"subscription_id": sub["id"]})).text
    assert shown in scoped


async def test_the_job_page_says_when_nothing_will_archive_its_images(
    hookline: Hookline, browser: httpx.AsyncClient
) -> None:
    # The tests' hookline runs with HOOKLINE_ARCHIVE=false: the archive stays pending for good.
    job_id = (await hookline.post_callback("mjproxy", fixture_bytes("mjproxy-blend-10-success.json"))).json()["job_id"]
    page = (await browser.get(f"/dashboard/jobs/{job_id}")).text
    panel = re.search(r'<section class="panel" data-panel="archive">.*?</section>', page)
    assert panel, "an archive panel"
    assert "archiving is turned off (HOOKLINE_ARCHIVE=false)" in panel.group(0)
    assert "Next attempt" not in panel.group(0)  # no attempt will come
    assert 'data-panel="submission"' not in page  # hookline did not submit this job


async def test_the_job_page_shows_a_submission_held_for_a_full_upstream_queue(
    hookline_factory: Any, database_url: str
) -> None:
    sim = Simulator(Knobs(step_delay=0.02, seed=7, queue_full=10**6))  # every submission: "queue full"
    async with run_server(sim.app()) as upstream:
        h = await hookline_factory(
            database_url, MJPROXY_URL=upstream, UPSTREAM_INTERVAL="0.05", SUBMIT_BACKOFF="600,600"
        )
        blend = {"provider": "mjproxy", "images": [f"{upstream}/samples/a.png", f"{upstream}/samples/b.png"]}
        job_id = (await h.admin.post("/v1/blend", json=blend)).json()["id"]

        async def held() -> bool:
            return bool((await h.admin.get(f"/v1/jobs/{job_id}")).json()["submission"]["last_error"])

        await wait_for(held, what="the submission held")
        async with httpx.AsyncClient(base_url=h.url, timeout=30) as client:
            await log_in(client)
            page = (await client.get(f"/dashboard/jobs/{job_id}")).text
    panel = re.search(r'<section class="panel" data-panel="submission">.*?</section>', page)
    assert panel, "a submission panel"
    assert "waiting to be sent to the upstream" in panel.group(0) and "mjproxy queue full (code 23)" in panel.group(0)
    assert "<dt>Attempts</dt><dd>1</dd>" in panel.group(0) and "<dt>Next attempt</dt><dd><time" in panel.group(0)


async def test_a_job_with_more_deliveries_than_its_page_shows_links_to_all_of_them(
    hookline: Hookline, browser: httpx.AsyncClient, subscriber: Any
) -> None:
    _sink, url = subscriber
    sub = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    job_id = (await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).json()["job_id"]
    for _ in range(50):  # 51 deliveries of the one event
        await hookline.admin.post(f"/v1/subscriptions/{sub['id']}/replay", json={"since": "2000-01-01T00:00:00Z"})
    page = (await browser.get(f"/dashboard/jobs/{job_id}")).text
    assert page.count("<tr data-delivery=") == 50
    more = re.search(r'The newest 50 deliveries are shown: <a href="([^"]+)">every delivery of this job</a>', page)
    assert more, "a link to every delivery of the job"
    listed = (await browser.get(more.group(1).replace("&amp;", "&"))).text
    assert listed.count("<tr data-delivery=") == 50 and f'<a href="/dashboard/jobs/{job_id}" class="mono">' in listed
    older = re.search(r'href="([^"]+)" rel="next"', listed)
    assert older and "job_id=" in older.group(1), "Older keeps the job filter"
    rest = (await browser.get(older.group(1).replace("&amp;", "&"))).text
    assert rest.count("<tr data-delivery=") == 1


async def test_an_open_job_page_notices_its_submission_tried_again(hookline_factory: Any, database_url: str) -> None:
    sim = Simulator(Knobs(step_delay=0.02, seed=7, queue_full=10**6))  # every submission: "queue full"
    async with run_server(sim.app()) as upstream:
        h = await hookline_factory(
            database_url, MJPROXY_URL=upstream, UPSTREAM_INTERVAL="0.05", SUBMIT_BACKOFF="0.2,0.3"
        )
        blend = {"provider": "mjproxy", "images": [f"{upstream}/samples/a.png", f"{upstream}/samples/b.png"]}
        job_id = (await h.admin.post("/v1/blend", json=blend)).json()["id"]
        async with httpx.AsyncClient(base_url=h.url, timeout=30) as client:
            await log_in(client)

            async def counts() -> str:
                answer: str = (await client.get("/dashboard/live", params={"job": job_id})).json()["counts"][job_id]
                return answer

            first = await counts()

            async def changed() -> bool:
                return await counts() != first

            await wait_for(changed, what="the live fingerprint to change")
        job = (await h.admin.get(f"/v1/jobs/{job_id}")).json()
    assert job["callbacks"] == [] and job["events"] == []  # nothing but the submission changed
