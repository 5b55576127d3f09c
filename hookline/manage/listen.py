"""``hookline listen``: receive a running hookline's events on this machine and print them.

Like ``svix listen`` and ``hookdeck listen``: it starts a small receiver on 127.0.0.1, subscribes
it through the management API, verifies each delivery's Standard Webhooks signature with the
subscription's secret (:mod:`hookline.signing`, as any subscriber must), prints each verified
event on stdout (one line, or the event's JSON with ``--json``) and refuses a forged or stale one
with 401 (reported on stderr). Ctrl-C (or SIGTERM) stops it and deletes the subscription, so a
receiver that is gone leaves no deliveries piling up behind it.

hookline refuses to deliver to loopback addresses unless it was started with
``HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8`` (or ``HOOKLINE_ALLOW_PRIVATE_TARGETS=true``); the error then says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import signal
import sys
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline import signing
from hookline.binding import BindError, bind_socket
from hookline.client import Client, ClientError

TOLERANCE = 300  # seconds a webhook-timestamp may be off, as the standardwebhooks and svix libraries allow
HOST = "127.0.0.1"
LOOPBACK_HINT = (
    "hookline listen receives on this machine: start hookline with HOOKLINE_ALLOWED_NETWORKS=127.0.0.0/8 "
    "to let it deliver to 127.0.0.1 (the README's tour does)"
)


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """None when ``body`` and ``headers`` are a delivery signed with ``secret`` within
    :data:`TOLERANCE` of ``now``; otherwise why not. Any one ``v1,`` token may match (during a
    secret rotation hookline signs with both secrets)."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return "no webhook-id or webhook-timestamp header"
    if abs(now - int(stamp)) > TOLERANCE:
        return f"webhook-timestamp {stamp} is more than {TOLERANCE // 60} minutes from now"
    expected = signing.sign([secret], msg_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, token) for token in headers.get("webhook-signature", "").split()):
        return "webhook-signature does not match the subscription's secret"
    return None


def describe(event: dict[str, Any], at: float) -> str:
    """One line for a person: time, type, job, provider, correlation key and what changed."""
    found = event.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = str(event.get("type"))
    if kind == "job.progress":
        detail = f"{data.get('progress')}%"
    elif kind == "job.submitted":
        detail = f"upstream id {data.get('upstream_id')}"
    elif kind == "job.succeeded":
        detail = f"{len(data.get('image_urls') or [])} image(s)"
    elif kind == "job.archived":
        detail = f"{len(data.get('archived_images') or [])} image(s) archived"
    else:
        detail = str(data.get("error") or "")
    parts = (time.strftime("%H:%M:%S", time.localtime(at)), f"{kind:<14}", data.get("job_id"), data.get("provider"))
    return "  ".join(str(p) for p in (*parts, data.get("correlation_key"), detail) if p not in (None, ""))


class _Receiver(uvicorn.Server):
    """uvicorn, stopped by SIGINT/SIGTERM without re-raising the signal afterwards (uvicorn's
    default), so that ``listen`` gets to delete its subscription before it exits."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        self.force_exit = self.should_exit  # a second Ctrl-C does not wait for open connections
        self.should_exit = True


class Listener:
    """The receiving end: verifies, prints, answers. ``out`` writes one line to stdout."""

    def __init__(self, secret: str, *, as_json: bool, out: Callable[[str], None]) -> None:
        self.secret = secret
        self.as_json = as_json
        self.out = out
        self.reader_gone = False
        self.server: _Receiver | None = None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        now = time.time()
        problem = verify(self.secret, request.headers, body, now)
        if problem is not None:
            print(f"refused a delivery (answered 401): {problem}", file=sys.stderr, flush=True)
            return Response(status_code=401)
        try:
            event = orjson.loads(body)
            # JSON lines: the body may hold the upstream's pretty-printed snapshot, newlines included.
            self.out(
                orjson.dumps(event).decode()
                if self.as_json
                else describe(event if isinstance(event, dict) else {}, now)
            )
        except orjson.JSONDecodeError:
            self.out(f"a verified delivery that is not JSON ({len(body)} bytes)")
        except BrokenPipeError:
            # Whoever read our output stopped (| head): stop, and let listen clean up.
            self.reader_gone = True
            if self.server is not None:
                self.server.should_exit = True
        return Response(status_code=204)


def subscription_body(args: argparse.Namespace, url: str) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "description": "hookline listen (deleted when it stops)"}
    if args.event_type:
        body["event_types"] = args.event_type
    flt = {k: v for k, v in (("provider", args.provider), ("correlation_key", args.key)) if v}
    if flt:
        body["filter"] = flt
    return body


def listen(client: Client, args: argparse.Namespace) -> int:
    """The ``listen`` command: see the module docstring. Exit 0 when stopped by Ctrl-C/SIGTERM."""
    try:
        sock = bind_socket(HOST, args.port, how_to_change="--port PORT (or 0 for any free port)")
    except BindError as exc:
        print(f"hookline: {exc}", file=sys.stderr)
        return 2
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    try:
        sub = client.post("/v1/subscriptions", subscription_body(args, url))
    except ClientError as exc:
        sock.close()
        if exc.status == 400 and "refused" in exc.message:
            raise ClientError(f"{exc.message}\n{LOOPBACK_HINT}", exc.exit_code, status=exc.status) from None
        raise
    listener = Listener(sub["secret"], as_json=args.json, out=lambda line: print(line, flush=True))
    print(
        f"listening on {url} as subscription {sub['id']}; every event shown passed signature verification. "
        "Ctrl-C stops and unsubscribes.",
        file=sys.stderr,
        flush=True,
    )
    try:
        asyncio.run(_serve(listener, sock))
    finally:
        try:
            client.delete(f"/v1/subscriptions/{sub['id']}")
            print(f"unsubscribed {sub['id']}", file=sys.stderr, flush=True)
        except ClientError as exc:
            print(f"could not delete subscription {sub['id']}: {exc.message}", file=sys.stderr, flush=True)
    if listener.reader_gone:
        raise BrokenPipeError  # the CLI ends quietly, as for any reader that went away
    return 0


async def _serve(listener: Listener, sock: Any) -> None:
    config = uvicorn.Config(
        listener.app(),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    listener.server = _Receiver(config)
    await listener.server.serve(sockets=[sock])
