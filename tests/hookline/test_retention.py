"""Retention and erasure against a running hookline, on both backends: ``DELETE /v1/jobs...``
erases a job with everything that hangs off it (pending deliveries cancelled, the dispatcher
unbothered); the pruner deletes what is older than ``HOOKLINE_RETENTION`` (rows aged with a
ManualClock) and never a non-terminal job or a pending delivery."""

from __future__ import annotations

from typing import Any

import orjson

from hookline.clock import ManualClock
from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, Subscriber, fixture_bytes, run_server, wait_for

RETENTION = 1000.0
PRUNING = {"RETENTION": str(int(RETENTION)), "PRUNE_INTERVAL": "0.05"}


def callback(name: str, task_id: str, key: str) -> bytes:
    """A fixture callback of the mjproxy lifecycle, for the task ``task_id`` with state ``key``."""
    body = orjson.loads(fixture_bytes(name))
    body["id"], body["state"] = task_id, key
    return orjson.dumps(body)


async def run_job(h: Hookline, task_id: str, key: str, steps: list[str] = MJPROXY_LIFECYCLE) -> str:
    for name in steps:
        response = await h.post_callback("mjproxy", callback(name, task_id, key))
        assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def subscribe(h: Hookline, url: str) -> None:
    assert (await h.admin.post("/v1/subscriptions", json={"url": url})).status_code == 201


