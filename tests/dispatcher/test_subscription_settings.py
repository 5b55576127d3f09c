"""Per-subscription settings at a real subscriber (issue 15): its own headers arrive with every
delivery, its own retry schedule paces its retries, its status / min_progress filters choose what
it gets, and its rate limit holds in every one-second window. Both backends."""

from __future__ import annotations

from typing import Any

import orjson

from hookline.clock import ManualClock, parse_iso
from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, fixture_bytes, fixture_json, wait_for


async def subscribe(h: Hookline, url: str, **body: Any) -> dict[str, Any]:
    response = await h.admin.post("/v1/subscriptions", json={"url": url, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post_lifecycle(h: Hookline) -> None:
    for name in MJPROXY_LIFECYCLE:
        assert (await h.post_callback("mjproxy", fixture_bytes(name))).status_code == 200


def max_in_one_second(times: list[float]) -> int:
    """The most requests that fell into any window [t, t + 1 s)."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_a_subscriptions_headers_arrive_with_every_delivery(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    await subscribe(hookline, f"{url}/hook", headers={"Authorization": "Bearer downstream-key", "X-Team": "render"})
    await post_lifecycle(hookline)
    await wait_for(lambda: len(sink.received) >= 9, what="9 events")
    for received in sink.received:
        assert received.headers["authorization"] == "Bearer downstream-key"
        assert received.headers["x-team"] == "render"
        assert received.headers["content-type"] == "application/json" and received.headers["webhook-signature"]


async def test_changed_headers_apply_to_the_next_delivery(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    sub = await subscribe(hookline, f"{url}/hook", headers={"X-Version": "1"})
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: len(sink.received) >= 1, what="the first event")
    patched = await hookline.admin.patch(f"/v1/subscriptions/{sub['id']}", json={"headers": {"X-Version": "2"}})
    assert patched.status_code == 200, patched.text
    await hookline.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[1]))
    await wait_for(lambda: len(sink.received) >= 2, what="the second event")
    assert [r.headers["x-version"] for r in sink.received] == ["1", "2"]


async def test_a_status_filter_sends_only_events_reporting_those_statuses(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    await subscribe(hookline, f"{url}/outcomes", filter={"status": ["succeeded", "failed"]})
    await subscribe(hookline, f"{url}/all")
    await post_lifecycle(hookline)
    await wait_for(lambda: len(sink.received) >= 10, what="9 events to /all and 1 to /outcomes")
    outcomes = [r.json() for r in sink.received if r.path == "/outcomes"]
    assert [e["type"] for e in outcomes] == ["job.succeeded"]


async def test_min_progress_skips_early_progress_but_never_the_outcome(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    await subscribe(hookline, f"{url}/late", filter={"min_progress": 50})
    await subscribe(hookline, f"{url}/all")
    await post_lifecycle(hookline)

    def late() -> list[Any]:
        return [r.json() for r in sink.received if r.path == "/late"]

    await wait_for(lambda: len([r for r in sink.received if r.path == "/all"]) >= 9, what="every event to /all")
    await wait_for(lambda: any(e["type"] == "job.succeeded" for e in late()), what="the outcome to /late")
    assert [(e["type"], e["data"]["progress"]) for e in late()] == [
        ("job.progress", 62),
        ("job.progress", 78),
        ("job.progress", 93),
        ("job.succeeded", 100),
    ]


async def test_a_subscriptions_own_retry_schedule_paces_its_retries(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    clock = ManualClock()
    # The global schedule would wait an hour; the subscription's own waits 100 s, then gives up.
    h = await hookline_factory(database_url, clock=clock, RETRY_SCHEDULE="3600")
    sink, url = subscriber
    sink.default = 500
    await subscribe(h, f"{url}/hook", retry_schedule=[100])
    await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))
    await wait_for(lambda: len(sink.received) == 1, what="the first attempt")

    async def delivery() -> dict[str, Any]:
        items: list[dict[str, Any]] = (await h.admin.get("/v1/deliveries")).json()["items"]
        return items[0]

    first = await wait_for(lambda: _attempted(delivery), what="the first attempt to be recorded")
    waits = parse_iso(first["next_attempt_at"]) - parse_iso(first["updated_at"])
    assert 80 <= waits <= 120  # 100 s +- 20 % jitter, not the global hour
    clock.advance(121)
    await wait_for(lambda: len(sink.received) == 2, what="the retry after 100 s")
    dead = await wait_for(lambda: _dead(delivery), what="the delivery to be dead: its schedule is exhausted")
    assert dead["attempts"] == 2


async def _attempted(get: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = await get()
    return found if found["attempts"] >= 1 else None


async def _dead(get: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = await get()
    return found if found["status"] == "dead" else None


def lifecycle(job: int) -> list[bytes]:
    """The fixture lifecycle as job ``job`` (its own upstream id and correlation key)."""
    bodies = []
    for name in MJPROXY_LIFECYCLE:
        body = fixture_json(name)
        body["id"], body["state"] = f"rate-{job}", f"order-{job}"
        bodies.append(orjson.dumps(body))
    return bodies


async def test_a_rate_limit_holds_in_every_second(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    await subscribe(hookline, f"{url}/hook", rate_limit=6)
    for job in range(2):  # two chains, each sent as fast as its subscriber answers without the limit
        for body in lifecycle(job):
            assert (await hookline.post_callback("mjproxy", body)).status_code == 200
    await wait_for(lambda: len(sink.received) >= 18, timeout=30, what="18 events")
    times = [r.at for r in sink.received]
    assert max_in_one_second(times) <= 6
    # A limit, not a stall: 18 requests at 6 / 1.1 a second take about 3 s.
    assert max(times) - min(times) < 18 / 6 * 1.1 + 2
