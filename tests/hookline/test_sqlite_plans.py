"""The SQLite queries on the hot paths use their indexes: none scans a whole table or sorts a
whole backlog. (Measured: one missing index choice made every claim sort every pending delivery,
and dispatch slowed down as the backlog grew.)"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from hookline.clock import SystemClock
from hookline.store.sqlite import SqliteStore, sql

NOW = time.time()
HOT = {
    "claim": (sql.CLAIM_CANDIDATES, (NOW, "[]", NOW, "[]", 200)),
    "finish an attempt": (sql.FINISH_ATTEMPT, ("delivered", None, 200, None, NOW, NOW, "dlv_x")),
    "promote the next delivery": (sql.PROMOTE_NEXT, (NOW, "sub_x", "job_x")),
    "chains with a waiting delivery": (sql.in_list(sql.WAITING_CHAINS, 3), ("a", "b", "c")),
    "open chains of new events": (sql.in_list(sql.OPEN_CHAINS, 3), ("a", "b", "c")),
    "jobs by upstream id": (sql.in_list(sql.JOBS_BY_UPSTREAM, 3), ("mjproxy", "a", "b", "c")),
    "unbound jobs by key": (sql.in_list(sql.JOBS_UNBOUND_BY_KEY, 3), ("a", "b", "c")),
    "jobs by id": (sql.in_list(sql.JOBS_BY_IDS, 3), ("a", "b", "c")),
    "a job's events": (sql.JOB_EVENTS, ("job_x", 10)),
}


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    import asyncio

    path = Path(tmp_path_factory.mktemp("plans")) / "hookline.db"

    async def create() -> None:
        store = SqliteStore(path, clock=SystemClock())
        await store.open()
        await store.close()

    asyncio.run(create())
    return sqlite3.connect(path)


@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_query_uses_an_index(conn: sqlite3.Connection, name: str) -> None:
    statement, params = HOT[name]
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params)]
    for step in plan:
        assert not (step.startswith("SCAN ") and "json_each" not in step), plan
        assert "TEMP B-TREE FOR ORDER BY" not in step, plan
