"""Test support: real uvicorn servers on loopback, a recording subscriber, fixtures, waiting with a
deadline. No sleeps-and-hope: ``wait_for`` polls a condition until a deadline and fails loudly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jsonschema
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from hookline.api.protocol import guarded_protocol
from hookline.catalogue import schema_of
from hookline.models import EVENT_TYPES

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"

MJPROXY_LIFECYCLE = [
    "mjproxy-blend-01-submitted.json",
    "mjproxy-blend-02-in-progress-start.json",
    "mjproxy-blend-03-in-progress-00.json",
    "mjproxy-blend-04-in-progress-15.json",
    "mjproxy-blend-05-in-progress-31.json",
    "mjproxy-blend-06-in-progress-46.json",
    "mjproxy-blend-07-in-progress-62.json",
    "mjproxy-blend-08-in-progress-78.json",
    "mjproxy-blend-09-in-progress-93.json",
    "mjproxy-blend-10-success.json",
]
MJPROXY_FAILURE = [*MJPROXY_LIFECYCLE[:-1], "mjproxy-blend-90-failure-timeout.json"]
USEAPI_COMPLETED = ["useapi-blend-01-get-job-progress.json", "useapi-blend-10-callback-completed.json"]
USEAPI_FAILED = ["useapi-blend-90-callback-failed.json"]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


async def wait_for(
    condition: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def run_server(app: ASGIApp, *, lifespan: str = "on", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn server on a loopback port (a free one unless ``port`` is
    given: a server that must know its own URL in advance); yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_config=None,
        access_log=False,
        loop="none",
        http=guarded_protocol(32 * 1024, 10.0),  # what `hookline serve` runs: httptools with limits
    )
    server = uvicorn.Server(config)
    # A test's server leaves the process's signal handlers alone (uvicorn installs its own and,
    # with servers stopped out of order, could leave a stopped server's behind).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), what="uvicorn to start")
    if task.done():
        task.result()
        raise AssertionError("the server stopped during start-up")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, for a server that must know its URL before it starts.
    Not from the kernel's ephemeral range (32768-60999 here): an outgoing connection of another test
    could take such a port between this call and the server's bind (seen under CI load). Each
    pytest-xdist worker draws from its own range, and never hands out a port twice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = 20000 + (int(worker) if worker.isdigit() else 0) % 6 * 2000
    for port in random.sample(range(low, low + 2000), 2000):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{low + 1999}")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


def _closed(schema: Any) -> Any:
    """``schema`` with unknown keys refused wherever it lists properties: the published schemas
    are open (consumers keep working when a field is added), the tests hold hookline to them."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    return [_closed(v) for v in schema] if isinstance(schema, list) else schema


EVENT_VALIDATORS = {
    name: jsonschema.Draft202012Validator(
        _closed(schema_of(name)), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for name in EVENT_TYPES
}
# Why events that test subscribers received break the catalogue; tests/conftest.py fails the test.
SCHEMA_VIOLATIONS: list[str] = []


def event_violations(body: bytes) -> list[str]:
    """What is wrong with ``body`` as a hookline event, checked against its type's schema from
    ``GET /v1/event-types`` (unknown keys refused); empty when it is a valid event."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind not in EVENT_VALIDATORS:
        return [f"unknown event type {kind!r}"]
    errors = EVENT_VALIDATORS[kind].iter_errors(doc)
    return [f"{kind} at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


@dataclass
class Subscriber:
    """A webhook endpoint for tests: records every request; answers from ``responses`` (a list
    of status codes or (status, headers) consumed in order, then ``default``); may sleep."""

    default: int = 200
    responses: list[Any] = field(default_factory=list)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.received.append(Received(request.url.path, dict(request.headers), body, time.time()))
            if "webhook-id" in request.headers:  # sent by hookline: an event of the catalogue
                SCHEMA_VIOLATIONS.extend(event_violations(body))
            if self.delay:
                await asyncio.sleep(self.delay)
            answer = self.responses.pop(0) if self.responses else self.default
            status, headers = (answer, {}) if isinstance(answer, int) else answer
            return Response(b"ok" if status < 400 else b"nope", status_code=status, headers=headers)

        async def redirect_target(request: Request) -> Response:
            self.received.append(Received(request.url.path, dict(request.headers), await request.body(), time.time()))
            return Response(b"ok")

        return Starlette(
            routes=[
                Route("/moved-here", redirect_target, methods=["POST"]),
                Route("/{path:path}", hook, methods=["POST"]),
            ]
        )

    def events(self) -> list[Any]:
        return [r.json() for r in self.received if r.path != "/moved-here"]


class HooklineProcess:
    """``python -m hookline serve`` as a real child process (for tests that kill it).

    Every started process is remembered until it is stopped or killed, and an autouse fixture
    (``tests/conftest.py``) stops what a failing test left running."""

    running: ClassVar[set[HooklineProcess]] = set()

    def __init__(
        self, data_dir: Path, port: int, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "HOOKLINE_DATA_DIR": str(data_dir),
            "HOOKLINE_PORT": str(port),
            "HOOKLINE_ADMIN_TOKEN": "admin-token-for-tests-0123456789",
            "HOOKLINE_CALLBACK_TOKEN": "callback-token-for-tests-0123456789",
            "HOOKLINE_ALLOW_PRIVATE_TARGETS": "true",
            "HOOKLINE_LOG_FORMAT": "json",
            "HOOKLINE_ARCHIVE": "false",  # callbacks in tests name CDN links that cannot be reached
            **(env or {}),
        }
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"hookline-{port}.log"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['HOOKLINE_ADMIN_TOKEN']}"}

    def callback_url(self, provider: str) -> str:
        return f"{self.url}/callbacks/{provider}/{self.env['HOOKLINE_CALLBACK_TOKEN']}"

    async def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hookline", "serve", "--no-access-log", *self.args],
            env=self.env,
            stdout=log,
            stderr=log,
            cwd=self.data_dir,
        )
        log.close()
        HooklineProcess.running.add(self)

        async def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"hookline exited with {self.process.returncode}:\n{self.log()}")
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(healthy, timeout=timeout, interval=0.05, what=f"hookline on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        HooklineProcess.running.discard(self)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        HooklineProcess.running.discard(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
