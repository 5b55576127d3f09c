"""The dashboard in a real browser (Debian's chromium, headless, through playwright): log in, see a
job with its thumbnail and timeline, retry dead deliveries and watch them become delivered
without reloading. Screenshots of every page go to ``test-artifacts/``."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import Knobs, Simulator
from tests.conftest import IN_CI, Hookline
from tests.support import MJPROXY_LIFECYCLE, REPO, Subscriber, fixture_bytes, fixture_json, run_server, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
LIVE_TIMEOUT_MS = 15_000


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG image of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def image_server() -> Starlette:
    """The upstream's CDN: a progress preview (48 px) and the result (96 px); other links have expired."""
    images = {"preview.png": png(48, 48, (200, 200, 210)), "result.png": png(96, 96, (58, 91, 217))}

    async def image(request: Request) -> Response:
        found = images.get(request.path_params["name"])
        if found is None:  # an expired upstream link
            return Response(b"gone", status_code=404, media_type="text/plain")
        return Response(found, media_type="image/png")

    return Starlette(routes=[Route("/{name}", image)])


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_operator_logs_in_sees_the_job_and_retries_dead_deliveries(
    chromium: Any, hookline_factory: Any, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    h: Hookline = await hookline_factory(f"sqlite:///{tmp_path / 'browser.db'}", RETRY_SCHEDULE="0.05,0.05")
    sink = Subscriber(default=503)
    async with run_server(image_server(), lifespan="off") as images, run_server(sink.app(), lifespan="off") as url:
        await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook", "description": "orders app"})
        await h.post_callback("mjproxy", fixture_bytes("mjproxy-blend-01-submitted.json"))
        progress = fixture_json("mjproxy-blend-06-in-progress-46.json")
        progress["imageUrl"] = f"{images}/preview.png"
        job_id = (await h.post_callback("mjproxy", orjson.dumps(progress))).json()["job_id"]
        success = fixture_json("mjproxy-blend-10-success.json")
        success["imageUrl"] = f"{images}/result.png"

        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(LIVE_TIMEOUT_MS)
        blocked: list[str] = []
        page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)

        await page.goto(f"{h.url}/")
        assert page.url.startswith(f"{h.url}/dashboard/login")
        await page.screenshot(path=ARTIFACTS / "dashboard-login.png")
        await page.fill("#token", h.config.admin_token or "")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{h.url}/")

        row = page.locator(f"tr[data-job='{job_id}']")
        await row.get_by_text("order-7f3a9c").wait_for()
        assert await row.locator("[data-field=status]").text_content() == "in_progress"
        assert await row.locator("[data-field=progress-label]").text_content() == "46%"
        await _wait_image_loaded(page, f"tr[data-job='{job_id}'] img", 48)
        await page.screenshot(path=ARTIFACTS / "dashboard-jobs-in-progress.png", full_page=True)

        # The job succeeds while the page is open: status, progress and thumbnail follow, no reload.
        await h.post_callback("mjproxy", orjson.dumps(success))
        await page.wait_for_function(
            "el => el.textContent === 'succeeded'", arg=await row.locator("[data-field=status]").element_handle()
        )
        assert await row.locator("[data-field=progress-label]").text_content() == "100%"
        await _wait_image_loaded(page, f"tr[data-job='{job_id}'] img", 96)
        await page.screenshot(path=ARTIFACTS / "dashboard-jobs.png", full_page=True)

        async def all_dead() -> bool:
            dead = (await h.admin.get("/v1/deliveries", params={"status": "dead"})).json()["items"]
            return len(dead) == 3

        await wait_for(all_dead, what="the three deliveries to die")
        sink.default = 200  # the subscriber is healthy again: retries will get through

        await row.get_by_text("order-7f3a9c").click()
        await page.wait_for_url(f"{h.url}/dashboard/jobs/{job_id}")
        await _wait_image_loaded(page, "[data-field=images] img", 96)
        timeline = page.locator("table.timeline")
        assert await timeline.get_by_text("callback received").count() == 3
        assert await timeline.get_by_text("event emitted").count() == 3
        assert await timeline.get_by_text("delivery attempt").count() == 9
        await timeline.get_by_text("raw body").first.click()  # the raw body opens, as text
        assert "1722931207538412" in (await timeline.locator("pre.raw").first.text_content() or "")
        await page.screenshot(path=ARTIFACTS / "dashboard-job.png", full_page=True)

        # Retry the first event from the list of dead deliveries: it lands on the delivery's page,
        # which turns "delivered" by itself.
        await page.click("nav >> text=Deliveries")
        await page.wait_for_url(f"{h.url}/dashboard/deliveries")
        assert await page.locator("tbody tr[data-delivery]").count() == 3
        await page.screenshot(path=ARTIFACTS / "dashboard-deliveries.png", full_page=True)
        await page.locator("tr:has-text('job.submitted #1')").get_by_role("button", name="Retry").click()
        await page.get_by_text("Retry queued").wait_for()
        status = page.locator("table.deliveries [data-field=status]")
        await page.wait_for_function(
            "el => el.textContent === 'delivered'", arg=await status.element_handle(), timeout=LIVE_TIMEOUT_MS
        )
        await page.screenshot(path=ARTIFACTS / "dashboard-delivery.png", full_page=True)

        # Retry the last one from the job page: back on the job page, its row turns "delivered".
        await page.goto(f"{h.url}/dashboard/jobs/{job_id}")
        second = page.locator("tr[data-delivery]:has-text('job.succeeded #3')")
        await second.get_by_role("button", name="Retry").click()
        await page.get_by_text("Retry queued").wait_for()
        await page.wait_for_function(
            "el => el.textContent === 'delivered'",
            arg=await second.locator("[data-field=status]").element_handle(),
            timeout=LIVE_TIMEOUT_MS,
        )
        assert await second.get_by_role("button", name="Retry").count() == 0
        await page.screenshot(path=ARTIFACTS / "dashboard-job-retried.png", full_page=True)

        await page.click("nav >> text=Subscriptions")
        await page.get_by_text("orders app").wait_for()
        await page.get_by_text("healthy").wait_for()
        await page.screenshot(path=ARTIFACTS / "dashboard-subscriptions.png", full_page=True)
        await context.close()

    assert [r.json()["data"]["sequence"] for r in sink.received][-2:] == [1, 3]
    assert blocked == [], "the page broke its own Content-Security-Policy"


