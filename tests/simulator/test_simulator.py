"""The simulator answers, validates and calls back like the real upstreams (the fixtures)."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Any

import httpx
import orjson
import pytest

from tests.support import MJPROXY_LIFECYCLE, fixture_json, wait_for
from tests.upstream.conftest import Sim, SimFactory, download

PNG_1PX = fixture_json("mjproxy-blend-00e-submit-request.json")["base64Array"][0]


def mj_body(hook: str | None = None, **extra: Any) -> dict[str, Any]:
    body = fixture_json("mjproxy-blend-00e-submit-request.json")
    body.pop("notifyHook")
    if hook:
        body["notifyHook"] = hook
    body.update(extra)
    return body


def useapi_body(sim: Sim, hook: str | None = None, **extra: Any) -> dict[str, Any]:
    body = fixture_json("useapi-blend-00c-submit-request.json")
    body["blendUrls"] = [f"{sim.url}/samples/a.png", f"{sim.url}/samples/b.png"]
    body["replyUrl"] = hook
    if hook is None:
        body.pop("replyUrl")
    body.update(extra)
    return body


def png_size(data: bytes) -> tuple[int, int]:
    """Check a PNG's structure (signature, chunk CRCs, inflatable data); return its size."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, idat, size = 8, b"", (0, 0)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + payload) & 0xFFFFFFFF == crc
        if kind == b"IHDR":
            size = struct.unpack(">II", payload[:8])
        elif kind == b"IDAT":
            idat += payload
        at += 12 + length
    width, height = size
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    return size


async def test_mjproxy_submit_answers_match_the_fixtures(sim_factory: SimFactory) -> None:
    s = await sim_factory(mjproxy_slots=1, mjproxy_queue=1, step_delay=5)
    async with httpx.AsyncClient(base_url=s.url) as c:
        ok = (await c.post("/mj/submit/blend", json=mj_body())).json()
        also_ok = (await c.post("/mj/submit/blend", json=mj_body())).json()  # nothing waits ahead of it
        full = (await c.post("/mj/submit/blend", json=mj_body())).json()
    fixture = fixture_json("mjproxy-blend-00a-submit-ok.json")
    assert ok.keys() == fixture.keys() and ok["code"] == 1 and ok["description"] == fixture["description"]
    assert ok["properties"] == fixture["properties"]
    assert isinstance(ok["result"], str) and len(ok["result"]) == 16 and ok["result"].isdigit()
    assert also_ok["code"] == 1
    assert full == fixture_json("mjproxy-blend-00c-submit-queue-full.json")


async def test_mjproxy_answers_22_when_tasks_wait_ahead(sim_factory: SimFactory) -> None:
    s = await sim_factory(mjproxy_slots=1, step_delay=5)
    async with httpx.AsyncClient(base_url=s.url) as c:
        answers = [(await c.post("/mj/submit/blend", json=mj_body())).json() for _ in range(3)]
    queued = answers[2]
    fixture = fixture_json("mjproxy-blend-00b-submit-queued.json")
    assert {k: v for k, v in queued.items() if k != "result"} == {k: v for k, v in fixture.items() if k != "result"}
    assert s.sim.max_running["mjproxy"] == 1


