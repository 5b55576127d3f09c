"""The one worker shape (``hookline.worker``): a bound on units in flight, claims retried after a
failure, a failing unit that does not stop the worker, and a shutdown that gives back what is still
in flight. The work source here is a plain list: the shape is independent of what it claims."""

from __future__ import annotations

import asyncio
from typing import Any

from hookline.worker import Worker
from tests.support import wait_for


class ListWorker(Worker[int]):
    name = "list-worker"

    def __init__(self, units: list[int], *, hold: float = 0.0, concurrency: int = 3, fail_claims: int = 0) -> None:
        super().__init__(None, concurrency=concurrency, interval=0.02)  # type: ignore[arg-type]
        self.units = units
        self.hold = hold
        self.fail_claims = fail_claims
        self.done: list[int] = []
        self.released: list[int] = []
        self.most = 0
        self.closed = False

    async def claim(self, limit: int) -> list[int]:
        if self.fail_claims:
            self.fail_claims -= 1
            raise RuntimeError("the store is away")
        taken, self.units = self.units[:limit], self.units[limit:]
        return taken

    async def handle(self, unit: int) -> None:
        self.most = max(self.most, self.inflight)
        if unit < 0:
            raise ValueError("a broken unit")
        await asyncio.sleep(self.hold)
        self.done.append(unit)

    async def release(self, units: list[int]) -> None:
        self.released += units

    async def close(self) -> None:
        self.closed = True


async def test_never_more_than_the_bound_in_flight_and_everything_done() -> None:
    worker = ListWorker(list(range(10)), hold=0.02)
    await worker.start()
    await wait_for(lambda: len(worker.done) == 10, what="every unit")
    await worker.stop()
    assert sorted(worker.done) == list(range(10)) and worker.most == 3 and worker.closed


async def test_a_failing_claim_is_tried_again_and_a_failing_unit_is_dropped(caplog: Any) -> None:
    worker = ListWorker([1, -1, 2], fail_claims=2)
    await worker.start()
    await wait_for(lambda: sorted(worker.done) == [1, 2], what="the good units")
    await worker.stop()
    assert "claiming work failed" in caplog.text and "a unit of work failed" in caplog.text


async def test_stop_gives_back_what_is_still_in_flight_after_the_grace() -> None:
    worker = ListWorker([1, 2, 3, 4], hold=30)
    await worker.start()
    await wait_for(lambda: worker.inflight == 3, what="three units in flight")
    await worker.stop(grace=0.1)
    assert sorted(worker.released) == [1, 2, 3] and worker.done == [] and worker.closed
    assert worker.units == [4]  # not claimed once stopping
