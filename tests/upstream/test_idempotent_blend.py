"""``POST /v1/blend`` with ``Idempotency-Key``: however often a client retries, one job and one
upstream submission; a retry while the first is still running is told so (also when it reaches
another hookline process on the same PostgreSQL database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import png
from tests.conftest import Hookline
from tests.support import HooklineProcess, free_port, run_server, wait_for
from tests.upstream.conftest import Sim, Upstreams, job, samples


class SlowImages:
    """Input images for mjproxy blends, held back until ``release()``: a blend request stays
    running (hookline fetches the images before it answers) for as long as the test wants."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.asked = 0

    def release(self) -> None:
        self.gate.set()

    def app(self) -> Starlette:
        async def serve(request: Request) -> Response:
            self.asked += 1
            await self.gate.wait()
            return Response(png.render(24, 24, request.path_params["name"]), media_type="image/png")

        return Starlette(routes=[Route("/img/{name}", serve)])


@pytest.fixture
async def slow_images() -> AsyncIterator[tuple[SlowImages, str]]:
    images = SlowImages()
    async with run_server(images.app(), lifespan="off") as url:
        yield images, f"{url}/img"


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_a_retried_blend_is_submitted_upstream_once(sim: Sim, upstreams: Upstreams) -> None:
    h = await upstreams.start(sim)
    body = {"provider": "useapi", "images": samples(sim), "correlation_key": "order-1"}
    first = await h.admin.post("/v1/blend", json=body, headers=key("blend-1"))
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]

    async def sent() -> bool:
        submission = (await job(h, job_id))["submission"]
        return submission is not None and submission["state"] == "sent"

    await wait_for(sent, timeout=10, what="the blend submitted upstream")
    for _ in range(3):
        again = await h.admin.post("/v1/blend", json=body, headers=key("blend-1"))
        assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == job_id
    assert [j["id"] for j in (await h.admin.get("/v1/jobs")).json()["items"]] == [job_id]
    assert len(sim.sim.submissions()) == 1


async def test_a_retry_while_the_first_blend_runs_is_told_it_is_in_use(
    sim: Sim, upstreams: Upstreams, slow_images: tuple[SlowImages, str]
) -> None:
    h = await upstreams.start(sim)
    images, url = slow_images
    body = {"provider": "mjproxy", "images": [f"{url}/a.png", f"{url}/b.png"]}
    first = asyncio.create_task(h.admin.post("/v1/blend", json=body, headers=key("slow")))
    await wait_for(lambda: images.asked > 0, timeout=10, what="hookline fetching the images")
    busy = await h.admin.post("/v1/blend", json=body, headers=key("slow"))
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_use"
    images.release()
    answered = await first
    assert answered.status_code == 202
    replayed = await h.admin.post("/v1/blend", json=body, headers=key("slow"))
    assert replayed.json()["id"] == answered.json()["id"] and replayed.headers["idempotent-replayed"] == "true"
    assert len((await h.admin.get("/v1/jobs")).json()["items"]) == 1


async def test_another_process_sees_the_key_in_use_then_replays_it(
    sim: Sim, upstreams: Upstreams, slow_images: tuple[SlowImages, str], database_url: str
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("one process owns a SQLite database")
    a: Hookline = await upstreams.start(sim)
    b: Hookline = await upstreams.start(sim)
    images, url = slow_images
    body: dict[str, Any] = {"provider": "mjproxy", "images": [f"{url}/a.png", f"{url}/b.png"]}
    first = asyncio.create_task(a.admin.post("/v1/blend", json=body, headers=key("one-key-two-servers")))
    await wait_for(lambda: images.asked > 0, timeout=10, what="hookline A fetching the images")
    busy = await b.admin.post("/v1/blend", json=body, headers=key("one-key-two-servers"))
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_use"
    images.release()
    answered: httpx.Response = await first
    replayed = await b.admin.post("/v1/blend", json=body, headers=key("one-key-two-servers"))
    assert (replayed.status_code, replayed.content) == (answered.status_code, answered.content)
    assert replayed.headers["idempotent-replayed"] == "true"


@pytest.mark.postgres
async def test_the_key_of_a_request_whose_process_died_frees_itself(
    sim: Sim, slow_images: tuple[SlowImages, str], pg_url: str, tmp_path: Path
) -> None:
    """SIGKILL mid-request: the key stays in use (another process answers 409) until the dead
    request's lock runs out; then the retry runs, once."""
    lock = 3.0  # HOOKLINE_IDEMPOTENCY_LOCK: how long a dead request's key stays taken
    env = {"HOOKLINE_DATABASE_URL": pg_url, "HOOKLINE_MJPROXY_URL": sim.url, "HOOKLINE_IDEMPOTENCY_LOCK": str(lock)}
    a = HooklineProcess(tmp_path / "a", free_port(), env)
    b = HooklineProcess(tmp_path / "b", free_port(), env)
    await a.start()
    await b.start()
    images, url = slow_images
    body = {"provider": "mjproxy", "images": [f"{url}/a.png", f"{url}/b.png"]}
    async with httpx.AsyncClient(headers={**a.admin_headers, **key("crash")}, timeout=60) as client:
        dying = asyncio.create_task(client.post(f"{a.url}/v1/blend", json=body))
        await wait_for(lambda: images.asked > 0, timeout=10, what="hookline A fetching the images")
        a.kill()
        with pytest.raises(httpx.HTTPError):
            await dying
        images.release()
        busy = await client.post(f"{b.url}/v1/blend", json=body)
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_use"
        answers: list[httpx.Response] = []

        async def ran() -> bool:
            answers.append(await client.post(f"{b.url}/v1/blend", json=body))
            return answers[-1].status_code != 409

        await wait_for(ran, timeout=lock + 15, interval=0.2, what="the dead request's lock to run out")
        assert answers[-1].status_code == 202 and "idempotent-replayed" not in answers[-1].headers
        jobs = (await client.get(f"{b.url}/v1/jobs")).json()["items"]
    assert [j["id"] for j in jobs] == [answers[-1].json()["id"]]
    b.stop()
