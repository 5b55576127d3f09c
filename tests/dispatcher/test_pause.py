"""Paused subscriptions (issue 14): deliveries are queued for every matching event but held; on
resume they go out, per job in sequence order. Real subscribers on loopback, both backends."""

from __future__ import annotations

from typing import Any

from tests.conftest import Hookline
from tests.dispatcher.test_delivery import deliveries, subscribe
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, wait_for

FAST_RETRIES = {"RETRY_SCHEDULE": "0.1,0.1"}


async def pause(h: Hookline, sub_id: str, paused: bool) -> dict[str, Any]:
    response = await h.admin.patch(f"/v1/subscriptions/{sub_id}", json={"paused": paused})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def paths(sink: Any, path: str) -> list[Any]:
    return [r for r in sink.received if r.path == path]


async def test_a_subscription_is_not_paused_until_told(hookline: Hookline, subscriber: Any) -> None:
    _, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook")
    assert sub["paused"] is False
    assert (await pause(hookline, sub["id"], True))["paused"] is True
    assert (await hookline.admin.get(f"/v1/subscriptions/{sub['id']}")).json()["paused"] is True


async def test_a_paused_subscription_queues_but_sends_nothing(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    held = await subscribe(hookline, f"{url}/held")
    await subscribe(hookline, f"{url}/live")
    await pause(hookline, held["id"], True)
    for name in MJPROXY_LIFECYCLE:
        assert (await hookline.post_callback("mjproxy", fixture_bytes(name))).status_code == 200
    await wait_for(lambda: len(paths(sink, "/live")) >= 9, what="the live subscription to get 9 events")
    queued = await deliveries(hookline, subscription_id=held["id"])
    assert len(queued) == 9 and {d["status"] for d in queued} == {"pending"}
    assert paths(sink, "/held") == []


async def test_resuming_sends_the_held_events_in_sequence_order(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    held = await subscribe(hookline, f"{url}/held")
    await pause(hookline, held["id"], True)
    for name in MJPROXY_LIFECYCLE:
        await hookline.post_callback("mjproxy", fixture_bytes(name))

    async def all_queued() -> bool:
        return len(await deliveries(hookline, subscription_id=held["id"])) == 9

    await wait_for(all_queued, what="9 deliveries queued")
    await pause(hookline, held["id"], False)
    await wait_for(lambda: len(paths(sink, "/held")) >= 9, what="9 events after resuming")
    assert [r.json()["data"]["sequence"] for r in paths(sink, "/held")] == list(range(1, 10))


async def test_a_failed_attempt_is_held_while_paused(hookline_factory: Any, database_url: str, subscriber: Any) -> None:
    h = await hookline_factory(database_url, **FAST_RETRIES)
    sink, url = subscriber
    sink.responses = [500]
    sink.delay = 0.5  # the pause lands while the first attempt is in flight
    sub = await subscribe(h, f"{url}/hook")
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: len(sink.received) >= 1, what="the first attempt")
    await pause(h, sub["id"], True)
    (delivery,) = await wait_for(lambda: deliveries(h, subscription_id=sub["id"]), what="the delivery")

    async def attempted_and_held() -> bool:
        d = (await h.admin.get(f"/v1/deliveries/{delivery['id']}")).json()
        return bool(d["attempts"] == 1 and d["next_attempt_at"] is None)

    await wait_for(attempted_and_held, what="the failed attempt recorded and held")
    assert len(sink.received) == 1
    await pause(h, sub["id"], False)
    await wait_for(lambda: len(sink.received) >= 2, what="the retry after resuming")


async def test_a_disabled_subscription_queues_nothing_even_unpaused(hookline: Hookline, subscriber: Any) -> None:
    _, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook")
    await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": False, "paused": False})
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    assert (await hookline.admin.get("/v1/jobs")).json()["items"]
    assert await deliveries(hookline, subscription_id=sub["id"]) == []


async def test_paused_must_be_a_boolean(hookline: Hookline, subscriber: Any) -> None:
    _, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook")
    response = await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"paused": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"
