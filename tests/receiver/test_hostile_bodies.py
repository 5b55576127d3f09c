"""Hostile callback bodies against a real hookline: odd progress text and absurd nesting are kept
in the callback log and never answered with a 500, and nothing unreadable reaches a subscriber."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
import standardwebhooks

from hookline.nesting import MAX_DEPTH
from tests.conftest import Hookline
from tests.hookline.test_dashboard import log_in
from tests.support import MJPROXY_LIFECYCLE, fixture_json, wait_for


def in_progress(progress: Any, task_id: str = "hostile-1", properties: str | None = None) -> bytes:
    """An mjproxy IN_PROGRESS callback; ``properties`` replaces its properties with raw JSON text."""
    body = fixture_json(MJPROXY_LIFECYCLE[5])
    body.update({"id": task_id, "progress": progress})
    if properties is None:
        return orjson.dumps(body)
    body["properties"] = "PROPERTIES"
    return orjson.dumps(body).replace(b'"PROPERTIES"', properties.encode())


def nested(levels: int) -> str:
    """JSON text ``levels`` levels deep, arrays and objects alternating (an outer object is level
    1). Written as text: orjson and json refuse to write what is too deep, which is the point."""
    opening = "".join('{"deeper":' if level % 2 else "[" for level in range(levels))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(levels)))
    return f'{opening}"bottom"{closing}'


@pytest.mark.parametrize("progress", ["²", "①", "9" * 400, "²%"], ids=["superscript", "circled", "400-digits", "sup%"])
async def test_unreadable_progress_is_stored_not_a_500(hookline: Hookline, progress: str) -> None:
    response = await hookline.post_callback("mjproxy", in_progress(progress))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["outcome"] == "applied"
    job = (await hookline.admin.get(f"/v1/jobs/{answer['job_id']}")).json()
    assert job["status"] == "in_progress" and job["progress"] in (0, 100)
    assert [c["body"] for c in job["callbacks"]] == [in_progress(progress).decode()]


async def test_a_callback_nested_too_deep_is_kept_as_rejected_with_a_400(hookline: Hookline) -> None:
    body = in_progress("46%", properties=nested(1000))
    response = await hookline.post_callback("mjproxy", body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["outcome"] == "rejected" and answer["error"]["code"] == "invalid_callback"
    assert f"more than {MAX_DEPTH} levels" in answer["error"]["message"]
    log = (await hookline.admin.get("/v1/callbacks", params={"outcome": "rejected"})).json()["items"]
    assert [c["body"] for c in log] == [body.decode()] and log[0]["job_id"] is None


async def test_a_callback_just_too_deep_for_the_limit_makes_no_job(hookline: Hookline) -> None:
    response = await hookline.post_callback("mjproxy", in_progress("46%", properties=nested(MAX_DEPTH)))
    assert response.status_code == 400
    assert (await hookline.admin.get("/v1/jobs")).json()["items"] == []


async def test_pages_and_lists_still_answer_after_a_deep_callback(hookline: Hookline) -> None:
    await hookline.post_callback("mjproxy", in_progress("46%", properties=nested(1000)))
    accepted = (await hookline.post_callback("mjproxy", in_progress("46%", task_id="fine"))).json()
    for path in ("/v1/jobs", "/v1/callbacks", f"/v1/jobs/{accepted['job_id']}"):
        assert (await hookline.admin.get(path)).status_code == 200, path
    async with httpx.AsyncClient(base_url=hookline.url, timeout=30) as browser:
        await log_in(browser)
        for path in ("/", f"/dashboard/jobs/{accepted['job_id']}", "/dashboard/deliveries"):
            assert (await browser.get(path)).status_code == 200, path


async def test_subscribers_get_only_events_python_can_read(hookline: Hookline, subscriber: Any) -> None:
    sink, url = subscriber
    created = (await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})).json()
    assert (await hookline.post_callback("mjproxy", in_progress("46%", properties=nested(1000)))).status_code == 400
    deepest_allowed = in_progress("46%", task_id="deep-but-fine", properties=f'{{"x": {nested(MAX_DEPTH - 2)}}}')
    assert (await hookline.post_callback("mjproxy", deepest_allowed)).status_code == 200
    await wait_for(lambda: sink.received, what="the event of the accepted callback")
    (received,) = sink.received
    headers = {k: v for k, v in received.headers.items() if k.startswith("webhook-")}
    event = standardwebhooks.Webhook(created["secret"]).verify(received.body, headers)
    assert event["data"]["upstream"]["id"] == "deep-but-fine"
    assert json.loads(received.body) == event


async def test_a_management_api_body_nested_too_deep_is_a_400(hookline: Hookline) -> None:
    body = f'{{"url": "http://127.0.0.1:9/", "x": {nested(1000)}}}'
    response = await hookline.admin.post("/v1/subscriptions", content=body.encode())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_a_400_digit_progress_number_is_kept_as_rejected(hookline: Hookline) -> None:
    body = in_progress("PROGRESS").replace(b'"PROGRESS"', b"9" * 400)  # beyond a double: orjson refuses it
    response = await hookline.post_callback("mjproxy", body)
    assert response.status_code == 400 and response.json()["outcome"] == "rejected"
    log = (await hookline.admin.get("/v1/callbacks", params={"outcome": "rejected"})).json()["items"]
    assert [c["body"] for c in log] == [body.decode()]
    assert (await hookline.admin.get("/v1/jobs")).status_code == 200
