"""``hookline simulate`` and ``hookline demo``."""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx

from hookline.cli import build_parser
from simulator import Knobs, Simulator
from simulator.demo import CHAOS, run_demo
from tests.support import REPO, free_port, wait_for


async def test_the_demo_runs_blends_of_both_providers_to_the_archive() -> None:
    lines: list[str] = []
    code = await run_demo(Knobs(seed=1, step_delay=0.02, drop=0.3, reorder=0.3), jobs=1, timeout=30, out=lines.append)
    output = "\n".join(lines)
    assert code == 0, output
    for provider in ("mjproxy", "useapi"):
        assert any(provider in line and "job.archived" in line for line in lines), output
        assert any(provider in line and "job.progress" in line for line in lines), output
    assert "every signature verified" in output and "/v1/archive/" in output


def test_the_commands_are_registered() -> None:
    parser = build_parser()
    assert parser.parse_args(["demo", "--jobs", "2"]).jobs == 2
    args = parser.parse_args(["simulate", "--port", "9001", "--drop", "0.3", "--seed", "4"])
    assert (args.port, args.drop, args.seed) == (9001, 0.3, 4)


async def test_hookline_simulate_serves_the_upstream_apis() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookline",
        "simulate",
        "--port",
        str(port),
        "--step-delay",
        "0.01",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def up() -> bool:
                try:
                    return (await client.get("/samples/a.png")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, timeout=15, interval=0.1, what="the simulator to listen")
            answer = await client.post("/mj/submit/blend", json={"base64Array": []})
            assert answer.json()["code"] == 4
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = await process.communicate()
    assert process.returncode == 130 and b"Traceback" not in stderr  # Ctrl-C: a clean stop
    assert f"HOOKLINE_MJPROXY_URL=http://127.0.0.1:{port}" in stdout.decode()


async def test_the_chaos_demo_ends_every_job_in_its_true_state_with_every_event_delivered() -> None:
    lines: list[str] = []
    sim = Simulator(Knobs(seed=1, step_delay=0.02, drop=0.3, reorder=0.3, **CHAOS))
    code = await run_demo(sim.knobs, jobs=4, timeout=60, out=lines.append, sim=sim)
    output = "\n".join(lines)
    assert code == 0, output
    assert "!!" not in output and "every signature verified" in output
    truths = {t.truth for t in sim.tasks.values()}
    assert {"succeeded", "moderated", "cancelled"} <= truths, truths  # this seed's bad days
    assert any(cb.dropped for cb in sim.callbacks)


def test_the_demo_takes_chaos_and_the_simulator_its_knobs() -> None:
    parser = build_parser()
    assert parser.parse_args(["demo", "--chaos"]).chaos is True
    args = parser.parse_args(["simulate", "--busy", "0.2", "--mjproxy-flavour", "trueai", "--mjproxy-unknown", "204"])
    assert (args.busy, args.mjproxy_flavour, args.mjproxy_unknown) == (0.2, "trueai", "204")
