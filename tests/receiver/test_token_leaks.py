"""The callback token never leaks: not in the access log, not in the error answers for mistyped
callback URLs, and not to subscribers when a callback body spells it with JSON escapes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hookline.app import build_app
from tests.conftest import Hookline, make_config
from tests.support import MJPROXY_LIFECYCLE, fixture_json, run_server, wait_for

TOKEN = "callback-token-for-tests-0123456789"
MISTYPED = [f"/callbacks/{TOKEN}", f"//callbacks/mjproxy/{TOKEN}", f"/callbacks/{TOKEN}/{TOKEN}"]


def json_escaped(text: str, every: int = 1) -> str:
    """``text`` as JSON string content with every ``every``-th character spelled ``\\uXXXX``."""
    return "".join(f"\\u{ord(c):04X}" if i % every == 0 else c for i, c in enumerate(text))


async def raw_request(url: str, method: str, path: str) -> tuple[int, bytes]:
    """Send ``path`` exactly as written (HTTP clients normalise ``//``)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        request = client.build_request(method, url, content=b"{}" if method == "POST" else None)
        request.url = request.url.copy_with(raw_path=path.encode())
        response = await client.send(request)
        return response.status_code, response.content


@pytest.mark.parametrize("path", MISTYPED, ids=["no-provider", "double-slash", "token-twice"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_mistyped_callback_urls_do_not_echo_the_token(hookline: Hookline, method: str, path: str) -> None:
    status, body = await raw_request(hookline.url, method, path)
    assert status in (404, 405)
    assert orjson.loads(body)["error"]["message"]
    assert TOKEN.encode() not in body


async def test_a_wrong_method_on_the_callback_url_does_not_echo_the_token(hookline: Hookline) -> None:
    response = await hookline.anon.get(hookline.callback_path("mjproxy"))
    assert response.status_code == 405 and TOKEN not in response.text


async def test_the_access_log_never_shows_the_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(make_config(f"sqlite:///{tmp_path / 'h.db'}", tmp_path), access_log=True, shutdown_grace=2.0)
    body = orjson.dumps(fixture_json(MJPROXY_LIFECYCLE[0]))
    with caplog.at_level(logging.INFO, logger="hookline.access"):
        async with run_server(app) as url:
            for path in [*MISTYPED, f"/callbacks/mjproxy/{TOKEN}", f"/v1/jobs/{TOKEN}"]:
                for method in ("GET", "POST"):
                    await raw_request(url, method, path)
            async with httpx.AsyncClient(base_url=url) as client:
                assert (await client.post(f"/callbacks/mjproxy/{TOKEN}", content=body)).status_code == 200
    access = [r.getMessage() for r in caplog.records if r.name == "hookline.access"]
    assert len(access) >= 11
    assert not [line for line in access if TOKEN in line]
    assert any(line.startswith("POST /callbacks/mjproxy/*** 200") for line in access)


@pytest.mark.parametrize("every", [1, 3], ids=["all-escaped", "some-escaped"])
async def test_a_json_escaped_token_never_reaches_subscribers(hookline: Hookline, subscriber: Any, every: int) -> None:
    sink, url = subscriber
    await hookline.admin.post("/v1/subscriptions", json={"url": f"{url}/hook"})
    body = fixture_json(MJPROXY_LIFECYCLE[0])
    body["properties"]["notifyHook"] = "NOTIFY-HOOK"
    hook = f"{hookline.url}/callbacks/mjproxy/{json_escaped(TOKEN, every)}"
    raw = orjson.dumps(body).replace(b"NOTIFY-HOOK", hook.encode())
    assert json.loads(raw)["properties"]["notifyHook"].endswith(TOKEN)  # the escaped token is the token
    answer = await hookline.post_callback("mjproxy", raw)
    assert answer.status_code == 200, answer.text
    await wait_for(lambda: sink.received, what="the event")
    event = sink.received[0].json()
    assert event["data"]["upstream"]["properties"]["notifyHook"] == f"{hookline.url}/callbacks/mjproxy/***"
    assert TOKEN not in json.dumps(event)
    (stored,) = (await hookline.admin.get("/v1/callbacks")).json()["items"]
    assert TOKEN not in json.dumps(json.loads(stored["body"]))


async def test_405_answers_name_the_allowed_methods(hookline: Hookline) -> None:
    response = await hookline.anon.get(hookline.callback_path("mjproxy"))
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = await hookline.admin.put("/v1/jobs")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
