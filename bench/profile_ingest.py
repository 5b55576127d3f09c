"""Instructions per callback through hookline's ingest, in process: for profiling, not a benchmark.

``python -m bench.profile_ingest [-n N] [--subscribers K] [--body ingest|e2e] [--app hookline|bare]``
posts N callbacks through the ASGI app itself (the fast path, the store, a real SQLite file with
synchronous FULL; no sockets, no HTTP parsing), ``--concurrency`` of them in flight as wrk's 64
connections would be, and prints the CPU per callback. ``--subscribers K`` adds K enabled
subscriptions first, so each callback also plans and writes K deliveries (held: the subscriptions
are paused, so the dispatcher sends nothing and only ingest is measured). ``--body e2e`` sends the
load generator's small SUBMITTED callback (a new job each) instead of the ingest benchmark's 1.5 KB
progress callback.

``--deliver`` profiles the store's side of end to end instead: each callback is recorded through
the store (``receiver.ingest``, no ASGI app) with ``--subscribers`` (default 3) live subscriptions,
and its deliveries are claimed and completed as the dispatcher does after a 200 (claim, the
attempt row, the delivery finished), without HTTP: the figure is per callback, all of it.

``--callgrind`` runs the same under ``valgrind --tool=callgrind`` twice, with ``--warmup`` and
with ``--warmup`` + N callbacks, and prints the difference per callback: start-up, imports and
warm-up cancel out, so the figure is repeatable whatever else the machine is doing. The two
output files are kept (``--out``) for ``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import harness, ingest, loadgen


def bodies(kind: str, count: int, start: int) -> list[bytes]:
    """``count`` callbacks with distinct task ids (each one a new job, as in the benchmarks)."""
    if kind == "e2e":
        made = []
        for i in range(start, start + count):
            doc = loadgen.callback(i)
            doc["id"] = f"e2e-{i}"
            doc["bench_sent"] = 0.0
            made.append(orjson.dumps(doc))
        return made
    template = ingest.body_template().encode()
    return [template.replace(b"TASKID", f"{i}-profile".encode()) for i in range(start, start + count)]


def build(app_kind: str, data: Path) -> Any:
    if app_kind == "bare":
        from bench.servers import bare_app

        return bare_app()
    from hookline.app import build_app

    return build_app(_config(data), access_log=False)


def _config(data: Path) -> Any:
    from hookline.config import Config

    return Config.from_env(
        {
            "HOOKLINE_DATA_DIR": str(data),
            "HOOKLINE_ADMIN_TOKEN": harness.ADMIN_TOKEN,
            "HOOKLINE_CALLBACK_TOKEN": harness.CALLBACK_TOKEN,
            "HOOKLINE_LOG_LEVEL": "warning",
        }
    )


async def post(app: Any, path: str, body: bytes) -> int:
    """One request through the ASGI app, as uvicorn would hand it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app: Any, path: str, payloads: list[bytes], concurrency: int) -> None:
    queue = list(reversed(payloads))

    async def connection() -> None:
        while queue:
            status = await post(app, path, queue.pop())
            if status != 200:
                raise SystemExit(f"callback answered {status}")

    await asyncio.gather(*(connection() for _ in range(concurrency)))


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="profile-ingest-"))
    app = build(args.app, data)
    path = f"/callbacks/mjproxy/{harness.CALLBACK_TOKEN}"
    async with app.router.lifespan_context(app):
        if args.app == "hookline" and args.subscribers:
            rt = app.state.runtime
            for n in range(args.subscribers):
                sub = harness.sink_subscription(f"http://127.0.0.1:9/s/{n}", f"profile {n}", rt.clock.now())
                sub.paused = True
                await rt.store.create_subscription(sub)
        await drive(app, path, bodies(args.body, args.warmup, 0), args.concurrency)
        payloads = bodies(args.body, args.n, args.warmup)
        cpu, wall = time.process_time(), time.perf_counter()
        await drive(app, path, payloads, args.concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if args.n:
        print(f"{args.n} callbacks: {cpu / args.n * 1e6:.1f} µs CPU each ({args.n / wall:,.0f}/s wall)")


async def run_deliver(args: argparse.Namespace) -> None:
    import random

    from hookline.clock import SystemClock
    from hookline.ids import new_id
    from hookline.retry import AttemptResult, RetryPolicy
    from hookline.runtime import Runtime
    from hookline.store import open_store
    from receiver import ingest as receiving

    config = _config(Path(tempfile.mkdtemp(prefix="profile-deliver-")))
    store = open_store(config)
    await store.open(migrate=True)
    rt = Runtime(config=config, store=store, clock=SystemClock(), callback_token=harness.CALLBACK_TOKEN)
    for n in range(args.subscribers or 3):
        await store.create_subscription(harness.sink_subscription(f"http://127.0.0.1:9/s/{n}", f"s{n}", rt.clock.now()))
    cfg, policy, rng = config.delivery, RetryPolicy(config.delivery.retry_schedule), random.Random(0)

    async def record(body: bytes) -> None:
        inbound = receiving.heard("mjproxy", "callback", body, rt.clock.now(), callback_token=rt.callback_token)
        await receiving.record(rt, inbound)

    async def complete(claim: Any) -> None:
        now = rt.clock.now()
        completion = policy.decide(claim, AttemptResult(now, 1.0, 200), new_id("att"), "profile", now, rng)
        await store.complete_delivery(completion, now, cfg.disable_after)

    async def once(payloads: list[bytes]) -> None:
        for start in range(0, len(payloads), args.concurrency):
            await asyncio.gather(*(record(body) for body in payloads[start : start + args.concurrency]))
            while claims := await store.claim_deliveries(
                "profile", 100, rt.clock.now(), cfg.lease, cfg.per_subscription
            ):
                await asyncio.gather(*(complete(claim) for claim in claims))

    await once(bodies(args.body, args.warmup, 0))
    payloads = bodies(args.body, args.n, args.warmup)
    cpu = time.process_time()
    await once(payloads)
    cpu = time.process_time() - cpu
    await store.close()
    if args.n:
        print(f"{args.n} callbacks, each delivered to {args.subscribers or 3}: {cpu / args.n * 1e6:.1f} µs CPU each")


def callgrind(args: argparse.Namespace) -> None:
    """Run twice under callgrind (warm-up only; warm-up + N) and print the difference per callback."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    collected = []
    for n in (0, args.n):
        tag = f"{'deliver' if args.deliver else args.app}-{args.body}-s{args.subscribers}-n{n}"
        argv = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out / ('callgrind.' + tag)}",
            sys.executable,
            "-m",
            "bench.profile_ingest",
            f"-n{n}",
            f"--warmup={args.warmup}",
            f"--subscribers={args.subscribers}",
            f"--body={args.body}",
            f"--app={args.app}",
            f"--concurrency={args.concurrency}",
            *(["--deliver"] if args.deliver else []),
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=harness.ROOT
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode or found is None:
            raise SystemExit(f"callgrind run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
        collected.append(int(found.group(1)))
    per = (collected[1] - collected[0]) / args.n
    what = (
        f"deliver ({args.subscribers or 3} subscribers)"
        if args.deliver
        else f"{args.app}, {args.subscribers} subscribers"
    )
    print(
        f"{what}, body {args.body}: {per / 1000:,.0f} k instructions per callback "
        f"({args.n} callbacks after {args.warmup}; files in {out})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="callbacks measured")
    parser.add_argument("--warmup", type=int, default=300, help="callbacks sent first, not measured")
    parser.add_argument("--subscribers", type=int, default=0)
    parser.add_argument("--body", choices=("ingest", "e2e"), default="ingest")
    parser.add_argument("--app", choices=("hookline", "bare"), default="hookline")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--deliver", action="store_true", help="the store's end-to-end work: ingest, claim, complete")
    parser.add_argument("--callgrind", action="store_true", help="count instructions with valgrind")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "profile-ingest"))
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args)
        return
    import uvloop

    uvloop.run(run_deliver(args) if args.deliver else run(args))


if __name__ == "__main__":
    main()
