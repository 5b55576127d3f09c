"""The archive: result images kept before their links expire, served by hash, announced by event."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
import standardwebhooks

from tests.support import Subscriber, run_server, wait_for
from tests.upstream.conftest import (
    SimFactory,
    Upstreams,
    archived,
    blend,
    download,
    job,
    samples,
    wait_for_jobs,
)


async def test_archived_bytes_are_what_the_upstream_served(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim)
    ids = [(await blend(h, provider, samples(sim), dimensions="portrait"))["id"] for provider in ("mjproxy", "useapi")]
    for j in await wait_for_jobs(h, ids, archived):
        (image,) = j["archive"]["images"]
        assert image["source_url"] == j["image_urls"][0]
        served = await download(image["source_url"])  # what the upstream's CDN serves
        assert hashlib.sha256(served.content).hexdigest() == image["sha256"]
        assert image["bytes"] == len(served.content) and image["content_type"] == "image/png"
        assert image["url"] == f"{h.url}/v1/archive/{image['sha256']}"
        kept = h.config.archive_dir / image["sha256"][:2] / image["sha256"]
        assert kept.read_bytes() == served.content
        event = max(j["events"], key=lambda e: e["sequence"])
        assert event["type"] == "job.archived" and event["payload"]["data"]["archived_images"] == [image]
        assert event["payload"]["data"]["status"] == "succeeded"
        assert j["archive"]["attempts"] == 1 and j["archive"]["last_error"] is None


async def test_the_archive_serves_images_by_hash_without_the_admin_token(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim)
    created = await blend(h, "useapi", samples(sim))
    ((image,),) = [j["archive"]["images"] for j in await wait_for_jobs(h, [created["id"]], archived)]
    response = await h.anon.get(f"/v1/archive/{image['sha256']}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert hashlib.sha256(response.content).hexdigest() == image["sha256"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in response.headers["cache-control"]
    again = await h.anon.get(f"/v1/archive/{image['sha256']}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    for wrong in ("0" * 64, "not-a-hash", image["sha256"].upper()):
        missing = await h.anon.get(f"/v1/archive/{wrong}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_subscribers_get_job_archived_after_job_succeeded(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim)
    sink = Subscriber()
    async with run_server(sink.app(), lifespan="off") as url:
        created = await blend(h, "mjproxy", samples(sim), callback_url=f"{url}/mine")
        secret = created["subscription"]["secret"]
        await wait_for(lambda: any(r.json()["type"] == "job.archived" for r in sink.received), what="job.archived")
    events: list[Any] = [
        standardwebhooks.Webhook(secret).verify(
            r.body, {k: v for k, v in r.headers.items() if k.startswith("webhook-")}
        )
        for r in sink.received
    ]
    assert [e["data"]["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events][-2:] == ["job.succeeded", "job.archived"]
    (image,) = events[-1]["data"]["archived_images"]
    assert set(image) == {"source_url", "url", "sha256", "content_type", "bytes"}
    assert (await download(image["url"])).status_code == 200


async def test_a_failed_download_is_retried_visibly_then_archived(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(cdn_failures=2)
    h = await upstreams.start(sim, ARCHIVE_RETRY_SCHEDULE="0.4,0.4,0.4")
    created = await blend(h, "mjproxy", samples(sim))

    async def failing() -> Any:
        j = await job(h, created["id"])
        return j if j["archive"] and j["archive"]["last_error"] else None

    during = await wait_for(failing, what="a failed archive attempt")
    assert during["archive"]["state"] == "pending" and during["archive"]["next_attempt_at"]
    assert during["archive"]["last_error"] == "image 1: HTTP 503"
    assert "job.archived" not in [e["type"] for e in during["events"]]
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    assert done["archive"]["attempts"] == 3 and done["archive"]["last_error"] is None


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"ALLOW_PRIVATE_TARGETS": "false"}, "refused by the egress guard"),
        ({"ARCHIVE_MAX_BYTES": "1024"}, "is larger than 1024 bytes"),
    ],
)
async def test_a_refusal_that_cannot_change_fails_at_once(
    sim_factory: SimFactory, upstreams: Upstreams, env: dict[str, str], error: str
) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim, **env)
    created = await blend(h, "useapi", samples(sim))  # useapi fetches its inputs itself
    (done,) = await wait_for_jobs(h, [created["id"]], lambda j: j["archive"] and j["archive"]["state"] == "failed")
    assert done["status"] == "succeeded" and done["archive"]["attempts"] == 1
    assert error in done["archive"]["last_error"] and done["archive"]["images"] == []


async def test_an_expired_link_is_given_up_after_the_schedule(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(link_ttl=-1)  # links are dead on arrival
    h = await upstreams.start(sim, ARCHIVE_RETRY_SCHEDULE="0.05,0.05")
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], lambda j: j["archive"] and j["archive"]["state"] == "failed")
    assert done["archive"]["attempts"] == 3 and done["archive"]["last_error"] == "image 1: HTTP 404"
    assert done["archive"]["next_attempt_at"] is None


async def test_subscribers_never_see_the_callback_token(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    # The upstreams echo the callback URL hookline gave them (notifyHook, replyUrl): it holds the token.
    sim = await sim_factory(drop=0.5)
    h = await upstreams.start(sim)
    ids = [(await blend(h, provider, samples(sim)))["id"] for provider in ("mjproxy", "useapi")]
    for j in await wait_for_jobs(h, ids, archived):
        assert h.config.callback_token not in str(j["upstream"])
        for event in j["events"]:
            assert h.config.callback_token not in str(event["payload"]), event["type"]
        assert "/callbacks/" in str(j["upstream"])  # the echo is there, minus the token


async def test_the_dashboard_shows_the_archived_copy_first(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    """Discord links expire within a day: the jobs list and the job page show hookline's copy, with
    the upstream link as the fallback."""
    from tests.hookline.test_dashboard import log_in

    sim = await sim_factory()
    h = await upstreams.start(sim)
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    sha256 = done["archive"]["images"][0]["sha256"]
    async with httpx.AsyncClient(base_url=h.url, timeout=30) as browser:
        await log_in(browser, h.config.admin_token or "")
        for page in ("/", f"/dashboard/jobs/{created['id']}"):
            text = (await browser.get(page)).text
            assert f'src="/v1/archive/{sha256}"' in text, page
        live = (await browser.get("/dashboard/live", params={"jobs": created["id"]})).json()
        assert live["jobs"][created["id"]]["thumbs"][0][0] == f"/v1/archive/{sha256}"
