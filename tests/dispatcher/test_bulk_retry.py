"""``POST /v1/deliveries/retry`` (issue 14): every delivery a filter matches is sent again now, each
job's still in sequence order. Real subscribers on loopback, both backends."""

from __future__ import annotations

from typing import Any

from tests.conftest import Hookline
from tests.dispatcher.test_delivery import deliveries, subscribe
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, wait_for

NO_RETRIES = {"RETRY_SCHEDULE": "0.05"}  # one retry, then dead


async def dead_for(h: Hookline, sink: Any, url: str, path: str, callbacks: int = 1) -> dict[str, Any]:
    """A subscription at ``path`` whose events from the first ``callbacks`` lifecycle callbacks
    all went dead."""
    sub = await subscribe(h, f"{url}{path}")
    sink.default = 500
    for name in MJPROXY_LIFECYCLE[:callbacks]:
        await h.post_callback("mjproxy", fixture_bytes(name))

    async def all_dead() -> bool:
        found = await deliveries(h, subscription_id=sub["id"])
        return bool(found) and all(d["status"] == "dead" for d in found)

    await wait_for(all_dead, what="every delivery dead")
    return sub


async def test_dead_deliveries_are_sent_again_in_order(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, **NO_RETRIES)
    sink, url = subscriber
    sub = await dead_for(h, sink, url, "/hook", callbacks=3)
    dead = len(await deliveries(h, status="dead"))
    assert dead >= 2
    sink.default = 200
    sink.received.clear()
    response = await h.admin.post("/v1/deliveries/retry", json={})
    assert response.status_code == 202
    assert response.json() == {"queued": dead}
    await wait_for(lambda: len(sink.received) >= dead, what="the dead deliveries sent again")
    assert [r.json()["data"]["sequence"] for r in sink.received] == list(range(1, dead + 1))

    async def all_delivered() -> bool:
        return len(await deliveries(h, subscription_id=sub["id"], status="delivered")) == dead

    await wait_for(all_delivered, what="every one delivered")


async def test_retry_by_subscription_leaves_the_others_dead(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, **NO_RETRIES)
    sink, url = subscriber
    await subscribe(h, f"{url}/other")
    sub = await dead_for(h, sink, url, "/hook")

    async def both_dead() -> bool:
        return len(await deliveries(h, status="dead")) == 2

    await wait_for(both_dead, what="the other subscription's delivery dead too")
    response = await h.admin.post("/v1/deliveries/retry", json={"subscription_id": sub["id"]})
    assert response.json() == {"queued": 1}
    others = [d for d in await deliveries(h, status="dead") if d["subscription_id"] != sub["id"]]
    assert len(others) == 1


async def test_nothing_matching_queues_nothing(hookline: Hookline) -> None:
    response = await hookline.admin.post(
        "/v1/deliveries/retry", json={"status": "pending", "event_type": "job.failed", "since": "2026-01-01T00:00:00Z"}
    )
    assert response.status_code == 202
    assert response.json() == {"queued": 0}


async def test_an_empty_body_retries_every_dead_delivery(hookline: Hookline) -> None:
    response = await hookline.admin.post("/v1/deliveries/retry")
    assert response.status_code == 202
    assert response.json() == {"queued": 0}


async def test_a_pending_retry_sends_a_waiting_delivery_now(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="3600")
    sink, url = subscriber
    sink.responses = [500]
    await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

    async def waiting() -> bool:
        found = await deliveries(h, status="pending")
        return bool(found and found[0]["attempts"] == 1)

    await wait_for(waiting, what="the first attempt to fail")
    response = await h.admin.post("/v1/deliveries/retry", json={"status": "pending"})
    assert response.json() == {"queued": 1}
    await wait_for(lambda: len(sink.received) >= 2, what="the retry, an hour early")


async def test_since_and_until_bound_the_retry(hookline_factory: Any, database_url: str, subscriber: Any) -> None:
    h = await hookline_factory(database_url, **NO_RETRIES)
    sink, url = subscriber
    await dead_for(h, sink, url, "/hook")
    later = {"since": "2099-01-01T00:00:00Z"}
    assert (await h.admin.post("/v1/deliveries/retry", json=later)).json() == {"queued": 0}
    earlier = {"since": "2020-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}
    assert (await h.admin.post("/v1/deliveries/retry", json=earlier)).json() == {"queued": 1}


async def test_bad_fields_are_refused(hookline: Hookline) -> None:
    for body in (
        {"status": "delivered"},
        {"event_type": "job.nope"},
        {"since": "yesterday"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"colour": "red"},
    ):
        response = await hookline.admin.post("/v1/deliveries/retry", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_field"
