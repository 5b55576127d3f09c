"""``hookline demo``: the whole loop on one machine, in one command.

It starts the simulated upstreams (dropping some callbacks, reordering others), hookline on SQLite
in a temporary directory, and a sample subscriber that verifies every event's Standard Webhooks
signature and prints it as it arrives; then it submits blends to both providers and exits once
each job is archived (or has failed), with a summary of what hookline had to recover by polling.
Everything listens on 127.0.0.1 and is gone afterwards.

``--chaos`` turns the upstreams' bad days on as well (:data:`CHAOS`): failures as first and only
callback, late failures after success, cancels and moderation as failure texts, polls that say
nothing, a proxy's 502 and new-api's "busy" on submit, the forks' body shapes. The demo succeeds
only when every job ends in its true final state (what the simulator really did with it) and every
event hookline emitted reached the subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import secrets
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline import signing
from hookline.config import Config
from simulator import Knobs, Simulator

TOLERANCE = 300  # seconds: how far a webhook-timestamp may be from now, as the reference libraries allow
ENDED = ("job.archived", "job.failed", "job.moderated", "job.cancelled")
# The bad days ``--chaos`` turns on, on top of lost and reordered callbacks.
CHAOS: dict[str, Any] = {
    "duplicate": 0.2,
    "fail": 0.1,
    "moderate": 0.1,
    "cancel": 0.1,
    "first_failure": 0.1,
    "late_failure": 0.3,
    "blank_polls": 0.3,
    "submit_trouble": 0.2,
    "busy": 0.2,
    "mjproxy_unknown": "204",
    "mjproxy_flavour": "mixed",
}


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = commands.add_parser(
        "demo",
        help="run hookline, the simulated upstreams and a subscriber, submit blends, show the events",
        description="Start the simulated upstreams, hookline (SQLite, temporary directory) and a "
        "subscriber that verifies signatures; submit blends to both providers; print every event as it "
        "arrives; exit when the jobs are done.",
    )
    parser.add_argument("--jobs", type=int, default=None, help="blends per provider (default 1; 4 with --chaos)")
    parser.add_argument("--step-delay", type=float, default=0.4, help="seconds between upstream steps (default 0.4)")
    parser.add_argument("--drop", type=float, default=0.3, help="fraction of callbacks the upstreams lose (0.3)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the simulator (repeatable runs)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds (120)")
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="the upstreams' bad days too: failures, cancels, moderation, late failures, polls that say "
        "nothing, 502s and 'busy' answers on submit, the forks' body shapes",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hookline.cli import run_async
    from hookline.logs import configure

    configure("text", "warning")
    chaos = CHAOS if args.chaos else {}
    knobs = Knobs(seed=args.seed, step_delay=args.step_delay, drop=args.drop, reorder=0.3, **chaos)
    jobs = args.jobs if args.jobs is not None else (4 if args.chaos else 1)
    return run_async(lambda: run_demo(knobs, jobs=jobs, timeout=args.timeout))


@dataclass
class Watcher:
    """The sample subscriber: verifies each delivery, prints it, and notices when every job ended."""

    secret: str
    expected: int
    out: Callable[[str], None]
    ended: set[str] = field(default_factory=set)
    verified: int = 0
    seen: set[str] = field(default_factory=set)  # webhook-ids received
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            if not self.verify(request.headers, body):
                self.out("  !! a delivery with a bad signature was refused")
                return Response(status_code=401)
            self.verified += 1
            self.seen.add(request.headers["webhook-id"])
            self.show(orjson.loads(body))
            return Response(status_code=204)

        return Starlette(routes=[Route("/events", receive, methods=["POST"])])

    def verify(self, headers: Any, body: bytes) -> bool:
        """Standard Webhooks: HMAC-SHA256 of ``id.timestamp.body``, any ``v1,`` token may match."""
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE:
            return False
        expected = signing.sign([self.secret], msg_id, int(stamp), body)
        given = headers.get("webhook-signature", "").split(" ")
        return any(hmac.compare_digest(expected, token) for token in given)

    def show(self, event: dict[str, Any]) -> None:
        data, kind = event["data"], event["type"]
        line = f"{time.monotonic() - self.started:6.1f}s  {data['provider']:7}  {data['job_id']}  {kind:14}"
        if kind == "job.progress":
            line += f" {data['progress']:>3}%"
        elif kind in ("job.failed", "job.moderated", "job.cancelled"):
            line += f" {data['error']}"
        elif kind == "job.submitted":
            line += f" {data['status']}, upstream id {data['upstream_id']}"
        self.out(line)
        if kind == "job.archived":
            for image in data["archived_images"]:
                self.out(f"{'':26}kept {image['bytes']} bytes ({image['content_type']}) at {image['url']}")
        if kind in ENDED:
            self.ended.add(data["job_id"])
            if len(self.ended) >= self.expected:
                self.done.set()


async def run_demo(
    knobs: Knobs,
    *,
    jobs: int = 1,
    timeout: float = 120.0,
    out: Callable[[str], None] = print,
    sim: Simulator | None = None,
) -> int:
    """Run the demo; 0 when every job ended in its true final state (archived, if it succeeded) and
    every event reached the subscriber, 1 otherwise. ``sim`` (made from ``knobs`` when None) lets a
    caller look at what the upstreams did."""
    from hookline.app import build_app

    sim = sim if sim is not None else Simulator(knobs)
    admin_token = secrets.token_urlsafe(24)
    watcher = Watcher(signing.generate_secret(), expected=2 * jobs, out=out)
    with tempfile.TemporaryDirectory(prefix="hookline-demo-") as tmp:
        async with _serving(sim.app()) as sim_url, _serving(watcher.app(), lifespan="off") as sink_url:
            port = _free_port()
            config = _config(Path(tmp), port, sim_url, admin_token, knobs.step_delay)
            async with _serving(build_app(config, access_log=False, shutdown_grace=2.0), port=port) as url:
                out(f"hookline {url}  (admin token {admin_token})")
                out(f"simulated upstreams {sim_url}  (losing {knobs.drop:.0%} of callbacks)")
                out(f"subscriber {sink_url}/events  (verifies every signature)\n")
                async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}) as api:
                    await api.post("/v1/subscriptions", json={"url": f"{sink_url}/events", "secret": watcher.secret})
                    ids = await _submit(api, sim_url, jobs, out)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(watcher.done.wait(), timeout)
                    return await _summary(api, ids, sim, watcher, out)


async def _submit(api: httpx.AsyncClient, sim_url: str, jobs: int, out: Callable[[str], None]) -> list[str]:
    ids = []
    for n in range(jobs):
        for provider, dimensions in (("mjproxy", "portrait"), ("useapi", "landscape")):
            images = [f"{sim_url}/samples/cat{n}.png", f"{sim_url}/samples/dog{n}.png"]
            answer = await api.post(
                "/v1/blend", json={"provider": provider, "images": images, "dimensions": dimensions}
            )
            answer.raise_for_status()
            ids.append(answer.json()["id"])
            out(f"submitted a {dimensions} blend to {provider}: {ids[-1]}")
    return ids


async def _summary(
    api: httpx.AsyncClient, ids: list[str], sim: Simulator, watcher: Watcher, out: Callable[[str], None]
) -> int:
    """Print how each job ended; 0 when each is in its true final state (archived if it succeeded)
    and every event hookline emitted reached the subscriber."""
    jobs = [(await api.get(f"/v1/jobs/{job_id}")).json() for job_id in ids]
    dropped = sum(cb.dropped for cb in sim.callbacks)
    polls = sum(c["source"] == "poll" for j in jobs for c in j["callbacks"])
    resent = sum(max(0, (j.get("submission") or {}).get("attempts", 1) - 1) for j in jobs)
    emitted = {e["id"] for j in jobs for e in j["events"]}
    missing = emitted - watcher.seen
    out(
        f"\n{watcher.verified} events delivered, every signature verified. The upstreams lost {dropped} "
        f"callback(s); hookline polled {polls} time(s) for jobs that went quiet and sent {resent} blend(s) "
        f"again after a temporary upstream error."
    )
    ok = not missing
    if missing:
        out(f"  !! {len(missing)} event(s) never reached the subscriber")
    for j in jobs:
        task = sim.tasks.get((j["provider"], j["upstream_id"] or ""))
        truth = task.truth if task is not None else None
        state = (j.get("archive") or {}).get("state", "not archived")
        right = j["status"] == truth and (truth != "succeeded" or state == "archived")
        note = "" if right else f"   !! the upstream really: {truth or 'never got it'}"
        out(f"  {j['provider']:7}  {j['id']}  {j['status']}, {state}{note}")
        ok = ok and right
    return 0 if ok else 1


def _config(data_dir: Path, port: int, sim_url: str, admin_token: str, step_delay: float) -> Config:
    return Config.from_env(
        {
            "HOOKLINE_DATA_DIR": str(data_dir),
            "HOOKLINE_PORT": str(port),
            "HOOKLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HOOKLINE_ADMIN_TOKEN": admin_token,
            "HOOKLINE_MJPROXY_URL": sim_url,
            "HOOKLINE_USEAPI_URL": sim_url,
            "HOOKLINE_USEAPI_TOKEN": "demo-useapi-token",
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",  # everything in the demo lives on 127.0.0.1
            "HOOKLINE_RECONCILE_AFTER": str(max(0.5, step_delay * 4)),
            "HOOKLINE_UPSTREAM_INTERVAL": "0.2",
            "HOOKLINE_SUBMIT_BACKOFF": "1,2",
            "HOOKLINE_RETRY_SCHEDULE": "0.5,1,2",
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serving(app: Any, *, port: int = 0, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 for the duration of the block; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_config=None, loop="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("a demo server stopped while starting")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await task
