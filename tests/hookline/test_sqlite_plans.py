"""The SQLite queries on the hot paths use their indexes: none scans a whole table or sorts a
whole backlog. (Measured: one missing index choice made every claim sort every pending delivery,
and dispatch slowed down as the backlog grew.)"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from hookline.clock import SystemClock
from hookline.store import sqlite_store
from hookline.store.sqlite.driver import statement

NOW = time.time()
IDS = '["a", "b", "c"]'
HOT = {
    "claim": ("claim_candidates", {"now": NOW, "leased": "[]", "saturated": "[]", "limit": 200}),
    "finish an attempt": (
        "finish_attempts",
        {"status": "delivered", "next_attempt_at": None, "status_code": 200, "error": None, "now": NOW}
        | {"delivered_at": NOW, "id": "dlv_x"},
    ),
    "promote the next delivery": ("promote_next", {"now": NOW, "subscription_id": "sub_x", "job_id": "job_x"}),
    "chains with a waiting delivery": ("waiting_chains", {"job_ids": IDS}),
    "open chains of new events": ("open_chains", {"job_ids": IDS}),
    # by upstream id, by id, and unbound by key: one statement
    "jobs for ingest": ("jobs_for_ingest", {"pairs": '[["mjproxy", "a"], ["mjproxy", "b"]]', "keys": IDS}),
    "jobs by id": ("lock_jobs", {"ids": IDS}),
    "a job's events": ("job_events", {"job_id": "job_x", "limit": 10}),
}


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    import asyncio

    path = Path(tmp_path_factory.mktemp("plans")) / "hookline.db"

    async def create() -> None:
        store = sqlite_store(path, clock=SystemClock())
        await store.open()
        await store.close()

    asyncio.run(create())
    return sqlite3.connect(path)


@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_query_uses_an_index(conn: sqlite3.Connection, name: str) -> None:
    query, params = HOT[name]
    found = statement(query)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + found.text, [params[n] for n in found.names])]
    for step in plan:
        assert not (step.startswith("SCAN ") and "json_each" not in step), plan
        assert "TEMP B-TREE FOR ORDER BY" not in step, plan
