"""The dashboard in a real browser (Debian's chromium, headless, through playwright): log in, see a
job with its thumbnail and timeline, retry dead deliveries and watch them become delivered
without reloading. Screenshots of every page go to ``test-artifacts/``."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import IN_CI, Hookline
from tests.support import REPO, Subscriber, fixture_bytes, fixture_json, run_server, wait_for

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
    """The upstream's CDN: a progress preview (48 px) and the result (96 px)."""
    images = {"preview.png": png(48, 48, (200, 200, 210)), "result.png": png(96, 96, (58, 91, 217))}

    async def image(request: Request) -> Response:
        return Response(images[request.path_params["name"]], media_type="image/png")

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
