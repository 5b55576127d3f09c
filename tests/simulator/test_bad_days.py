"""The simulator's bad-day knobs behave like the real upstreams on their bad days (PROVIDERS.md §6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulator.test_simulator import mj_body, png_size, useapi_body
from tests.support import wait_for
from tests.upstream.conftest import SimFactory


def statuses(sink: Any, path: str = "/mj") -> list[str]:
    return [r.json()["status"] for r in sink.received if r.path == path]


async def test_a_failure_can_be_the_first_and_only_callback(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(first_failure=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))
    await wait_for(s.sim.idle, what="the task to end")
    (only,) = [r.json() for r in sink.received]
    assert only["status"] == "FAILURE" and only["failReason"].startswith("[Internal Server Error]")
    assert [t.truth for t in s.sim.tasks.values()] == ["failed"]


async def test_a_late_failure_follows_a_success_while_fetch_still_says_success(
    sim_factory: SimFactory, subscriber: Any
) -> None:
    sink, url = subscriber
    s = await sim_factory(late_failure=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))).json()["result"]
        await wait_for(s.sim.idle, what="the task and its callbacks to end")
        fetched = (await c.get(f"/mj/task/{task_id}/fetch")).json()
    assert statuses(sink)[-2:] == ["SUCCESS", "FAILURE"]
    assert sink.received[-1].json()["failReason"] == "任务超时"
    assert fetched["status"] == "SUCCESS" and s.sim.tasks[("mjproxy", task_id)].truth == "succeeded"


async def test_a_cancel_arrives_as_a_failure_text(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(cancel=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))
    await wait_for(s.sim.idle, what="the task to end")
    assert statuses(sink)[-1] == "FAILURE" and sink.received[-1].json()["failReason"] == "取消任务"
    assert "SUCCESS" not in statuses(sink)


async def test_blank_polls_say_nothing(sim_factory: SimFactory) -> None:
    s = await sim_factory(blank_polls=1.0, step_delay=5)
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body())).json()["result"]
        fetched = (await c.get(f"/mj/task/{task_id}/fetch")).json()
        listed = (await c.post("/mj/task/list-by-condition", json={"ids": [task_id]})).json()
        jobid = (await c.post("/v1/jobs/blend", json=useapi_body(s))).json()["jobid"]
        lost = await c.get("/v1/jobs/", params={"jobid": jobid})
    assert fetched["id"] == task_id and fetched["status"] == ""  # new-api before its update loop ran
    assert listed[0]["status"] == ""
    assert lost.status_code == 404


@pytest.mark.parametrize(
    ("how", "status", "body"),
    [
        ("empty", 200, b""),
        ("204", 204, b""),
        ("404", 404, b"Not Found"),
        ("400", 400, b'{"description":"task_no_found","type":"upstream_error","code":4}'),
    ],
)
async def test_unknown_tasks_are_answered_as_each_fork_does(
    sim_factory: SimFactory, how: str, status: int, body: bytes
) -> None:
    s = await sim_factory(mjproxy_unknown=how)
    async with httpx.AsyncClient(base_url=s.url) as c:
        answer = await c.get("/mj/task/1722931299001777/fetch")
    assert (answer.status_code, answer.content) == (status, body)


async def test_submit_trouble_is_a_proxys_502_and_makes_no_task(sim_factory: SimFactory) -> None:
    s = await sim_factory(submit_trouble=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        mj = await c.post("/mj/submit/blend", json=mj_body())
        ua = await c.post("/v1/jobs/blend", json=useapi_body(s))
    assert mj.status_code == ua.status_code == 502 and b"502 Bad Gateway" in mj.content
    assert s.sim.tasks == {}


async def test_busy_is_new_apis_code_30_or_do_request_failed(sim_factory: SimFactory) -> None:
    s = await sim_factory(busy=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        answers = [await c.post("/mj/submit/blend", json=mj_body()) for _ in range(12)]
    seen = {(a.status_code, a.json()["code"]) for a in answers}
    assert seen == {(429, 30), (400, 4)}
    assert all(a.json()["description"].startswith("do_request_failed") for a in answers if a.status_code == 400)
    assert s.sim.tasks == {}


async def test_trueai_bodies_and_charset(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(mjproxy_flavour="trueai")
    async with httpx.AsyncClient(base_url=s.url) as c:
        await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))
    await wait_for(s.sim.idle, what="the task and its callbacks to end")
    assert all(r.headers["content-type"] == "application/json; charset=utf-8" for r in sink.received)
    assert statuses(sink)[-2:] == ["SUCCESS", "SUCCESS"]  # trueai sends its terminal callback twice
    final = sink.received[-1].json()
    assert final["imageUrls"] == [{"url": final["imageUrl"], "thumbnail": final["imageUrl"]}]
    assert final["buttons"][0]["customId"].startswith("MJ::JOB::upsample::1::") and final["mode"] == "FAST"


async def test_new_api_forwards_image_links_through_itself(sim_factory: SimFactory) -> None:
    s = await sim_factory(mjproxy_flavour="newapi", callbacks=False, step_delay=0.2)
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body())).json()["result"]

        async def preview() -> Any:
            doc = (await c.get(f"/mj/task/{task_id}/fetch")).json()
            return doc if doc["imageUrl"] and doc["status"] == "IN_PROGRESS" else None

        first = await wait_for(preview, what="a preview")
        second = (await c.get(f"/mj/task/{task_id}/fetch")).json()
        await wait_for(s.sim.idle, timeout=15, what="the task to end")
        done = [(await c.get(f"/mj/task/{task_id}/fetch")).json() for _ in range(2)]
        image = await c.get(done[0]["imageUrl"])
    assert first["imageUrl"].startswith(f"{s.url}/mj/image/{task_id}?rand=")
    assert first["imageUrl"] != second["imageUrl"]  # a new rand on every answer until SUCCESS
    assert done[0]["status"] == "SUCCESS" and done[0]["imageUrl"] == done[1]["imageUrl"]
    assert image.status_code == 200 and png_size(image.content) == (64, 96)  # portrait


async def test_new_api_failures_carry_full_progress(sim_factory: SimFactory) -> None:
    s = await sim_factory(mjproxy_flavour="newapi", fail=1.0, callbacks=False)
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body())).json()["result"]
        await wait_for(s.sim.idle, what="the task to end")
        failed = (await c.get(f"/mj/task/{task_id}/fetch")).json()
    assert failed["status"] == "FAILURE" and failed["progress"] == "100%"


async def test_every_task_records_its_truth(sim_factory: SimFactory) -> None:
    s = await sim_factory(
        seed=3, fail=0.3, moderate=0.2, cancel=0.2, first_failure=0.1, late_failure=0.5, useapi_slots=10
    )
    async with httpx.AsyncClient(base_url=s.url) as c:
        for _ in range(6):
            await c.post("/mj/submit/blend", json=mj_body())
            await c.post("/v1/jobs/blend", json=useapi_body(s))
    await wait_for(s.sim.idle, timeout=15, what="every task to end")
    truths = [t.truth for t in s.sim.tasks.values()]
    assert len(truths) == 12 and set(truths) <= {"succeeded", "failed", "moderated", "cancelled"}
