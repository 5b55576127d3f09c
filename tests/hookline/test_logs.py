"""Logs of a real ``hookline serve`` process with ``--log-format json``: every stderr line is one
JSON object, requests carry their request id, and no token, secret or body ever appears."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import fixture_json, free_port, run_server, wait_for

ADMIN = "admin-token-LOGTEST-0123456789"
CALLBACK = "callback-token-LOGTEST-0123456789"
BODY_MARKER = "BODY-MARKER-7c1e"
SINK_MARKER = "SINK-ANSWER-MARKER-5d2a"
URL_SECRET = "URL-SECRET-91b3"


def failing_sink() -> Starlette:
    async def hook(request: Request) -> Response:
        await request.body()
        return Response(SINK_MARKER.encode(), status_code=500)

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


async def test_json_logs_are_one_object_a_line_with_request_ids_and_no_secrets(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HOOKLINE_DATA_DIR": str(tmp_path / "data"),
        "HOOKLINE_ADMIN_TOKEN": ADMIN,
        "HOOKLINE_CALLBACK_TOKEN": CALLBACK,
        "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
        "HOOKLINE_RETRY_SCHEDULE": "0.05",
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "hookline"),
        "serve",
        "--port",
        str(port),
        "--log-format",
        "json",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    request_ids: list[str] = []
    try:
        async with (
            httpx.AsyncClient(base_url=url, timeout=10) as client,
            run_server(failing_sink(), lifespan="off") as sink,
        ):
            await wait_for(lambda: _up(client), timeout=20, what="hookline serve to answer")
            admin = {"Authorization": f"Bearer {ADMIN}"}
            created = await client.post(
                "/v1/subscriptions", headers=admin, json={"url": f"{sink}/hook?sig={URL_SECRET}"}
            )
            secret = created.json()["secret"]
            body = fixture_json("mjproxy-blend-01-submitted.json")
            body["prompt"] = BODY_MARKER
            ok = await client.post(f"/callbacks/mjproxy/{CALLBACK}", content=orjson.dumps(body))
            assert ok.status_code == 200
            request_ids.append(ok.headers["x-request-id"])
            bad = await client.post(f"/callbacks/useapi/{CALLBACK}", content=f"not json {BODY_MARKER}")
            assert bad.status_code == 400
            wrong = await client.post("/callbacks/mjproxy/WRONG-CALLBACK-TOKEN-0000", content=b"{}")
            assert wrong.status_code == 401
            listed = await client.get("/v1/jobs", headers={**admin, "x-request-id": "my-trace-42"})
            assert listed.headers["x-request-id"] == "my-trace-42"
            request_ids.append("my-trace-42")
            assert (await client.get("/v1/jobs", headers={"Authorization": "Bearer WRONG-ADMIN"})).status_code == 401
            login_page = await client.get("/dashboard/login")
            token = login_page.text.split('name="login_token" value="')[1].split('"')[0]
            await client.post("/dashboard/login", data={"login_token": token, "token": ADMIN, "next": "/"})

            async def dead() -> bool:
                page = (await client.get("/v1/deliveries", headers=admin, params={"status": "dead"})).json()
                return len(page["items"]) == 1

            await wait_for(dead, timeout=10, what="the delivery to the failing sink to die")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    # uvicorn finishes a graceful shutdown, then re-raises the SIGTERM it caught (systemd and
    # Kubernetes count that as a clean stop).
    assert process.returncode in (0, -signal.SIGTERM), err.decode()[-3000:]
    assert "Application shutdown complete." in err.decode()

    lines = err.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses: nothing but JSON on stderr
    assert all(isinstance(r, dict) and {"ts", "level", "logger", "msg"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "hookline.access"]
    assert access and all("request_id" in r and "status" in r and "duration_ms" in r for r in access)
    assert {r["request_id"] for r in access} >= set(request_ids)
    assert any(r["msg"] == "POST /callbacks/mjproxy/*** 200" for r in access)
    assert any(r["logger"] == "dispatcher.worker" and r.get("delivery_id") for r in records)
    logged = err.decode() + out.decode()
    for leak in (ADMIN, CALLBACK, "WRONG-CALLBACK-TOKEN", BODY_MARKER, SINK_MARKER, URL_SECRET, secret):
        assert leak not in logged, f"{leak!r} leaked into the logs"


async def _up(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False
