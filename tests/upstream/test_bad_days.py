"""Upstreams on their bad days (issue 16): temporary trouble on submit is retried until
HOOKLINE_SUBMIT_GIVE_UP, polls that say nothing keep the job waiting, and hookline's own verdicts
yield to the upstream's real end. Against minimal fake upstreams of our own (``fakes.py``) on a
real uvicorn server, and against the simulator; on both backends."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from simulator import Simulator
from tests.conftest import Hookline
from tests.support import fixture_json, run_server, wait_for
from tests.upstream.conftest import Sim, SimFactory, Upstreams, archived, blend, job, samples, terminal, wait_for_jobs
from tests.upstream.fakes import MJ_OK, UA_OK, Answer, FakeUpstream, Script, mj_task, ua_job

BAD_GATEWAY = b"<html><h1>502 Bad Gateway</h1></html>"
NEW_API_BUSY = {"description": "当前分组负载已饱和", "type": "upstream_error", "code": 30}
NEW_API_UNREACHABLE = {"description": "do_request_failed ", "type": "upstream_error", "code": 4}
PNG = fixture_json("mjproxy-blend-00e-submit-request.json")["base64Array"][0]
# mjproxy takes the images themselves (hookline encodes them); useapi takes URLs and fetches them itself.
IMAGES = {"mjproxy": [PNG, PNG], "useapi": ["https://a.example/a.png", "https://a.example/b.png"]}


@contextlib.asynccontextmanager
async def fake_hookline(upstreams: Upstreams, fake: FakeUpstream, **env: str) -> AsyncIterator[Hookline]:
    """hookline whose upstreams (both providers) are ``fake`` (no archive: its links lead nowhere)."""
    env = {"ARCHIVE": "false", **env}
    async with run_server(fake.app(), lifespan="off") as url, upstreams.running(Sim(Simulator(), url), **env) as h:
        yield h


def sources(j: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["source"], c["outcome"]) for c in reversed(j["callbacks"])]


@pytest.mark.parametrize(
    ("provider", "trouble", "words"),
    [
        ("mjproxy", (502, BAD_GATEWAY), "HTTP 502: <html><h1>502 Bad Gateway"),
        ("mjproxy", (429, NEW_API_BUSY), "HTTP 429"),
        ("mjproxy", (400, NEW_API_UNREACHABLE), "do_request_failed"),
        ("mjproxy", (408, b""), "HTTP 408"),
        ("useapi", (503, b""), "HTTP 503"),
        ("useapi", (425, {"error": "Too Early", "code": 425}), "HTTP 425: Too Early"),
    ],
)
async def test_temporary_submit_trouble_keeps_the_job_queued_and_sends_it_again(
    upstreams: Upstreams, provider: str, trouble: Answer, words: str
) -> None:
    fake = FakeUpstream(submit=Script([trouble, trouble], then=MJ_OK if provider == "mjproxy" else UA_OK))
    async with fake_hookline(upstreams, fake, SUBMIT_BACKOFF="0.3,0.3") as h:
        created = await blend(h, provider, IMAGES[provider])

        async def held() -> Any:
            j = await job(h, created["id"])
            return j if j["submission"]["last_error"] else None

        during = await wait_for(held, what="the job to be held")
        (done,) = await wait_for_jobs(h, [created["id"]], lambda j: j["status"] == "submitted")
    assert during["status"] == "queued" and during["events"] == [] and words in during["submission"]["last_error"]
    assert done["status"] == "submitted" and done["submission"]["attempts"] == 3 and fake.submit.calls == 3


async def test_an_upstream_that_does_not_answer_in_time_is_asked_again(upstreams: Upstreams) -> None:
    fake = FakeUpstream(submit=Script(then=MJ_OK, delay_first=2.0))
    async with fake_hookline(upstreams, fake, UPSTREAM_TIMEOUT="0.3") as h:
        created = await blend(h, "mjproxy", IMAGES["mjproxy"])
        (done,) = await wait_for_jobs(h, [created["id"]], lambda j: j["status"] == "submitted")
    assert done["status"] == "submitted" and done["submission"]["attempts"] == 2


async def test_trouble_past_submit_give_up_fails_the_job_with_the_last_upstream_message(
    upstreams: Upstreams,
) -> None:
    fake = FakeUpstream(submit=Script(then=(502, BAD_GATEWAY)))
    async with fake_hookline(upstreams, fake, SUBMIT_GIVE_UP="1", SUBMIT_BACKOFF="0.2,0.2") as h:
        created = await blend(h, "mjproxy", IMAGES["mjproxy"])
        (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["status"] == "failed" and "HTTP 502: <html><h1>502 Bad Gateway" in done["error"]
    assert "HOOKLINE_SUBMIT_GIVE_UP" in done["error"] and done["submission"]["attempts"] > 1
    (event,) = done["events"]
    assert event["type"] == "job.failed" and event["payload"]["data"]["upstream"]["http_status"] == 502


MJ_UNKNOWN = [(200, b""), (204, b""), (404, b"Not Found"), (410, b""), (400, {"description": "task_no_found"})]


@pytest.mark.parametrize(
    ("provider", "unknown"),
    [
        *(("mjproxy", answer) for answer in MJ_UNKNOWN),
        ("mjproxy", (200, {"id": "T1", "status": ""})),  # new-api before its update loop ran
        ("useapi", (404, {"error": "Job J1 not found", "code": 404})),
        ("useapi", (200, {"jobid": "J1"})),
    ],
)
async def test_a_poll_that_says_nothing_keeps_the_job_waiting(
    upstreams: Upstreams, provider: str, unknown: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    done_doc = mj_task("SUCCESS") if provider == "mjproxy" else ua_job("completed")
    fake = FakeUpstream(
        submit=Script(then=MJ_OK if provider == "mjproxy" else UA_OK), poll=Script([unknown] * 3, then=(200, done_doc))
    )
    caplog.set_level(logging.DEBUG, logger="upstream")
    async with fake_hookline(upstreams, fake, RECONCILE_AFTER="0.2") as h:
        created = await blend(h, provider, IMAGES[provider])
        (done,) = await wait_for_jobs(h, [created["id"]], terminal)
        metrics = (await h.anon.get("/metrics")).text
    assert done["status"] == "succeeded" and fake.poll.calls >= 4
    assert sources(done) == [("submit", "applied"), ("poll", "applied")]  # nothing rejected, nothing stored
    assert f'hookline_reconciler_polls_total{{provider="{provider}",result="unknown"}} 3.0' in metrics
    noted = [r for r in caplog.records if r.name.startswith("upstream.") and "says nothing" in r.getMessage()]
    assert len(noted) == 3 and all(r.levelno == logging.DEBUG for r in noted)
    assert not [r for r in caplog.records if r.name.startswith("upstream.") and r.levelno >= logging.WARNING]


async def test_an_upstream_that_lost_the_task_ends_it_as_lost_until_it_says_otherwise(upstreams: Upstreams) -> None:
    fake = FakeUpstream(poll=Script(then=(200, b"")))
    async with fake_hookline(upstreams, fake, RECONCILE_AFTER="0.2", JOB_TIMEOUT="1") as h:
        created = await blend(h, "mjproxy", IMAGES["mjproxy"])
        (lost,) = await wait_for_jobs(h, [created["id"]], terminal)
        late = await h.post_callback("mjproxy", orjson.dumps(mj_task("SUCCESS", state=created["id"])))
        after = await job(h, created["id"])
    assert lost["status"] == "failed" and lost["error"] == "lost upstream"
    assert late.json()["outcome"] == "applied"
    assert after["status"] == "succeeded" and after["error"] is None
    assert [e["type"] for e in after["events"]][:2] == ["job.succeeded", "job.failed"]


async def test_a_success_after_hooklines_timeout_reaches_subscribers(
    sim_factory: SimFactory, upstreams: Upstreams, subscriber: Any
) -> None:
    sink, sink_url = subscriber
    sim = await sim_factory(step_delay=0.35)  # ten steps: the job outlives JOB_TIMEOUT, then succeeds
    h = await upstreams.start(sim, RECONCILE_AFTER="0.1", JOB_TIMEOUT="1", RETRY_SCHEDULE="0.2")
    await h.admin.post("/v1/subscriptions", json={"url": f"{sink_url}/hook"})
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], archived, timeout=30)
    types = [e["type"] for e in sorted(done["events"], key=lambda e: e["sequence"])]
    assert done["status"] == "succeeded" and done["error"] is None
    assert types.index("job.failed") < types.index("job.succeeded")  # timed out, then overruled
    assert ("timeout", "applied") in sources(done)
    await wait_for(lambda: "job.succeeded" in [e["type"] for e in sink.events()], what="the success delivered")


@pytest.mark.parametrize(
    ("knob", "status", "error"),
    [
        ("cancel", "cancelled", "取消任务"),
        ("moderate", "moderated", "[Image denied]"),
        ("first_failure", "failed", "[Internal Server Error]"),
    ],
)
async def test_mjproxy_failures_are_read_by_their_text(
    sim_factory: SimFactory, upstreams: Upstreams, knob: str, status: str, error: str
) -> None:
    sim = await sim_factory(**{knob: 1.0})
    h = await upstreams.start(sim)
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], terminal)
    assert done["status"] == status and done["error"].startswith(error)
    event = max(done["events"], key=lambda e: e["sequence"])
    assert event["type"] == f"job.{status}" and event["payload"]["data"]["error"].startswith(error)


async def test_a_late_failure_after_success_changes_nothing(sim_factory: SimFactory, upstreams: Upstreams) -> None:
    sim = await sim_factory(late_failure=1.0)
    h = await upstreams.start(sim)
    created = await blend(h, "mjproxy", samples(sim))
    await wait_for(sim.sim.idle, what="the upstream's last callback")
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    assert done["status"] == "succeeded" and sources(done)[-1] == ("callback", "conflict")
    assert "job.failed" not in [e["type"] for e in done["events"]]


@pytest.mark.parametrize(
    "knobs",
    [
        {"mjproxy_flavour": "trueai"},  # imageUrls, buttons, charset, the terminal callback twice
        {"mjproxy_flavour": "newapi", "callbacks": False, "blank_polls": 0.3, "mjproxy_unknown": "400"},
    ],
    ids=["trueai", "newapi"],
)
async def test_the_forks_bodies_end_archived(
    sim_factory: SimFactory, upstreams: Upstreams, knobs: dict[str, Any]
) -> None:
    sim = await sim_factory(**knobs)
    h = await upstreams.start(sim)
    created = await blend(h, "mjproxy", samples(sim))
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    assert done["status"] == "succeeded" and len(done["image_urls"]) == 1
    assert "rejected" not in [outcome for _, outcome in sources(done)]


@pytest.mark.parametrize("knob", ["submit_trouble", "busy"])
async def test_the_simulators_submit_trouble_is_ridden_out(
    sim_factory: SimFactory, upstreams: Upstreams, knob: str
) -> None:
    sim = await sim_factory(**{knob: 1.0})
    h = await upstreams.start(sim, SUBMIT_BACKOFF="0.2,0.2")
    created = await blend(h, "mjproxy", samples(sim))
    await wait_for_jobs(h, [created["id"]], lambda j: j["submission"]["attempts"] >= 2, what="two attempts")
    setattr(sim.knobs, knob, 0.0)
    (done,) = await wait_for_jobs(h, [created["id"]], archived)
    assert done["status"] == "succeeded" and len(sim.sim.tasks) == 1


@pytest.mark.parametrize(("env", "sent"), [({}, None), ({"USEAPI_MAX_JOBS": "2"}, 2)])
async def test_max_jobs_is_sent_to_useapi_only_when_configured(
    sim_factory: SimFactory, upstreams: Upstreams, env: dict[str, str], sent: int | None
) -> None:
    sim = await sim_factory()
    h = await upstreams.start(sim, **env)
    created = await blend(h, "useapi", samples(sim))
    await wait_for_jobs(h, [created["id"]], terminal)
    (request,) = sim.sim.submissions("useapi")
    assert request.json().get("maxJobs") == sent
