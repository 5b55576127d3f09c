"""Fifty blends through unreliable upstreams: every one ends succeeded and archived."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import standardwebhooks

from tests.support import Subscriber, run_server, wait_for
from tests.upstream.conftest import SimFactory, Upstreams, archived, blend, samples, wait_for_jobs

JOBS_PER_PROVIDER = 25


async def test_fifty_jobs_survive_dropped_and_reordered_callbacks(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    # 30 % of callbacks never sent, every other one held back past later ones, a few sent twice.
    sim = await sim_factory(drop=0.3, reorder=1.0, duplicate=0.1, step_delay=0.02, mjproxy_slots=10)
    h = await upstreams.start(sim, USEAPI_MAX_JOBS="10")
    sink = Subscriber()
    async with run_server(sink.app(), lifespan="off") as url:
        sub = (await h.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
        ids = [
            (await blend(h, provider, samples(sim, f"a{i}", f"b{i}")))["id"]
            for i in range(JOBS_PER_PROVIDER)
            for provider in ("mjproxy", "useapi")
        ]
        jobs = await wait_for_jobs(h, ids, archived, timeout=60, what="50 archived jobs")
        await wait_for(
            lambda: sum(r.json()["type"] == "job.archived" for r in sink.received) == len(ids),
            timeout=20,
            what="50 job.archived deliveries",
        )
    assert sum(cb.dropped for cb in sim.sim.callbacks) > 0

    for j in jobs:
        assert j["status"] == "succeeded" and j["progress"] == 100 and j["error"] is None
        assert j["submission"]["state"] == "sent"
    polled = [j for j in jobs if any(c["source"] == "poll" for c in j["callbacks"])]
    assert polled, "with 30 % of callbacks dropped, some jobs must have been reconciled by polling"

    served = {
        path: hashlib.sha256(sim.sim.image_bytes(path)).hexdigest()
        for path in {j["image_urls"][0].split("?", 1)[0].removeprefix(sim.url) for j in jobs}
    }
    for j in jobs:
        (image,) = j["archive"]["images"]
        assert image["sha256"] == served[image["source_url"].split("?", 1)[0].removeprefix(sim.url)]

    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sink.received:
        headers = {k: v for k, v in r.headers.items() if k.startswith("webhook-")}
        event = standardwebhooks.Webhook(sub["secret"]).verify(r.body, headers)
        by_job[event["data"]["job_id"]].append(event)
    assert set(by_job) == set(ids)
    for events in by_job.values():
        sequences = [e["data"]["sequence"] for e in events]
        assert sequences == list(range(1, len(events) + 1))  # in order, none missing, none twice
        assert [e["type"] for e in events][-2:] == ["job.succeeded", "job.archived"]
