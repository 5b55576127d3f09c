"""``/metrics``: after a known sequence of callbacks and deliveries, the numbers are the right ones."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Hookline
from tests.support import MJPROXY_LIFECYCLE, Subscriber, fixture_bytes, run_server, wait_for


async def scrape(h: Hookline) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` keyed by (name, sorted labels)."""
    response = await h.anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def subscribe(h: Hookline, url: str, **body: Any) -> dict[str, Any]:
    response = await h.admin.post("/v1/subscriptions", json={"url": url, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_metrics_count_callbacks_events_deliveries_and_disablings(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.1,0.1")
    healthy, gone, broken = Subscriber(), Subscriber(default=410), Subscriber(default=503)
    async with (
        run_server(healthy.app(), lifespan="off") as healthy_url,
        run_server(gone.app(), lifespan="off") as gone_url,
        run_server(broken.app(), lifespan="off") as broken_url,
    ):
        await subscribe(h, f"{healthy_url}/hook")  # gets all 9 events
        await subscribe(h, f"{gone_url}/hook", event_types=["job.submitted"])  # 410: disabled at once
        await subscribe(h, f"{broken_url}/hook", event_types=["job.succeeded"])  # 503 x3: dead

        for name in MJPROXY_LIFECYCLE:  # 9 applied, 1 duplicate (two snapshots at 0 %)
            assert (await h.post_callback("mjproxy", fixture_bytes(name))).status_code == 200
        await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[-1]))  # a second duplicate
        assert (await h.post_callback("mjproxy", b"not json")).status_code == 400  # rejected

        async def settled() -> bool:
            dead = (await h.admin.get("/v1/deliveries", params={"status": "dead"})).json()["items"]
            return len(healthy.received) == 9 and len(dead) == 1 and len(gone.received) == 1

        await wait_for(settled, timeout=15, what="9 deliveries, 1 dead and 1 answered 410")
        m = await scrape(h)

    assert value(m, "hookline_callbacks_received_total", provider="mjproxy", outcome="applied") == 9
    assert value(m, "hookline_callbacks_received_total", provider="mjproxy", outcome="duplicate") == 2
    assert value(m, "hookline_callbacks_received_total", provider="mjproxy", outcome="rejected") == 1
    assert value(m, "hookline_ingest_seconds_count", provider="mjproxy") == 11  # rejected ones are not timed
    assert value(m, "hookline_events_total", type="job.submitted") == 1
    assert value(m, "hookline_events_total", type="job.progress") == 7
    assert value(m, "hookline_events_total", type="job.succeeded") == 1
    assert value(m, "hookline_delivery_attempts_total", result="delivered") == 9
    # 410 leaves its delivery waiting for re-enabling (retry); the 503s retry twice, then die.
    assert value(m, "hookline_delivery_attempts_total", result="retry") == 1 + 2
    assert value(m, "hookline_delivery_attempts_total", result="dead") == 1
    assert value(m, "hookline_delivery_attempt_seconds_count") == 13
    assert value(m, "hookline_subscriptions_disabled_total", reason="gone") == 1
    assert value(m, "hookline_subscriptions_disabled_total", reason="failing") == 0
    assert value(m, "hookline_deliveries_pending") == 1  # the one paused by the 410
    assert value(m, "hookline_deliveries_dead") == 1
    assert value(m, "hookline_deliveries_oldest_pending_age_seconds") > 0
    assert "# TYPE hookline_reconciler_polls_total counter" in (await h.anon.get("/metrics")).text


async def test_a_subscription_failing_too_long_is_counted_disabled_once(
    hookline_factory: Any, database_url: str
) -> None:
    h = await hookline_factory(database_url, RETRY_SCHEDULE="0.4,0.4,0.4,0.4,0.4", DISABLE_AFTER="1")
    failing = Subscriber(default=500)
    async with run_server(failing.app(), lifespan="off") as url:
        sub = await subscribe(h, f"{url}/hook")
        await h.post_callback("mjproxy", fixture_bytes(MJPROXY_LIFECYCLE[0]))

        async def disabled() -> bool:
            got = (await h.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
            return not got["enabled"]

        await wait_for(disabled, timeout=10, what="the subscription to be disabled for failing")
        m = await scrape(h)
    got = (await h.admin.get(f"/v1/subscriptions/{sub['id']}")).json()
    assert got["disabled_reason"].startswith("failing without a success since")
    assert value(m, "hookline_subscriptions_disabled_total", reason="failing") == 1
    assert value(m, "hookline_subscriptions_disabled_total", reason="gone") == 0


async def test_metrics_on_an_idle_instance_show_an_empty_backlog(hookline: Hookline) -> None:
    m = await scrape(hookline)
    assert value(m, "hookline_deliveries_pending") == 0
    assert value(m, "hookline_deliveries_oldest_pending_age_seconds") == 0
