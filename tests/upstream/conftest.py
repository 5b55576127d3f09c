"""The upstream side's fixtures: the simulator on a real uvicorn server, and hookline pointed at it.

These run on SQLite only for now: the PostgreSQL backend's upstream store methods are written after
the branches merge.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookline.app import build_app
from simulator import Knobs, Simulator
from tests.conftest import Hookline, make_config
from tests.support import free_port, run_server, wait_for

FAST = {
    "UPSTREAM_INTERVAL": "0.05",
    "SUBMIT_BACKOFF": "0.1,0.2",
    "RECONCILE_AFTER": "0.4",
    "ARCHIVE": "true",
    "ARCHIVE_RETRY_SCHEDULE": "0.1,0.1,0.1",
    "USEAPI_TOKEN": "useapi-token-for-tests",
    "USEAPI_DISCORD": "discord-token-for-tests",
}
TERMINAL = ("succeeded", "failed", "moderated", "cancelled")


@dataclass
class Sim:
    """A running simulator and its base URL."""

    sim: Simulator
    url: str

    @property
    def knobs(self) -> Knobs:
        return self.sim.knobs


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def sim_factory() -> AsyncIterator[SimFactory]:
    """Start simulators: ``await sim_factory(**knobs)`` (fast steps and a seed by default)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**knobs: Any) -> Sim:
            sim = Simulator(Knobs(**{"step_delay": 0.02, "seed": 7, **knobs}))
            url = await stack.enter_async_context(run_server(sim.app()))
            return Sim(sim, url)

        yield start


@pytest.fixture
async def sim(sim_factory: SimFactory) -> Sim:
    return await sim_factory()


class Upstreams:
    """Starts hookline servers pointed at a simulator, each on a port fixed in advance (so its
    callback URL, which the upstreams call, is known before it starts)."""

    def __init__(self, tmp_path: Path, database_url: str, stack: contextlib.AsyncExitStack) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.stack = stack

    def config(self, sim: Sim, port: int, **env: str) -> Any:
        settings = {
            **FAST,
            "MJPROXY_URL": sim.url,
            "USEAPI_URL": sim.url,
            "PORT": str(port),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            **env,
        }
        return make_config(self.database_url, self.tmp_path, **settings)

    @contextlib.asynccontextmanager
    async def running(self, sim: Sim, *, port: int | None = None, **env: str) -> AsyncIterator[Hookline]:
        """hookline for the duration of the block (tests that restart it use this)."""
        port = port or free_port()
        config = self.config(sim, port, **env)
        app = build_app(config, access_log=False, shutdown_grace=2.0)
        async with run_server(app, port=port) as url:
            h = Hookline(url, app, config)
            try:
                yield h
            finally:
                await h.close()

    async def start(self, sim: Sim, **env: str) -> Hookline:
        """hookline until the end of the test."""
        return await self.stack.enter_async_context(self.running(sim, **env))


@pytest.fixture
async def upstreams(tmp_path: Path, database_url: str) -> AsyncIterator[Upstreams]:
    async with contextlib.AsyncExitStack() as stack:
        yield Upstreams(tmp_path, database_url, stack)


async def blend(h: Hookline, provider: str, images: list[str], **body: Any) -> dict[str, Any]:
    """Submit a blend; fail the test unless hookline accepts it."""
    response = await h.admin.post("/v1/blend", json={"provider": provider, "images": images, **body})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def job(h: Hookline, job_id: str) -> dict[str, Any]:
    response = await h.admin.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def wait_for_jobs(
    h: Hookline, job_ids: list[str], done: Callable[[dict[str, Any]], bool], *, timeout: float = 20.0, what: str = ""
) -> list[dict[str, Any]]:
    """Wait until ``done(job)`` holds for every job; return the jobs."""
    found: dict[str, dict[str, Any]] = {}

    async def all_done() -> bool:
        for job_id in job_ids:
            if job_id not in found:
                current = await job(h, job_id)
                if done(current):
                    found[job_id] = current
        return len(found) == len(job_ids)

    try:
        await wait_for(all_done, timeout=timeout, interval=0.1, what=what or f"{len(job_ids)} jobs")
    except AssertionError as exc:
        late = [await job(h, j) for j in job_ids if j not in found][:3]
        shown = [{k: j[k] for k in ("id", "status", "error", "submission", "archive")} for j in late]
        raise AssertionError(f"{exc}; still waiting for {len(job_ids) - len(found)}, e.g. {shown}") from None
    return [found[j] for j in job_ids]


def archived(j: dict[str, Any]) -> bool:
    """Archived, and the event seen (the job detail reads its parts one query at a time)."""
    done = j["archive"] is not None and j["archive"]["state"] == "archived"
    return done and any(e["type"] == "job.archived" for e in j["events"])


def terminal(j: dict[str, Any]) -> bool:
    return bool(j["status"] in TERMINAL)


def samples(sim: Sim, *names: str) -> list[str]:
    return [f"{sim.url}/samples/{name}.png" for name in names or ("a", "b")]


async def download(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


def image_server_app() -> Any:
    """Input images for mjproxy blends: good, missing, mislabelled, too big, redirected."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Route

    from simulator import png

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "ok.png":
            return Response(png.render(40, 40, "input"), media_type="image/png")
        if name == "big.png":
            return Response(png.render(300, 300, "big"), media_type="image/png")
        if name == "page.html":
            return Response(b"<html>hello</html>", media_type="text/html")
        if name == "liar.png":
            return Response(b"<html>not an image</html>", media_type="image/png")
        if name == "moved.png":
            return RedirectResponse("/img/ok.png", status_code=302)
        return Response(b"no", status_code=404)

    return Starlette(routes=[Route("/img/{name}", serve)])


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    """Base URL of the input image server (``/img/ok.png`` etc.)."""
    async with run_server(image_server_app(), lifespan="off") as url:
        yield f"{url}/img"