@pytest.mark.parametrize(
    ("change", "answer"),
    [
        ({"base64Array": [PNG_1PX]}, {"code": 4, "description": "base64List参数错误"}),
        ({"base64Array": [PNG_1PX] * 6}, {"code": 4, "description": "base64List参数错误"}),
        ({"base64Array": None}, {"code": 4, "description": "base64List参数错误"}),
        ({"dimensions": None}, {"code": 4, "description": "dimensions参数错误"}),
        ({"base64Array": [PNG_1PX, "https://x.example/a.png"]}, {"code": 4, "description": "base64格式错误"}),
        ({"base64Array": [PNG_1PX, "data:image/png;base64,%%%"]}, {"code": 4, "description": "base64格式错误"}),
    ],
)
async def test_mjproxy_validation_codes(sim: Sim, change: dict[str, Any], answer: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        response = await c.post("/mj/submit/blend", json=mj_body(**change))
    assert response.status_code == 200
    assert response.json() == {**answer, "result": None, "properties": {}}
    if change.get("base64Array") == [PNG_1PX]:
        assert response.json() == fixture_json("mjproxy-blend-00d-submit-validation-error.json")


@pytest.mark.parametrize("change", [{"dimensions": "TALL"}, {"botType": "DALL_E"}])
async def test_mjproxy_unknown_enum_is_springs_400(sim: Sim, change: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        response = await c.post("/mj/submit/blend", json=mj_body(**change))
        not_json = await c.post("/mj/submit/blend", content=b"{nope")
    for r in (response, not_json):
        assert r.status_code == 400 and r.json()["error"] == "Bad Request"


async def test_mjproxy_lifecycle_callbacks_follow_the_fixtures(sim: Sim, subscriber: Any) -> None:
    sink, url = subscriber
    async with httpx.AsyncClient(base_url=sim.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))).json()["result"]
        await wait_for(lambda: len(sink.received) == 10, what="10 callbacks")
        fetched = (await c.get(f"/mj/task/{task_id}/fetch")).json()
    got = [r.json() for r in sink.received]
    expected = [fixture_json(name) for name in MJPROXY_LIFECYCLE]
    assert [(g["status"], g["progress"]) for g in got] == [(e["status"], e["progress"]) for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert list(g) == list(e)  # same fields, in Jackson's order
        assert list(g["properties"]) == list(e["properties"])
        assert g["id"] == task_id and g["state"] == "order-7f3a9c" and g["properties"]["notifyHook"] == f"{url}/mj"
    assert got[0]["prompt"] is None and got[1]["prompt"].endswith("--ar 2:3 --v 6.1")
    assert "_grid_0.webp?ex=" in got[3]["imageUrl"] and got[3]["properties"]["messageHash"] == "0"
    final = got[-1]["imageUrl"]
    assert "/attachments/" in final and ".png?ex=" in final and "&hm=" in final
    assert fetched == got[-1] and list(fetched) == list(fixture_json("mjproxy-blend-20-fetch-by-id-response.json"))
    assert all(r.headers["content-type"] == "application/json" for r in sink.received)


async def test_mjproxy_fetch_and_list_by_condition_for_unknown_ids(sim: Sim) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body())).json()["result"]
        unknown = await c.get("/mj/task/1722931299001777/fetch")
        listed = await c.post("/mj/task/list-by-condition", json={"ids": [task_id, "1722931299001777"]})
    assert unknown.status_code == 200 and unknown.content == b""
    assert [t["id"] for t in listed.json()] == [task_id]


async def test_useapi_lifecycle_and_answers_follow_the_fixtures(sim: Sim, subscriber: Any) -> None:
    sink, url = subscriber
    async with httpx.AsyncClient(base_url=sim.url) as c:
        started = (await c.post("/v1/jobs/blend", json=useapi_body(sim, f"{url}/useapi"))).json()
        await wait_for(lambda: len(sink.received) == 5, what="5 callbacks")
        fetched = (await c.get("/v1/jobs/", params={"jobid": started["jobid"]})).json()
        missing = await c.get("/v1/jobs/", params={"jobid": "j-nope"})
    assert list(started) == list(fixture_json("useapi-blend-00b-submit-200-v2.json"))
    assert started["status"] == "started" and started["discord"] == "<Di…en>" and started["replyRef"] == "order-7f3a9c"
    got = [r.json() for r in sink.received]
    assert [g["status"] for g in got] == ["started", "progress", "progress", "progress", "completed"]
    assert [g["content"].rsplit("> ", 1)[1] for g in got[1:4]] == ["(15%) (fast)", "(46%) (fast)", "(78%) (fast)"]
    assert list(got[2]) == list(fixture_json("useapi-blend-01-get-job-progress.json"))
    completed = fixture_json("useapi-blend-10-callback-completed.json")
    assert list(got[-1]) == list(completed) and got[-1] == fetched
    assert list(got[-1]["attachments"][0]) == list(completed["attachments"][0])
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        # v2 answers 400 where v1 documented 412 (useapi.net routes v1 to v2 since 2024-03-01).
        ({"blendUrls": None}, 400, "blendUrls, discord, server or channel value is missing"),
        ({"blendUrls": ["https://a.example/a.png"]}, 400, "one of blendUrls values not a valid URL"),
        ({"blendUrls": ["https://a.example/a.png", "ftp://b"]}, 400, "not a valid URL"),
        ({"blendDimensions": "Tall"}, 400, "blendDimensions"),
        ({"maxJobs": 0}, 400, "maxJobs"),
        ({"replyRef": "r" * 1025}, 413, "replyRef or replyUrl is too long"),
        ({"replyUrl": "https://h.example/" + "u" * 1010}, 413, "replyRef or replyUrl is too long"),
    ],
)
async def test_useapi_validation_codes(sim: Sim, change: dict[str, Any], status: int, message: str) -> None:
    body = {k: v for k, v in {**useapi_body(sim), **change}.items() if v is not None}
    async with httpx.AsyncClient(base_url=sim.url) as c:
        response = await c.post("/v1/jobs/blend", json=body)
    assert response.status_code == status
    assert message in response.json()["error"] and response.json()["code"] == status
    if change == {"blendUrls": None}:
        assert response.json() == {**fixture_json("useapi-blend-00d-submit-412-error.json"), "code": 400}


