"""A subscription's rate limit holds across dispatcher processes (issue 15): a receiver and two
dispatchers (real ``hookline serve`` processes) on one PostgreSQL database, a real subscriber that
timestamps every request, and more work than the limit lets through: no one-second window ever
holds more requests than the limit. (The limit's bucket is a row both dispatchers take slots from
under its lock: see hookline/store/rates.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.dispatcher.test_subscription_settings import max_in_one_second
from tests.support import Subscriber, run_server, wait_for
from tests.test_multiprocess import ADMIN_TOKEN, EVENTS_PER_JOB, cluster, post_jobs

pytestmark = pytest.mark.postgres

RATE = 8
JOBS = 4


async def test_two_dispatchers_never_send_more_than_the_rate_limit_in_any_second(pg_url: str, tmp_path: Path) -> None:
    sink = Subscriber()
    async with run_server(sink.app(), lifespan="off") as sink_url, cluster(pg_url, tmp_path) as (receiver, *_):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
            body = {"url": f"{sink_url}/hook", "rate_limit": RATE}
            response = await admin.post(f"{receiver.url}/v1/subscriptions", json=body)
            assert response.status_code == 201, response.text
        await post_jobs(receiver, JOBS)
        total = JOBS * EVENTS_PER_JOB
        await wait_for(lambda: len(sink.received) >= total, timeout=60, what=f"{total} events")
    times = [r.at for r in sink.received]
    assert max_in_one_second(times) <= RATE
    # A limit, not a stall: about RATE / 1.1 requests a second.
    assert max(times) - min(times) < total / RATE * 1.1 + 3
