"""Delivery to real subscriber servers: signed, retried, ordered, never held up by a slow peer."""

from __future__ import annotations

import time
from typing import Any

import pytest
import standardwebhooks
import svix.webhooks

from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, Subscriber, fixture_bytes, run_server, wait_for

FAST_RETRIES = {"RETRY_SCHEDULE": "0.1,0.1"}


async def subscribe(h: Hookline, url: str, **body: Any) -> dict[str, Any]:
    response = await h.admin.post("/v1/subscriptions", json={"url": url, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(h: Hookline, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await h.admin.get("/v1/deliveries", params=params)).json()["items"]
    return items


def verify_both(secret: str, received: Any) -> dict[str, Any]:
    """Verify with both reference libraries; return the event."""
    headers = {k: v for k, v in received.headers.items() if k.startswith("webhook-")}
    event: dict[str, Any] = standardwebhooks.Webhook(secret).verify(received.body, headers)
    svix.webhooks.Webhook(secret).verify(received.body, headers)  # raises WebhookVerificationError if wrong
    return event


async def test_lifecycle_arrives_in_order_and_verifies(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook")
    assert sub["secret"].startswith("whsec_")
    for name in MJPROXY_LIFECYCLE:
        assert (await hookline.post_callback("mjproxy", fixture_bytes(name))).status_code == 200
    await wait_for(lambda: len(sink.received) >= 9, what="9 events")
    events = [verify_both(sub["secret"], r) for r in sink.received]
    assert [e["data"]["sequence"] for e in events] == list(range(1, 10))
    assert [e["type"] for e in events] == ["job.submitted"] + ["job.progress"] * 7 + ["job.succeeded"]
    assert [e["data"]["progress"] for e in events[1:8]] == [0, 15, 31, 46, 62, 78, 93]
    final = events[-1]["data"]
    assert final["status"] == "succeeded" and final["image_urls"] and final["correlation_key"] == "order-7f3a9c"
    assert all(r.headers["content-type"] == "application/json" for r in sink.received)
    assert len({r.headers["webhook-id"] for r in sink.received}) == 9


async def test_failures_are_retried_with_the_same_webhook_id(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, **FAST_RETRIES)
    sink, url = subscriber
    sink.responses = [500, 500, 200]
    await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    (delivery,) = await wait_for(lambda: _delivered(h), what="delivery to succeed")
    assert len(sink.received) == 3
    assert len({r.headers["webhook-id"] for r in sink.received}) == 1
    detail = (await h.admin.get(f"/v1/deliveries/{delivery['id']}")).json()
    assert detail["attempts"] == 3
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500, 200]
    assert all(a["latency_ms"] >= 0 and a["attempted_at"] for a in detail["attempt_log"])
    assert detail["attempt_log"][0]["response_body"] == "nope"


async def _delivered(h: Hookline) -> list[dict[str, Any]]:
    return await deliveries(h, status="delivered")


async def test_gone_disables_the_subscription(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    sink.default = 410
    sub = await subscribe(hookline, f"{url}/hook")
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

    async def disabled() -> bool:
        got = (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
        return not got["enabled"]

    await wait_for(disabled, what="the subscription to be disabled")
    got = (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
    assert "410" in got["disabled_reason"]
    sink.default = 200
    patched = await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": True})
    assert patched.json()["enabled"] is True
    await wait_for(lambda: _delivered(hookline), what="delivery after re-enabling")


async def test_a_redirect_is_a_failure_and_is_not_followed(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    sink.default = 302
    sink.responses = [(302, {"location": f"{url}/moved-here"})]
    await subscribe(hookline, f"{url}/hook")
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

    async def failed_once() -> list[dict[str, Any]]:
        return [d for d in await deliveries(hookline) if d["attempts"] >= 1]

    (delivery,) = await wait_for(failed_once, what="the first attempt")
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
    assert "redirect" in delivery["last_error"]
    assert [r.path for r in sink.received] == ["/hook"]


async def test_exhausted_delivery_is_dead_then_retry_delivers(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, **FAST_RETRIES)
    sink, url = subscriber
    sink.default = 503
    await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    (dead,) = await wait_for(lambda: deliveries(h, status="dead"), what="the delivery to die")
    assert dead["attempts"] == 3 and dead["next_attempt_at"] is None
    sink.default = 200
    retried = await h.admin.post(f"/v1/deliveries/{dead['id']}/retry")
    assert retried.status_code == 202
    await wait_for(lambda: _delivered(h), what="the retried delivery")
    assert len(sink.received) == 4


async def test_replay_sends_past_events_again(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    since = time.time() - 1
    for name in MJPROXY_LIFECYCLE[:2]:
        await hookline.post_callback("mjproxy", fixture_bytes(name))
    sub = await subscribe(hookline, f"{url}/hook")
    assert sink.received == []
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    response = await hookline.admin.post(f"/v1/subscriptions/{sub['id']}/replay", json={"since": iso})
    assert response.status_code == 202 and response.json() == {"replayed": 2}
    await wait_for(lambda: len(sink.received) == 2, what="the replayed events")
    assert [r.json()["data"]["sequence"] for r in sink.received] == [1, 2]


async def test_rotation_signs_with_both_secrets(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook")
    rotated = (await hookline.admin.post(f"/v1/subscriptions/{sub['id']}/rotate-secret")).json()
    assert rotated["secret"] != sub["secret"]
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: sink.received, what="an event")
    received = sink.received[0]
    tokens = received.headers["webhook-signature"].split(" ")
    assert len(tokens) == 2 and all(t.startswith("v1,") for t in tokens)
    verify_both(sub["secret"], received)
    verify_both(rotated["secret"], received)


async def test_a_slow_subscriber_does_not_delay_another(hookline: Hookline) -> None:
    slow, fast = Subscriber(delay=5.0), Subscriber()
    async with run_server(slow.app(), lifespan="off") as slow_url, run_server(fast.app(), lifespan="off") as fast_url:
        await subscribe(hookline, f"{slow_url}/hook")
        await subscribe(hookline, f"{fast_url}/hook")
        started = time.monotonic()
        for i in range(5):
            body = {"id": f"slow-{i}", "status": "SUBMITTED", "progress": "0%"}
            await hookline.post_callback("mjproxy", __import__("orjson").dumps(body))
        await wait_for(lambda: len(fast.received) == 5, timeout=4.0, what="the fast subscriber's events")
        assert time.monotonic() - started < 4.0
        assert len(slow.received) >= 1  # the slow one is being served too, just slowly


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_private_targets_are_refused_at_subscription_time(
    hookline_factory: Any, database_url: str, url: str
) -> None:
    h = await hookline_factory(database_url, ALLOW_PRIVATE_TARGETS="false")
    response = await h.admin.post("/v1/subscriptions", json={"url": url})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "url_refused"