async def test_useapi_429_when_max_jobs_run(sim_factory: SimFactory) -> None:
    s = await sim_factory(step_delay=5)
    async with httpx.AsyncClient(base_url=s.url) as c:
        answers = [await c.post("/v1/jobs/blend", json=useapi_body(s, maxJobs=2)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    full = answers[2].json()
    assert list(full) == list(fixture_json("useapi-blend-00f-submit-429-maxjobs.json"))
    assert full["executingJobs"] == [a.json()["jobid"] for a in answers[:2]]
    assert s.sim.max_running["useapi"] == 2


async def test_moderation_knob(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(moderate=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        mj = (await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))).json()
        ua = await c.post("/v1/jobs/blend", json=useapi_body(s, f"{url}/u"))
    # midjourney-proxy's blend endpoint never checks banned words: it accepts, then reports a FAILURE.
    assert mj["code"] == 1 and mj["result"]
    assert ua.status_code == 422
    assert list(ua.json()) == list(fixture_json("useapi-blend-00e-submit-422-moderated.json"))
    await wait_for(lambda: len(sink.received) == 3, what="the moderated webhook, SUBMITTED and the FAILURE")
    assert [r.json()["status"] for r in sink.received if r.path == "/u"] == ["moderated"]
    mj_callbacks = [r.json() for r in sink.received if r.path == "/mj"]
    assert [c["status"] for c in mj_callbacks] == ["SUBMITTED", "FAILURE"]
    assert mj_callbacks[1]["failReason"].startswith("[Image denied]")


async def test_failure_knob_keeps_the_last_preview(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(fail=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))
        await c.post("/v1/jobs/blend", json=useapi_body(s, f"{url}/u"))
    await wait_for(lambda: sum(r.json()["status"] in ("FAILURE", "failed") for r in sink.received) == 2)
    mj = next(r.json() for r in sink.received if r.json()["status"] == "FAILURE")
    ua = next(r.json() for r in sink.received if r.json()["status"] == "failed")
    assert mj["progress"] == "" and mj["failReason"] and "_grid_0.webp" in mj["imageUrl"]
    assert list(ua) == list(fixture_json("useapi-blend-90-callback-failed.json"))


async def test_drop_duplicate_and_reorder_knobs(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(duplicate=1.0)
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))).json()["result"]
        await wait_for(lambda: len(sink.received) == 20, what="every callback twice")
        s.knobs.duplicate, s.knobs.drop = 0.0, 1.0
        await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))
        await wait_for(lambda: sum(cb.dropped for cb in s.sim.callbacks) == 10, what="10 dropped callbacks")
        s.knobs.drop, s.knobs.reorder = 0.0, 0.5
        third = (await c.post("/mj/submit/blend", json=mj_body(f"{url}/mj"))).json()["result"]
        await wait_for(lambda: sum(r.json()["id"] == third for r in sink.received) == 10, what="the third's callbacks")
    assert len(sink.received) == 30 and all(r.json()["id"] in (task_id, third) for r in sink.received)
    arrived = [(r.json()["status"], r.json()["progress"]) for r in sink.received if r.json()["id"] == third]
    expected = [(f["status"], f["progress"]) for f in map(fixture_json, MJPROXY_LIFECYCLE)]
    assert sorted(arrived) == sorted(expected) and arrived != expected  # all there, not in order