async def items(h: Hookline, path: str, **params: str) -> list[dict[str, Any]]:
    response = await h.admin.get(path, params={"limit": "500", **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def settled(h: Hookline) -> None:
    async def no_pending() -> bool:
        return not await items(h, "/v1/deliveries", status="pending")

    await wait_for(no_pending, what="every delivery finished")


# erasure -------------------------------------------------------------------------------------------
async def test_erasing_a_job_deletes_it_with_its_callbacks_events_deliveries_and_attempts(
    hookline: Hookline, subscriber: Any
) -> None:
    _, url = subscriber
    await subscribe(hookline, f"{url}/hook")
    job_id = await run_job(hookline, "1001", "erase-me")
    kept = await run_job(hookline, "1002", "keep-me", MJPROXY_LIFECYCLE[:2])
    await settled(hookline)

    response = await hookline.admin.delete(f"/v1/jobs/{job_id}")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "deleted": {
            "jobs": 1,
            "callbacks": 10,
            "events": 9,
            "deliveries": 9,
            "attempts": 9,
            "subscriptions": 0,
            "archived_images": 0,
        }
    }
    assert (await hookline.admin.get(f"/v1/jobs/{job_id}")).status_code == 404
    assert await items(hookline, "/v1/deliveries", job_id=job_id) == []
    assert await items(hookline, "/v1/events", job_id=job_id) == []
    assert all(c["job_id"] == kept for c in await items(hookline, "/v1/callbacks"))
    assert (await hookline.admin.get(f"/v1/jobs/{kept}")).status_code == 200


async def test_erasing_a_registered_job_counts_and_deletes_its_callback_url_subscription(
    hookline: Hookline, subscriber: Any
) -> None:
    _, url = subscriber
    body = {"provider": "mjproxy", "correlation_key": "one-off", "callback_url": f"{url}/once"}
    registered = await hookline.admin.post("/v1/jobs", json=body)
    assert registered.status_code == 201, registered.text
    job_id = registered.json()["id"]
    assert [s["url"] for s in await items(hookline, "/v1/subscriptions", job_id=job_id)] == [f"{url}/once"]

    response = await hookline.admin.delete(f"/v1/jobs/{job_id}")

    assert response.status_code == 200, response.text
    assert response.json()["deleted"]["jobs"] == response.json()["deleted"]["subscriptions"] == 1
    assert await items(hookline, "/v1/subscriptions", job_id=job_id) == []


async def test_erasing_an_unknown_job_is_404(hookline: Hookline) -> None:
    response = await hookline.admin.delete("/v1/jobs/job_01JNOSUCHJOB0000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_erasing_by_correlation_key_prefix_erases_only_the_matching_jobs(hookline: Hookline) -> None:
    for task_id, key in (("2001", "user-1-a"), ("2002", "user-1-b"), ("2003", "user-10"), ("2004", "user-2")):
        await run_job(hookline, task_id, key, MJPROXY_LIFECYCLE[:2])

    response = await hookline.admin.delete("/v1/jobs", params={"correlation_key_prefix": "user-1-"})

    assert response.status_code == 200, response.text
    assert response.json()["deleted"]["jobs"] == 2 and response.json()["deleted"]["callbacks"] == 4
    assert sorted(j["correlation_key"] for j in await items(hookline, "/v1/jobs")) == ["user-10", "user-2"]


async def test_erasing_by_exact_correlation_key_leaves_longer_keys(hookline: Hookline) -> None:
    await run_job(hookline, "3001", "user-1", MJPROXY_LIFECYCLE[:2])
    await run_job(hookline, "3002", "user-10", MJPROXY_LIFECYCLE[:2])

    response = await hookline.admin.delete("/v1/jobs", params={"correlation_key": "user-1"})

    assert response.json()["deleted"]["jobs"] == 1
    assert [j["correlation_key"] for j in await items(hookline, "/v1/jobs")] == ["user-10"]


async def test_erasing_without_a_key_or_prefix_is_refused(hookline: Hookline) -> None:
    await run_job(hookline, "4001", "k", MJPROXY_LIFECYCLE[:1])
    for params in ({}, {"correlation_key_prefix": ""}, {"correlation_key": "a", "correlation_key_prefix": "a"}):
        response = await hookline.admin.delete("/v1/jobs", params=params)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"
    assert len(await items(hookline, "/v1/jobs")) == 1


async def test_erasing_a_job_cancels_its_pending_deliveries_and_delivery_goes_on(
    hookline_factory: Any, database_url: str
) -> None:
    """A delivery in flight when its job is erased vanishes under the dispatcher: nothing crashes,
    nothing of the job comes back, and the next job's events are delivered."""
    h = await hookline_factory(database_url)
    slow = Subscriber(delay=1.0)
    async with run_server(slow.app(), lifespan="off") as url:
        await subscribe(h, f"{url}/hook")
        job_id = await run_job(h, "5001", "erase-in-flight", MJPROXY_LIFECYCLE[:4])
        await wait_for(lambda: len(slow.received) >= 1, what="the first delivery in flight")

        response = await h.admin.delete(f"/v1/jobs/{job_id}")
        assert response.status_code == 200
        deleted = response.json()["deleted"]
        assert deleted["deliveries"] == deleted["events"] == 3  # one in flight, two waiting behind it

        slow.delay = 0.0
        other = await run_job(h, "5002", "after", MJPROXY_LIFECYCLE[:2])
        await wait_for(lambda: sum(e["data"]["job_id"] == other for e in slow.events()) == 2, what="the next job")
        assert [e["data"]["job_id"] for e in slow.events()].count(job_id) == 1  # only the one in flight
        assert await items(h, "/v1/deliveries", job_id=job_id) == []


# the pruner ----------------------------------------------------------------------------------------
async def test_the_pruner_deletes_old_terminal_jobs_and_keeps_open_ones(
    hookline_factory: Any, database_url: str, subscriber: Any
) -> None:
    clock = ManualClock()
    h = await hookline_factory(database_url, clock=clock, **PRUNING)
    _, url = subscriber
    await subscribe(h, f"{url}/hook")
    done = await run_job(h, "6001", "done")
    open_job = await run_job(h, "6002", "open", MJPROXY_LIFECYCLE[:3])
    rejected = await h.post_callback("mjproxy", b"{not json")
    assert rejected.status_code == 400
    await settled(h)

    clock.advance(RETENTION + 1)

    async def pruned() -> bool:
        return (await h.admin.get(f"/v1/jobs/{done}")).status_code == 404

    await wait_for(pruned, what="the old succeeded job pruned")
    assert (await h.admin.get(f"/v1/jobs/{open_job}")).status_code == 200
    assert await items(h, "/v1/events", job_id=done) == []
    # The open job keeps the callbacks its events carry; its duplicate and the rejected one went.
    callbacks = await items(h, "/v1/callbacks")
    assert [(c["job_id"], c["outcome"]) for c in callbacks] == [(open_job, "applied")] * 2
    assert {e["data"]["job_id"] for e in [*(await items(h, "/v1/events"))]} == {open_job}
    # The open job's finished deliveries are old too: they go; its events stay.
    await wait_for(lambda: _no_rows(h, "/v1/deliveries", job_id=open_job), what="the open job's old deliveries pruned")
    assert len(await items(h, "/v1/events", job_id=open_job)) == 2
    metrics = (await h.anon.get("/metrics")).text
    assert 'hookline_pruned_total{kind="jobs"} 1.0' in metrics
    assert 'hookline_pruned_total{kind="callbacks"} 12.0' in metrics  # 10 with the job, 2 nothing refers to


async def _no_rows(h: Hookline, path: str, **params: str) -> bool:
    return not await items(h, path, **params)


async def test_the_pruner_keeps_a_terminal_job_while_a_delivery_is_pending(
    hookline_factory: Any, database_url: str
) -> None:
    clock = ManualClock()
    h = await hookline_factory(database_url, clock=clock, RETRY_SCHEDULE="86400", **PRUNING)
    failing = Subscriber(default=500)
    async with run_server(failing.app(), lifespan="off") as url:
        await subscribe(h, f"{url}/hook")
        job_id = await run_job(h, "7001", "waiting", MJPROXY_LIFECYCLE[:1] + MJPROXY_LIFECYCLE[-1:])
        await wait_for(lambda: len(failing.received) >= 1, what="a failed attempt")
        assert (await h.post_callback("mjproxy", b"{not json")).status_code == 400

        clock.advance(RETENTION + 1)

        await wait_for(lambda: _no_rows(h, "/v1/callbacks", outcome="rejected"), what="a pruner run")
        assert (await h.admin.get(f"/v1/jobs/{job_id}")).status_code == 200
        assert len(await items(h, "/v1/deliveries", job_id=job_id, status="pending")) == 2
        assert len(await items(h, "/v1/events", job_id=job_id)) == 2
