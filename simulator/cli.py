"""``hookline simulate``: serve the simulated upstream APIs until stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from simulator.engine import Knobs, Simulator

FRACTIONS = {
    "drop": "fraction of callbacks never sent (0-1)",
    "duplicate": "fraction of callbacks sent twice",
    "reorder": "fraction of callbacks held back 1-3 steps, so they arrive out of order",
    "fail": "fraction of jobs that fail part-way through",
    "moderate": "fraction of submissions refused for moderation (mjproxy code 24, useapi 422)",
}


def register(commands: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser = commands.add_parser(
        "simulate",
        help="serve simulated midjourney-proxy and useapi.net APIs (for trying hookline out)",
        description="Serve both upstream APIs (POST /mj/submit/blend, GET /mj/task/{id}/fetch, "
        "POST /mj/task/list-by-condition, POST /v1/jobs/blend, GET /v1/jobs/?jobid=) with their "
        "validation and error codes, send callbacks with the real lifecycle, and serve real PNG results "
        "at Discord-CDN-shaped links. Point hookline at it with HOOKLINE_MJPROXY_URL and "
        "HOOKLINE_USEAPI_URL (and HOOKLINE_ALLOW_PRIVATE_TARGETS=true to archive images from loopback).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port to listen on (default 9000)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random knobs (repeatable runs)")
    parser.add_argument("--step-delay", type=float, default=2.0, help="seconds between lifecycle steps (default 2)")
    parser.add_argument("--answer-delay", type=float, default=0.0, help="seconds before each API answer")
    for name, help_text in FRACTIONS.items():
        parser.add_argument(f"--{name}", type=_fraction, default=0.0, help=help_text)
    parser.add_argument("--queue-full", type=int, default=0, help="answer the next N submissions 'queue full'")
    parser.add_argument("--mjproxy-slots", type=int, default=3, help="mjproxy tasks running at once (default 3)")
    parser.add_argument("--mjproxy-queue", type=int, default=10, help="mjproxy tasks waiting (default 10)")
    parser.add_argument("--useapi-slots", type=int, default=None, help="useapi running-job ceiling (default maxJobs)")
    parser.add_argument("--mjproxy-secret", default=None, help="require this mj-api-secret header")
    parser.add_argument("--useapi-token", default=None, help="require this useapi bearer token")
    parser.add_argument("--no-callbacks", action="store_true", help="never call back (hookline must poll)")
    parser.add_argument("--link-ttl", type=float, default=86400.0, help="seconds until result links expire")
    parser.add_argument("--cdn-failures", type=int, default=0, help="answer the next N image downloads 503")
    parser.set_defaults(func=_run)


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("expected a fraction from 0 to 1")
    return value


def knobs_from(args: argparse.Namespace) -> Knobs:
    return Knobs(
        seed=args.seed,
        step_delay=args.step_delay,
        answer_delay=args.answer_delay,
        drop=args.drop,
        duplicate=args.duplicate,
        reorder=args.reorder,
        fail=args.fail,
        moderate=args.moderate,
        queue_full=args.queue_full,
        mjproxy_slots=args.mjproxy_slots,
        mjproxy_queue=args.mjproxy_queue,
        useapi_slots=args.useapi_slots,
        mjproxy_secret=args.mjproxy_secret,
        useapi_token=args.useapi_token,
        callbacks=not args.no_callbacks,
        link_ttl=args.link_ttl,
        cdn_failures=args.cdn_failures,
    )


def _run(args: argparse.Namespace) -> int:
    from hookline.cli import run_async

    return run_async(lambda: serve(Simulator(knobs_from(args)), args.host, args.port))


async def serve(sim: Simulator, host: str, port: int) -> int:
    """Serve ``sim`` on ``host:port`` until interrupted."""
    import uvicorn

    base = f"http://{host}:{port}"
    print(
        f"hookline simulator on {base}\n"
        f"  HOOKLINE_MJPROXY_URL={base}\n"
        f"  HOOKLINE_USEAPI_URL={base}   (and any HOOKLINE_USEAPI_TOKEN)\n"
        f"  HOOKLINE_ALLOW_PRIVATE_TARGETS=true   (results are served from {host})",
        flush=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(sim.app(), host=host, port=port, loop="none", log_config=None, access_log=False)
    )
    try:
        await server.serve()
    except asyncio.CancelledError:  # pragma: no cover - Ctrl-C
        pass
    if not server.started:
        print(f"hookline simulate: could not listen on {host}:{port}", file=sys.stderr)
        return 1
    return 0