async def _wait_image_loaded(page: Any, selector: str, width: int) -> None:
    """Until the image is really shown (loaded and decoded at ``width`` pixels)."""
    await page.wait_for_function(
        "([s, w]) => { const img = document.querySelector(s); return img && img.complete && img.naturalWidth === w; }",
        arg=[selector, width],
    )


# --- the job page after a replay, at desktop and phone width ---------------------------------------

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
REPLAYED_PAGE_MAX_PX = 2200  # nine events, ten callbacks; ~3,700 px before deliveries and attempts were folded


async def logged_in(chromium: Any, h: Hookline, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    """A new browser page, logged in to ``h``, at ``viewport``, and the list the page's
    Content-Security-Policy violations are added to (a test ends asserting it is empty)."""
    context = await chromium.new_context(viewport=viewport)
    page = await context.new_page()
    page.set_default_timeout(LIVE_TIMEOUT_MS)
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    await page.goto(f"{h.url}/dashboard/login")
    await page.fill("#token", h.config.admin_token or "")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{h.url}/")
    return page, blocked


@dataclass
class TwoSubscribers:
    """A job with nine events sent to two subscriptions: ``orders`` answers; ``analytics`` fails,
    so its first delivery is retried later and the rest wait behind it."""

    h: Hookline
    job_id: str
    events: int
    orders: str
    analytics: str
    orders_id: str
    analytics_sink: Subscriber

    async def replay_orders(self, times: int = 2) -> None:
        """Replay every event to ``orders`` ``times`` times; return once all were delivered."""
        for _ in range(times):
            await self.h.admin.post(
                f"/v1/subscriptions/{self.orders_id}/replay", json={"since": "2000-01-01T00:00:00Z"}
            )
        await self.settled((1 + times) * self.events)

    async def settled(self, delivered: int) -> None:
        async def done() -> bool:
            params = {"job_id": self.job_id, "limit": "100"}
            items = (await self.h.admin.get("/v1/deliveries", params=params)).json()["items"]
            tried = [d for d in items if d["status"] == "pending" and d["attempts"] == 1]
            return len([d for d in items if d["status"] == "delivered"]) == delivered and len(tried) == 1

        await wait_for(done, what=f"{delivered} orders deliveries delivered, the first analytics one tried")


@pytest.fixture(name="two")
async def two_subscribers(hookline_factory: Any, tmp_path: Path) -> AsyncIterator[TwoSubscribers]:
    h: Hookline = await hookline_factory(f"sqlite:///{tmp_path / 'two.db'}", RETRY_SCHEDULE="600")
    orders, analytics = Subscriber(), Subscriber(default=500)
    async with (
        run_server(image_server(), lifespan="off") as images,
        run_server(orders.app(), lifespan="off") as orders_base,
        run_server(analytics.app(), lifespan="off") as analytics_base,
    ):
        orders_url, analytics_url = f"{orders_base}/orders/webhook", f"{analytics_base}/analytics/ingest"
        sub = (await h.admin.post("/v1/subscriptions", json={"url": orders_url, "description": "orders"})).json()
        await h.admin.post("/v1/subscriptions", json={"url": analytics_url, "description": "analytics"})
        job_id = ""
        for name in MJPROXY_LIFECYCLE:
            body = fixture_json(name)
            if body.get("imageUrl"):
                body["imageUrl"] = f"{images}/{'result' if body['status'] == 'SUCCESS' else 'preview'}.png"
            job_id = (await h.post_callback("mjproxy", orjson.dumps(body))).json()["job_id"]
        events = len((await h.admin.get(f"/v1/jobs/{job_id}")).json()["events"])
        found = TwoSubscribers(h, job_id, events, orders_url, analytics_url, sub["id"], analytics)
        await found.settled(events)
        yield found


async def test_a_job_page_after_a_replay_stays_short(chromium: Any, two: TwoSubscribers) -> None:
    page, blocked = await logged_in(chromium, two.h, DESKTOP)
    job_page = f"{two.h.url}/dashboard/jobs/{two.job_id}"
    await page.goto(job_page)
    before = await page.evaluate("document.documentElement.scrollHeight")
    await page.screenshot(path=ARTIFACTS / "dashboard-job-before-replay.png", full_page=True)

    await two.replay_orders(times=2)  # 18 more deliveries, 18 more attempts
    await page.goto(job_page)
    await page.screenshot(path=ARTIFACTS / "dashboard-job-after-replay.png", full_page=True)
    assert await page.locator("tr[data-delivery]").count() == 4 * two.events  # all there, folded
    after = await page.evaluate("document.documentElement.scrollHeight")
    assert after <= before + 8, f"the replay made the job page {after - before} px longer"
    assert after <= REPLAYED_PAGE_MAX_PX, f"the job page is {after} px long"
    # The chain that was all delivered is folded; the one with a failing delivery is open.
    orders = page.locator("details.chain", has_text=two.orders)
    analytics = page.locator("details.chain", has_text=two.analytics)
    assert await orders.get_attribute("open") is None and await analytics.get_attribute("open") == ""
    assert await orders.locator("summary").text_content() == f"{two.orders} {3 * two.events} delivered"
    await orders.locator("summary").click()  # unfold it: every delivery is there
    assert await orders.locator("tr[data-delivery]").first.is_visible()
    await page.screenshot(path=ARTIFACTS / "dashboard-job-after-replay-unfolded.png", full_page=True)
    assert blocked == []


async def test_a_delivery_held_behind_an_earlier_one_says_which(chromium: Any, two: TwoSubscribers) -> None:
    page, blocked = await logged_in(chromium, two.h, DESKTOP)
    await page.goto(f"{two.h.url}/dashboard/jobs/{two.job_id}")
    chain = page.locator("details.chain", has_text=two.analytics)
    first = chain.locator("tr[data-delivery]").first
    assert "job.submitted #1" in (await first.text_content() or "")
    assert await first.locator("[data-field=next] time").count() == 1  # its retry is scheduled
    held = chain.locator("tr[data-delivery]:has-text('waiting for #1')")
    assert await held.count() == two.events - 1
    await chain.screenshot(path=ARTIFACTS / "dashboard-waiting-for.png")
    # The link leads to the delivery it waits for.
    first_id = await first.get_attribute("data-delivery")
    await held.first.get_by_role("link", name="waiting for #1").click()
    await page.wait_for_url(f"{two.h.url}/dashboard/deliveries/{first_id}")
    assert await page.get_by_text(two.analytics).count() >= 1
    assert blocked == []


async def test_held_deliveries_follow_their_head_without_a_reload(chromium: Any, two: TwoSubscribers) -> None:
    page, blocked = await logged_in(chromium, two.h, DESKTOP)
    await page.goto(f"{two.h.url}/dashboard/jobs/{two.job_id}")
    two.analytics_sink.default = 200  # the analytics endpoint is back
    chain = page.locator("details.chain", has_text=two.analytics)
    await chain.locator("tr[data-delivery]").first.get_by_role("button", name="Retry now").click()
    await page.get_by_text("Retry queued").wait_for()
    await page.wait_for_function(
        """chain => [...chain.querySelectorAll('tr[data-delivery] [data-field=status]')]
            .every(badge => badge.textContent === 'delivered')""",
        arg=await chain.element_handle(),
    )
    assert await chain.get_by_text("waiting for #").count() == 0
    assert await chain.get_by_role("button").count() == 0
    await chain.screenshot(path=ARTIFACTS / "dashboard-waiting-delivered.png")
    assert blocked == []


async def test_deliveries_name_their_subscription_by_url(chromium: Any, two: TwoSubscribers) -> None:
    page, blocked = await logged_in(chromium, two.h, DESKTOP)
    await page.goto(f"{two.h.url}/dashboard/deliveries?status=all")
    rows = page.locator("tr[data-delivery]")
    await rows.first.wait_for()
    for row in await rows.all():
        cell = (await row.locator("td[data-label=Subscription] a.url").text_content()) or ""
        assert cell in (two.orders, two.analytics)
    assert await page.locator("tr[data-delivery]:has-text('waiting for #1')").count() > 0
    await page.screenshot(path=ARTIFACTS / "dashboard-deliveries-urls.png", full_page=True)
    assert blocked == []


async def test_no_page_scrolls_sideways_on_a_phone(chromium: Any, two: TwoSubscribers) -> None:
    page, blocked = await logged_in(chromium, two.h, PHONE)
    items = (await two.h.admin.get("/v1/deliveries", params={"job_id": two.job_id})).json()["items"]
    delivery = items[0]["id"]
    pages = {
        "jobs": "/",
        "job": f"/dashboard/jobs/{two.job_id}",
        "deliveries": "/dashboard/deliveries?status=all",
        "delivery": f"/dashboard/deliveries/{delivery}",
        "subscriptions": "/dashboard/subscriptions",
    }
    page_width = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    for name, path in pages.items():
        await page.goto(f"{two.h.url}{path}")
        await page.screenshot(path=ARTIFACTS / f"dashboard-phone-{name}.png", full_page=True)
        width = await page.evaluate(page_width)
        assert width <= PHONE["width"], f"the {name} page is {width} px wide on a {PHONE['width']} px phone"
        # Open every fold (raw bodies, payloads, attempts, responses): what is inside must fit too.
        await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        width = await page.evaluate(page_width)
        assert width <= PHONE["width"], f"the {name} page, unfolded, is {width} px wide"
    assert blocked == []


# --- thumbnails that cannot load; submission and archive state ------------------------------------


async def test_a_thumbnail_that_cannot_load_leaves_a_small_note(
    chromium: Any, hookline_factory: Any, tmp_path: Path
) -> None:
    h: Hookline = await hookline_factory(f"sqlite:///{tmp_path / 'broken.db'}")
    async with run_server(image_server(), lifespan="off") as images:
        body = fixture_json("mjproxy-blend-10-success.json")
        body["imageUrl"] = f"{images}/expired.png"  # the upstream's link has expired: 404
        job_id = (await h.post_callback("mjproxy", orjson.dumps(body))).json()["job_id"]
        page, blocked = await logged_in(chromium, h, DESKTOP)

        note = page.locator(f"tr[data-job='{job_id}'] a.broken")
        await note.wait_for()
        assert await note.text_content() == "no image"
        assert await note.bounding_box() == {"x": ANY, "y": ANY, "width": 64, "height": 64}
        await page.screenshot(path=ARTIFACTS / "dashboard-jobs-broken-thumbnail.png", full_page=True)

        await page.goto(f"{h.url}/dashboard/jobs/{job_id}")
        note = page.locator("[data-field=images] a.broken")
        await note.wait_for()
        box = await note.bounding_box()
        assert box is not None and box["width"] == 160 and box["height"] <= 48, box  # not a 160 px blank
        assert await note.text_content() == "image unavailable"
        assert await note.get_attribute("href") == body["imageUrl"]  # the link still leads to the original
        await page.screenshot(path=ARTIFACTS / "dashboard-job-broken-thumbnail.png", full_page=True)
    assert blocked == []


async def test_the_job_page_shows_submission_and_archive_state(
    chromium: Any, hookline_factory: Any, tmp_path: Path
) -> None:
    sim = Simulator(Knobs(step_delay=0.02, seed=7, queue_full=10**6))  # every submission: "queue full"
    async with run_server(sim.app()) as upstream, run_server(image_server(), lifespan="off") as images:
        h: Hookline = await hookline_factory(
            f"sqlite:///{tmp_path / 'work.db'}",
            MJPROXY_URL=upstream,
            ARCHIVE="true",
            UPSTREAM_INTERVAL="0.05",
            SUBMIT_BACKOFF="600,600",
            ARCHIVE_RETRY_SCHEDULE="600",
        )
        blend = {"provider": "mjproxy", "images": [f"{upstream}/samples/a.png", f"{upstream}/samples/b.png"]}
        held = (await h.admin.post("/v1/blend", json=blend)).json()["id"]
        kept = await _succeeded_job(h, "kept", f"{images}/result.png")
        expired = await _succeeded_job(h, "expired", f"{images}/expired.png")

        async def settled() -> bool:
            jobs = [(await h.admin.get(f"/v1/jobs/{j}")).json() for j in (held, kept, expired)]
            return (
                jobs[0]["submission"]["last_error"] is not None
                and jobs[1]["archive"]["state"] == "archived"
                and jobs[2]["archive"]["last_error"] is not None
            )

        await wait_for(settled, what="a held submission, an archived job and a failing archive")
        page, blocked = await logged_in(chromium, h, DESKTOP)

        await page.goto(f"{h.url}/dashboard/jobs/{held}")
        panel = page.locator("[data-panel=submission]")
        text = await panel.text_content() or ""
        assert "pending" in text and "mjproxy queue full (code 23)" in text and "Next attempt" in text
        assert "Attempts1" in text.replace(" ", "")
        await page.screenshot(path=ARTIFACTS / "dashboard-job-submission-held.png", full_page=True)

        await page.goto(f"{h.url}/dashboard/jobs/{kept}")
        panel = page.locator("[data-panel=archive]")
        assert "archived" in (await panel.text_content() or "")
        (link,) = await panel.locator("a[href^='/v1/archive/']").all()
        assert re.fullmatch(r"/v1/archive/[0-9a-f]{64}", await link.text_content() or ""), "the archived copy"
        await _wait_image_loaded(page, "[data-field=images] img", 96)  # the thumbnail is the archived copy
        await page.screenshot(path=ARTIFACTS / "dashboard-job-archived.png", full_page=True)

        await page.goto(f"{h.url}/dashboard/jobs/{expired}")
        text = await page.locator("[data-panel=archive]").text_content() or ""
        assert "pending" in text and "image 1: HTTP 404" in text and "Next attempt" in text
        await page.screenshot(path=ARTIFACTS / "dashboard-job-archive-failing.png", full_page=True)
    assert blocked == []


async def _succeeded_job(h: Hookline, name: str, image_url: str) -> str:
    """A job that succeeded with one result image at ``image_url``; its id."""
    body = fixture_json("mjproxy-blend-10-success.json")
    body.update({"id": f"task-{name}", "state": f"order-{name}", "imageUrl": image_url})
    job_id: str = (await h.post_callback("mjproxy", orjson.dumps(body))).json()["job_id"]
    return job_id
