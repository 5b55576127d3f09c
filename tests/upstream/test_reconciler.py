"""The reconciler: lost callbacks are recovered by polling; jobs that never finish time out."""

from __future__ import annotations

from typing import Any

from tests.support import free_port, wait_for
from tests.upstream.conftest import SimFactory, Upstreams, archived, blend, job, samples, terminal, wait_for_jobs


def sources(j: dict[str, Any]) -> list[str]:
    return [c["source"] for c in reversed(j["callbacks"])]


async def test_jobs_finish_by_polling_when_no_callback_ever_comes(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(callbacks=False)  # like an aggregator that strips notifyHook
    h = await upstreams.start(sim)
    ids = [(await blend(h, provider, samples(sim)))["id"] for provider in ("mjproxy", "mjproxy", "useapi")]
    jobs = await wait_for_jobs(h, ids, archived)
    for j in jobs:
        assert j["status"] == "succeeded" and "poll" in sources(j) and "callback" not in sources(j)
        assert [e["type"] for e in j["events"]][:2] == ["job.archived", "job.succeeded"]
    paths = [r.path for r in sim.sim.api_requests()]
    assert "/mj/task/list-by-condition" in paths or any(p.endswith("/fetch") for p in paths)
    assert "/v1/jobs/" in paths
    metrics = (await h.anon.get("/metrics")).text
    assert 'hookline_reconciler_polls_total{provider="useapi",result="applied"}' in metrics


async def test_several_quiet_mjproxy_jobs_are_polled_in_one_batch(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(callbacks=False, step_delay=0.01)
    h = await upstreams.start(sim, RECONCILE_AFTER="1")
    ids = [(await blend(h, "mjproxy", samples(sim)))["id"] for _ in range(5)]
    await wait_for(lambda: all(t.finished for t in sim.sim.tasks.values()) and len(sim.sim.tasks) == 5)
    await wait_for_jobs(h, ids, lambda j: j["status"] == "succeeded")
    batches = [r.json()["ids"] for r in sim.sim.api_requests() if r.path == "/mj/task/list-by-condition"]
    fetches = [r for r in sim.sim.api_requests() if r.path.endswith("/fetch")]
    assert max(map(len, batches)) >= 2  # jobs that went quiet together were asked about together
    assert sum(map(len, batches)) + len(fetches) >= 5


async def test_jobs_with_callbacks_are_not_polled(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim, RECONCILE_AFTER="5")
    ids = [(await blend(h, provider, samples(sim)))["id"] for provider in ("mjproxy", "useapi")]
    await wait_for_jobs(h, ids, archived)
    polled = [r.path for r in sim.sim.api_requests() if r.method == "GET" or "list-by-condition" in r.path]
    assert polled == []


async def test_callbacks_lost_while_hookline_was_down_are_recovered(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(step_delay=0.05)
    port = free_port()
    async with upstreams.running(sim, port=port) as h:
        ids = [(await blend(h, provider, samples(sim)))["id"] for provider in ("mjproxy", "useapi")]
        await wait_for_jobs(h, ids, lambda j: j["submission"]["state"] == "sent")
    await wait_for(sim.sim.idle, what="the upstream to finish and give up on its callbacks")
    assert any(cb.error for cb in sim.sim.callbacks)  # nobody was listening
    async with upstreams.running(sim, port=port) as h:
        jobs = await wait_for_jobs(h, ids, archived)
    assert all(j["status"] == "succeeded" and "poll" in sources(j) for j in jobs)


async def test_a_job_that_never_finishes_times_out(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(step_delay=60)  # the upstream takes the job and never gets anywhere
    h = await upstreams.start(sim, RECONCILE_AFTER="0.2", JOB_TIMEOUT="1")
    created = await blend(h, "useapi", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["status"] == "failed" and done["error"] == "timeout"
    assert sources(done)[0] == "submit" and "poll" in sources(done) and sources(done)[-1] == "timeout"
    last = max(done["events"], key=lambda e: e["sequence"])["payload"]
    assert last["type"] == "job.failed" and last["data"]["error"] == "timeout"
    assert last["data"]["upstream"]["jobid"] == done["upstream_id"]  # the upstream's last word is kept


async def test_a_registered_job_of_a_watched_provider_times_out(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim, RECONCILE_AFTER="0.2", JOB_TIMEOUT="1")
    created = (await h.admin.post("/v1/jobs", json={"provider": "mjproxy", "correlation_key": "order-9"})).json()
    await wait_for(lambda: _status(h, created["id"], "failed"), timeout=5, what="the timeout")
    assert (await job(h, created["id"]))["error"] == "timeout"
    assert sim.sim.api_requests() == []  # no upstream id: nothing to ask


async def _status(h: Any, job_id: str, status: str) -> bool:
    return bool((await job(h, job_id))["status"] == status)
