"""Operational events (issue 14): subscription.failing / .recovered / .disabled and delivery.dead,
sent signed to the subscriptions that name them, never to the one they are about. Real
subscribers on loopback, both backends; every body is checked against the catalogue's schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Hookline
from tests.dispatcher.test_delivery import deliveries, subscribe, verify_both
from tests.support import MJPROXY_LIFECYCLE, Subscriber, fixture_bytes, run_server, wait_for

OPERATIONAL = ["subscription.disabled", "subscription.failing", "subscription.recovered", "delivery.dead"]


@pytest.fixture
async def watcher() -> AsyncIterator[tuple[Subscriber, str]]:
    """A second endpoint, healthy, for the subscription that is told."""
    sink = Subscriber()
    async with run_server(sink.app(), lifespan="off") as url:
        yield sink, url


def types(sink: Subscriber) -> list[str]:
    return [e["type"] for e in sink.events()]


async def test_four_failures_in_a_row_then_a_success_tell_failing_then_recovered(
    hookline_factory: Any, database_url: str, subscriber: Any, watcher: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05,0.05,0.05,0.05,0.05")
    sink, url = subscriber
    told, watch_url = watcher
    sink.responses = [500, 500, 500, 503]
    watching = await subscribe(h, f"{watch_url}/ops", event_types=OPERATIONAL)
    subject = await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: len(told.received) >= 2, what="failing and recovered")
    failing, recovered = (verify_both(watching["secret"], r) for r in told.received)
    assert failing["type"] == "subscription.failing" and recovered["type"] == "subscription.recovered"
    assert failing["data"] == {
        "subscription_id": subject["id"],
        "url": f"{url}/hook",
        "attempts": 4,
        "last_error": "HTTP 503",
    }
    assert recovered["data"] == {"subscription_id": subject["id"], "url": f"{url}/hook"}
    assert types(sink) == ["job.submitted"] * 5  # the subject is never told about itself


async def test_failing_is_told_once_per_spell(
    hookline_factory: Any, database_url: str, subscriber: Any, watcher: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.02,0.02,0.02,0.02,0.02,0.02,0.02")
    sink, url = subscriber
    told, watch_url = watcher
    sink.default = 500
    await subscribe(h, f"{watch_url}/ops", event_types=["subscription.failing"])
    await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

    async def dead() -> bool:
        return bool(await deliveries(h, status="dead"))

    await wait_for(lambda: len(sink.received) >= 8, what="8 failed attempts")
    await wait_for(dead, what="the delivery to go dead")
    await wait_for(lambda: told.received, what="failing")
    assert types(told) == ["subscription.failing"]


async def test_a_dead_delivery_is_told_with_what_was_lost(
    hookline_factory: Any, database_url: str, subscriber: Any, watcher: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05")
    sink, url = subscriber
    told, watch_url = watcher
    sink.default = 500
    await subscribe(h, f"{watch_url}/ops", event_types=["delivery.dead"])
    subject = await subscribe(h, f"{url}/hook")
    job_id = (await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))).json()["job_id"]
    await wait_for(lambda: told.received, what="delivery.dead")
    (event,) = told.events()
    (lost,) = await deliveries(h, subscription_id=subject["id"])
    assert event["type"] == "delivery.dead"
    assert event["data"] == {
        "subscription_id": subject["id"],
        "url": f"{url}/hook",
        "delivery_id": lost["id"],
        "event_id": lost["event_id"],
        "event_type": "job.submitted",
        "job_id": job_id,
        "attempts": 2,
        "last_error": "HTTP 500",
    }


async def test_a_gone_subscriber_is_told_as_disabled(hookline: Hookline, subscriber: Any, watcher: Any) -> None:
    sink, url = subscriber
    told, watch_url = watcher
    sink.default = 410
    await subscribe(hookline, f"{watch_url}/ops", event_types=OPERATIONAL)
    subject = await subscribe(hookline, f"{url}/hook")
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: "subscription.disabled" in types(told), what="subscription.disabled")
    (event,) = [e for e in told.events() if e["type"] == "subscription.disabled"]
    assert event["data"]["subscription_id"] == subject["id"] and event["data"]["url"] == f"{url}/hook"
    assert "410" in event["data"]["reason"]


async def test_only_subscriptions_that_name_them_get_operational_events(
    hookline_factory: Any, database_url: str, subscriber: Any, watcher: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05")
    sink, url = subscriber
    told, watch_url = watcher
    sink.default = 500
    await subscribe(h, f"{watch_url}/ops", event_types=["delivery.dead"])
    await subscribe(h, f"{watch_url}/jobs")  # no event_types: job.* only
    # The subject names delivery.dead too, but is never told about its own.
    subject = await subscribe(h, f"{url}/hook", event_types=["job.submitted", "delivery.dead"])
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: [r for r in told.received if r.path == "/ops"], what="delivery.dead")
    assert [r.json()["type"] for r in told.received if r.path == "/jobs"] == ["job.submitted"]
    assert {d["event_type"] for d in await deliveries(h, subscription_id=subject["id"])} == {"job.submitted"}


async def test_operational_events_are_in_the_feed_without_a_job(
    hookline_factory: Any, database_url: str, subscriber: Any, watcher: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.05")
    sink, url = subscriber
    told, watch_url = watcher
    sink.default = 500
    watching = await subscribe(h, f"{watch_url}/ops", event_types=["delivery.dead"])
    await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: told.received, what="delivery.dead")
    feed = (await h.admin.get("/v1/events")).json()["items"]
    assert [e["type"] for e in feed] == ["job.submitted", "delivery.dead"]
    assert feed[1]["id"] == told.received[0].headers["webhook-id"]
    assert "upstream" not in feed[1]["data"]
    only = (await h.admin.get("/v1/events", params={"type": "delivery.dead"})).json()["items"]
    assert [e["id"] for e in only] == [feed[1]["id"]]
    (told_delivery,) = await deliveries(h, subscription_id=watching["id"])
    assert told_delivery["job_id"] is None and told_delivery["status"] == "delivered"


async def test_an_operator_disabling_a_subscription_is_told_too(
    hookline: Hookline, subscriber: Any, watcher: Any
) -> None:
    _, url = subscriber
    told, watch_url = watcher
    await subscribe(hookline, f"{watch_url}/ops", event_types=["subscription.disabled"])
    subject = await subscribe(hookline, f"{url}/hook")
    await hookline.admin.patch(f"/v1/subscriptions/{subject['id']}", json={"enabled": False})
    await wait_for(lambda: told.received, what="subscription.disabled")
    (event,) = told.events()
    assert event["data"] == {
        "subscription_id": subject["id"],
        "url": f"{url}/hook",
        "reason": "disabled by an operator",
    }