async def _fates(sim_factory: SimFactory) -> list[tuple[int, str, str, bool]]:
    """Which callbacks of which task were dropped, in a run of four tasks."""
    s = await sim_factory(seed=42, drop=0.5, fail=0.5)
    async with httpx.AsyncClient(base_url=s.url) as c:
        for _ in range(4):
            await c.post("/mj/submit/blend", json=mj_body("http://127.0.0.1:9/nobody-listens"))
    await wait_for(s.sim.idle, what="every task and callback to finish")
    number = {t.id: t.number for t in s.sim.tasks.values()}
    return sorted(
        (number[cb.task_id], orjson.loads(cb.body)["status"], orjson.loads(cb.body)["progress"], cb.dropped)
        for cb in s.sim.callbacks
    )


async def test_a_seed_makes_the_knobs_repeatable(sim_factory: SimFactory) -> None:
    first, second = await _fates(sim_factory), await _fates(sim_factory)
    assert first == second
    assert any(f[3] for f in first) and not all(f[3] for f in first)


async def _result_link(s: Sim, hook: str, sink: Any, **body: Any) -> str:
    async with httpx.AsyncClient(base_url=s.url) as c:
        task_id = (await c.post("/mj/submit/blend", json=mj_body(hook, **body))).json()["result"]
    done = await wait_for(
        lambda: [r.json() for r in sink.received if r.json()["id"] == task_id and r.json()["status"] == "SUCCESS"]
    )
    link: str = done[0]["imageUrl"]
    return link


async def test_results_are_real_pngs_at_cdn_links(sim: Sim, subscriber: Any) -> None:
    sink, url = subscriber
    link = await _result_link(sim, f"{url}/mj", sink, dimensions="LANDSCAPE")
    image, tampered = await download(link), await download(link.replace("hm=", "hm=0"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (96, 64)  # landscape, 3:2
    assert int(link.split("ex=")[1][:8], 16) > time.time() + 3600  # a day, as Discord's links
    assert tampered.status_code == 404 and tampered.text == "This content is no longer available."


async def test_result_links_expire(sim_factory: SimFactory, subscriber: Any) -> None:
    sink, url = subscriber
    s = await sim_factory(link_ttl=-2)  # already past its ex= when sent
    expired = await download(await _result_link(s, f"{url}/mj", sink))
    assert expired.status_code == 404 and expired.text == "This content is no longer available."


async def test_auth_knobs(sim_factory: SimFactory) -> None:
    s = await sim_factory(mjproxy_secret="mj-secret", useapi_token="ua-token")
    async with httpx.AsyncClient(base_url=s.url) as c:
        assert (await c.post("/mj/submit/blend", json=mj_body())).status_code == 401
        good = await c.post("/mj/submit/blend", json=mj_body(), headers={"mj-api-secret": "mj-secret"})
        assert good.json()["code"] == 1
        assert (await c.post("/v1/jobs/blend", json=useapi_body(s))).json() == {"error": "Unauthorized", "code": 401}
        ok = await c.post("/v1/jobs/blend", json=useapi_body(s), headers={"Authorization": "Bearer ua-token"})
        assert ok.status_code == 200


async def test_requests_are_recorded(sim: Sim) -> None:
    data_uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    async with httpx.AsyncClient(base_url=sim.url) as c:
        await c.post("/mj/submit/blend", json=mj_body(base64Array=[data_uri, data_uri]))
        await c.get("/samples/a.png")
    assert [r.path for r in sim.sim.requests] == ["/mj/submit/blend", "/samples/a.png"]
    assert sim.sim.requests[0].json()["base64Array"] == [data_uri, data_uri]
    assert [r.path for r in sim.sim.api_requests()] == ["/mj/submit/blend"]
