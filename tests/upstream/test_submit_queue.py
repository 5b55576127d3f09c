"""The submit queue: queued and full upstreams, maxJobs, refusals, and restarts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support import free_port, wait_for
from tests.upstream.conftest import (
    Sim,
    SimFactory,
    Upstreams,
    archived,
    blend,
    job,
    samples,
    terminal,
    wait_for_jobs,
)


def succeeded(j: dict[str, Any]) -> bool:
    return bool(j["status"] == "succeeded")


def submit_answers(j: dict[str, Any]) -> list[Any]:
    """The upstream's answers to this job's submissions, oldest first."""
    return [orjson.loads(c["body"]) for c in reversed(j["callbacks"]) if c["source"] == "submit"]


async def test_mjproxy_code_22_queues_the_job_until_the_proxy_starts_it(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(mjproxy_slots=1)
    h = await upstreams.start(sim)
    ids = [(await blend(h, "mjproxy", samples(sim)))["id"] for _ in range(4)]
    jobs = await wait_for_jobs(h, ids, succeeded)
    codes = sorted(submit_answers(j)[0]["code"] for j in jobs)
    assert 22 in codes and set(codes) <= {1, 22}
    queued = next(j for j in jobs if submit_answers(j)[0]["code"] == 22)
    first = min(queued["events"], key=lambda e: e["sequence"])["payload"]["data"]
    assert first["status"] == "queued" and first["upstream_id"] == queued["upstream_id"]
    assert sim.sim.max_running["mjproxy"] == 1


@pytest.mark.parametrize("provider", ["mjproxy", "useapi"])
async def test_a_full_upstream_queue_holds_the_job_and_sends_it_again(
    sim_factory: SimFactory, upstreams: Upstreams, provider: str
) -> None:
    sim = await sim_factory(queue_full=2)
    h = await upstreams.start(sim, SUBMIT_BACKOFF="0.3,0.3")
    created = await blend(h, provider, samples(sim))

    async def held() -> Any:
        j = await job(h, created["id"])
        return j if j["submission"]["last_error"] else None

    during = await wait_for(held, what="the job to be held")
    assert during["status"] == "queued" and during["upstream_id"] is None and during["events"] == []
    assert during["submission"]["state"] == "pending" and during["submission"]["next_attempt_at"]
    full = {"mjproxy": "mjproxy queue full (code 23)", "useapi": "useapi maxJobs reached (429)"}[provider]
    assert full in during["submission"]["last_error"]
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    assert done["status"] == "succeeded" and done["submission"]["attempts"] == 3
    assert done["submission"]["state"] == "sent"
    assert len(sim.sim.submissions(provider)) == 3 and len(sim.sim.tasks) == 1


async def test_never_more_than_max_jobs_run_upstream(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(step_delay=0.03)  # answers 429 once maxJobs (3, from the request) run
    h = await upstreams.start(sim, USEAPI_MAX_JOBS="3")
    ids = [(await blend(h, "useapi", samples(sim)))["id"] for _ in range(8)]
    jobs = await wait_for_jobs(h, ids, succeeded)
    assert sim.sim.max_running["useapi"] == 3  # the limit was used, and never passed
    assert all(j["submission"]["attempts"] == 1 for j in jobs)  # hookline held them itself: no 429
    assert len(sim.sim.submissions("useapi")) == 8


async def test_a_fuller_upstream_answers_429_and_everything_still_finishes(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(step_delay=0.03, useapi_slots=2)  # busier than hookline knows
    h = await upstreams.start(sim, USEAPI_MAX_JOBS="3")
    ids = [(await blend(h, "useapi", samples(sim)))["id"] for _ in range(8)]
    jobs = await wait_for_jobs(h, ids, succeeded)
    assert sim.sim.max_running["useapi"] == 2
    assert any(j["submission"]["attempts"] > 1 for j in jobs)
    assert sum(1 for r in sim.sim.submissions("useapi")) == sum(j["submission"]["attempts"] for j in jobs)


@pytest.mark.parametrize(
    ("provider", "knobs", "env", "status", "error"),
    [
        ("mjproxy", {"mjproxy_secret": "s3cret"}, {}, "failed", "mjproxy answered HTTP 401"),
        (
            "useapi",
            {"useapi_require_account": True},
            {"USEAPI_DISCORD": ""},
            "failed",
            "HTTP 400: blendUrls, discord, server or channel value is missing",
        ),
        (
            "useapi",
            {"moderate": 1.0},
            {},
            "moderated",
            "Unable to find posted message, likely moderated or invalid url",
        ),
    ],
)
async def test_other_answers_fail_the_job_with_the_upstreams_message(
    sim_factory: SimFactory,
    upstreams: Upstreams,
    provider: str,
    knobs: dict[str, Any],
    env: dict[str, str],
    status: str,
    error: str,
) -> None:
    sim = await sim_factory(**knobs)
    h = await upstreams.start(sim, **env)
    created = await blend(h, provider, samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["status"] == status and error in done["error"]
    assert done["submission"]["state"] == "refused" and error in done["submission"]["last_error"]
    event = max(done["events"], key=lambda e: e["sequence"])
    assert event["type"] == f"job.{status}" and error in event["payload"]["data"]["error"]
    assert len(sim.sim.submissions(provider)) == 1


async def test_an_unreachable_upstream_is_retried_then_given_up(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim, MJPROXY_URL=f"http://127.0.0.1:{free_port()}", SUBMIT_GIVE_UP="1")
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["status"] == "failed" and "cannot reach mjproxy" in done["error"]
    assert done["submission"]["attempts"] > 1


async def test_held_jobs_survive_a_restart(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(queue_full=10**6)
    port = free_port()
    async with upstreams.running(sim, port=port) as h:
        ids = [(await blend(h, provider, samples(sim)))["id"] for provider in ("mjproxy", "useapi") * 2]
        held = await wait_for_jobs(h, ids, lambda j: j["submission"]["attempts"] >= 1 and j["submission"]["last_error"])
    assert all(j["status"] == "queued" for j in held) and not sim.sim.tasks
    sim.knobs.queue_full = 0
    async with upstreams.running(sim, port=port) as h:
        done = await wait_for_jobs(h, ids, archived)
    assert all(j["status"] == "succeeded" for j in done)
    assert len(sim.sim.tasks) == 4  # each job reached the upstream exactly once
