"""Group commit: many concurrent callers' writes in one transaction, one fsync.

Callers ``await committer.submit(kind, payload)``. A single writer task drains the queue and hands
the whole batch to the backend's ``run_batch`` (one transaction); every caller's future resolves
only after that transaction committed. While a commit is in flight, new requests queue up and form
the next batch, so the batch size adapts to the load and a lone request is not delayed.

An operation that fails on bad input can report :class:`Failed` as its result after undoing its
own writes (a savepoint), and the batch still commits. If a batch fails as a whole, it is rolled
back and each operation is run again in a transaction of its own, so one bad request fails alone
and the others still commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Op:
    kind: Any  # what the backend groups by (a write unit, or "call")
    payload: Any
    future: asyncio.Future[Any]


@dataclass(slots=True)
class Failed:
    """A result that says this one operation failed (its own writes rolled back to a savepoint)
    while the rest of the batch commits."""

    error: BaseException


RunBatch = Callable[[list[Op]], Awaitable[list[Any]]]


class GroupCommitter:
    """Serializes writes through one task; ``run_batch(ops)`` returns one result per op."""

    def __init__(self, run_batch: RunBatch, *, max_batch: int = 512, name: str = "writer") -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._name = name
        self._queue: deque[Op] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def submit(self, kind: Any, payload: Any) -> Any:
        if self._closing or self._task is None:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(Op(kind, payload, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Stop accepting; finish what is queued; stop the writer."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            batch: list[Op] = []
            while self._queue and len(batch) < self._max_batch:
                batch.append(self._queue.popleft())
            await self._execute(batch)

    async def _execute(self, batch: list[Op]) -> None:
        try:
            results = await self._run_batch(batch)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                for op in batch:
                    if not op.future.done():
                        op.future.cancel()
                raise
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            log.warning("batch of %d writes failed (%s); retrying each alone", len(batch), type(exc).__name__)
            for op in batch:
                await self._execute([op])
            return
        for op, result in zip(batch, results, strict=True):
            if op.future.done():
                continue
            if isinstance(result, Failed):
                op.future.set_exception(result.error)
            else:
                op.future.set_result(result)
