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
    "moderate": "fraction of jobs moderated (mjproxy: a FAILURE '[Image denied] …'; useapi: 422)",
    "first-failure": "fraction of mjproxy tasks whose first and only callback is a FAILURE",
    "late-failure": "fraction of mjproxy tasks that send a FAILURE '任务超时' after their SUCCESS",
    "cancel": "fraction of mjproxy tasks cancelled part-way (a FAILURE '取消任务', as trueai)",
    "blank-polls": 'fraction of polls that say nothing (mjproxy status "", useapi 404)',
    "submit-trouble": "fraction of submissions answered 502 by a reverse proxy",
    "busy": "fraction of mjproxy submissions answered as new-api's busy (429 code 30, 400 do_request_failed)",
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
    parser.add_argument(
        "--mjproxy-unknown",
        choices=("empty", "204", "404", "400"),
        default="empty",
        help="how fetch answers an unknown mjproxy task: empty 200 (novicezk, default), 204 (trueai), 404, "
        "400 task_no_found (new-api)",
    )
    parser.add_argument(
        "--mjproxy-flavour",
        choices=("novicezk", "trueai", "newapi", "mixed"),
        default="novicezk",
        help="the midjourney-proxy fork whose task bodies to send (mixed: one per task)",
    )
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
        first_failure=args.first_failure,
        late_failure=args.late_failure,
        cancel=args.cancel,
        blank_polls=args.blank_polls,
        mjproxy_unknown=args.mjproxy_unknown,
        submit_trouble=args.submit_trouble,
        busy=args.busy,
        mjproxy_flavour=args.mjproxy_flavour,
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
