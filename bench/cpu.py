"""CPU accounting for benchmarks, from /proc: what each process (and the machine) spent."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

SHARED_PG_PROCESSES = ("walwriter", "checkpointer", "background writer")


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used (``taskset`` execs in place)."""
    return sum(_cpu_of(pid) for pid in pids)


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def postgres_cpu(monitor: asyncpg.Connection, database: str) -> dict[int, float]:
    """CPU seconds so far of the backends serving ``database`` and of the shared WAL writer,
    checkpointer and background writer (the server is shared: other databases' backends are left out)."""
    found = await monitor.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type = ANY($2::text[])",
        database,
        list(SHARED_PG_PROCESSES),
    )
    own = monitor.get_server_pid()
    return {r[0]: _cpu_of(r[0]) for r in found if r[0] != own}


def postgres_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every core, every process)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
