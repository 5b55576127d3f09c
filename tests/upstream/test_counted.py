"""Every event is counted (``hookline_events_total``) whatever made it — a submit answer, a poll,
hookline's own timeout, the archive — not only callbacks: ``receiver.ingest`` is the one way in."""

from __future__ import annotations

import re

from tests.upstream.conftest import SimFactory, Upstreams, archived, blend, samples, terminal, wait_for_jobs


def events_counted(metrics: str) -> dict[str, float]:
    return {m[0]: float(m[1]) for m in re.findall(r'^hookline_events_total\{type="([^"]+)"\} (\S+)$', metrics, re.M)}


async def test_events_from_submit_answers_polls_and_the_archive_are_counted(
    sim_factory: SimFactory, upstreams: Upstreams
) -> None:
    sim = await sim_factory(callbacks=False)  # everything hookline learns comes from answers and polls
    h = await upstreams.start(sim)
    created = await blend(h, "useapi", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    counted = events_counted((await h.anon.get("/metrics")).text)
    emitted: dict[str, float] = {}
    for event in done["events"]:
        emitted[event["type"]] = emitted.get(event["type"], 0) + 1
    assert counted == emitted and {"job.submitted", "job.succeeded", "job.archived"} <= set(counted)


async def test_events_from_hooklines_own_timeout_are_counted(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(step_delay=60)
    h = await upstreams.start(sim, RECONCILE_AFTER="0.2", JOB_TIMEOUT="1")
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["error"] == "timeout"
    assert events_counted((await h.anon.get("/metrics")).text) == {"job.submitted": 1.0, "job.failed": 1.0}
