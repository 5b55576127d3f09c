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

    def __init__(
        self,
        units: list[int],
        *,
        hold: float = 0.0,
        concurrency: int = 3,
        fail_claims: int = 0,
        ahead: int = 0,
        stale: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(None, concurrency=concurrency, interval=0.02, ahead=ahead)  # type: ignore[arg-type]
        self.stale = stale
        self.gate = asyncio.Event()  # units >= 100 wait for it
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
        if unit >= 100:
            await self.gate.wait()
        await asyncio.sleep(self.hold)
        self.done.append(unit)

    def fresh(self, unit: int, waited: float) -> bool:
        return unit not in self.stale

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


async def test_claims_run_ahead_into_a_queue_that_fills_each_freed_slot() -> None:
    worker = ListWorker([100, 101, 102, 1, 2, 3, 4], ahead=2)
    await worker.start()
    await wait_for(lambda: worker.inflight == 3 and worker.queued == 2, what="3 in flight, 2 queued")
    assert worker.units == [3, 4]  # claimed no further than the slots and the queue
    worker.gate.set()
    await wait_for(lambda: len(worker.done) == 7, what="every unit")
    await worker.stop()
    assert worker.most == 3 and worker.released == []


async def test_stop_gives_back_what_is_queued_and_never_starts_it() -> None:
    worker = ListWorker([100, 101, 102, 1, 2], ahead=2)
    await worker.start()
    await wait_for(lambda: worker.queued == 2, what="two units queued")
    stopping = asyncio.create_task(worker.stop(grace=5))
    await wait_for(lambda: worker.released == [1, 2], what="the queued units given back")
    worker.gate.set()
    await stopping
    assert sorted(worker.done) == [100, 101, 102]  # in flight: allowed to finish


async def test_a_queued_unit_that_waited_too_long_is_given_back_not_started() -> None:
    worker = ListWorker([100, 101, 102, 1, 2], ahead=2, stale=frozenset({1}))
    await worker.start()
    await wait_for(lambda: worker.queued == 2, what="two units queued")
    worker.gate.set()
    await wait_for(lambda: worker.released == [1] and len(worker.done) == 4, what="1 given back, the rest done")
    await worker.stop()
    assert 1 not in worker.done
