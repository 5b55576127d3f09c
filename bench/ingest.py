"""Durable ingest: callbacks/s and latency for ``POST /callbacks/mjproxy/{token}`` with distinct
task ids (each answered only after its commit: SQLite WAL, synchronous FULL, one worker), against
the bare Starlette route that parses the same JSON with orjson and answers 200.

Load: wrk on the tool core, 64 connections, a Lua script giving every request a new task id.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import Row, median, say

# A progress callback: most of a job's callbacks are these (a success would also queue an archive
# download of the fixture's CDN link, which cannot be reached from here: that is not ingest).
FIXTURE = harness.ROOT / "tests" / "fixtures" / "mjproxy-blend-06-in-progress-46.json"
LUA = """
counter = 0
local template = io.open(os.getenv("BENCH_BODY")):read("*a")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.gsub(template, "TASKID", string.format("%d-%d", counter, math.random(1, 1000000000)))
  return wrk.format(nil, nil, nil, body)
end
"""


def body_template() -> str:
    """A real progress callback (~1.5 KB, like PERF.md's bodies) whose id wrk replaces per request."""
    doc: dict[str, Any] = (
        json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {"status": "IN_PROGRESS", "progress": "46%"}
    )
    doc["id"] = "TASKID"
    doc.setdefault("properties", {})["finalZhPrompt"] = "蓝色的猫 " * 40
    return json.dumps(doc, ensure_ascii=False)


def wrk(url: str, duration: int, connections: int, workdir: Path) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench installs it)")
    (workdir / "ingest.lua").write_text(LUA)
    body = workdir / "body.json"
    body.write_text(body_template())
    out = subprocess.run(
        harness.pinned(
            harness.TOOL_CORE,
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(workdir / "ingest.lua"), url],
        ),
        capture_output=True,
        text=True,
        env={"BENCH_BODY": str(body), "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def _ms(value: str) -> float:
    """wrk's ``850.00us`` / ``7.59ms`` / ``1.02s`` in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(runs: int = 3, duration: int = 10, connections: int = 64) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    bare, ours = [], []
    port = harness.free_port()
    baseline = harness.Process(
        harness.pinned(harness.SERVER_CORE, [sys.executable, "-m", "bench.servers", "bare", str(port)]),
        cwd=harness.ROOT,
    )
    with harness.running(baseline, f"http://127.0.0.1:{port}/nothing"):
        for i in range(runs):
            say(f"ingest baseline run {i + 1}/{runs}")
            bare.append(wrk(f"http://127.0.0.1:{port}/callbacks/mjproxy/x", duration, connections, work))
    for i in range(runs):
        say(f"ingest hookline run {i + 1}/{runs}")
        port = harness.free_port()
        data = work / f"data-{i}"
        server = harness.hookline_process(data, port)
        with harness.running(server, f"http://127.0.0.1:{port}/readyz"):
            result = wrk(
                f"http://127.0.0.1:{port}/callbacks/mjproxy/{harness.CALLBACK_TOKEN}", duration, connections, work
            )
        if result["errors"] or result["socket_errors"]:
            raise SystemExit(
                f"hookline answered errors during the ingest benchmark: {result}\n{server.output()[-2000:]}"
            )
        ours.append(result)
    shutil.rmtree(work, ignore_errors=True)
    b, o = (median([r["rps"] for r in bare]), median([r["rps"] for r in ours]))
    ratio = o / b
    return [
        Row(
            "durable ingest, callbacks/s (SQLite FULL, 1 worker)",
            f"{o:,.0f}/s p50 {median([r['p50'] for r in ours]):.1f} ms p99 {median([r['p99'] for r in ours]):.1f} ms",
            f"{b:,.0f}/s p50 {median([r['p50'] for r in bare]):.1f} ms p99 {median([r['p99'] for r in bare]):.1f} ms",
            f"{ratio:.0%}",
            ">= 60 % (>= 8,000/s)",
            "met" if ratio >= 0.6 else ("met 8k" if o >= 8000 else "NOT MET"),
        )
    ]
