"""One worker shape for every background worker — the dispatcher, the submit queue, the reconciler
and the archiver (STYLE.md, worker shape).

A stop event; a bound on units of work in flight (``concurrency``); claim due work from the store
with a lease (:meth:`Worker.claim`, at most ``claim_batch`` at a time), run one task per unit
(:meth:`Worker.handle`), and claim again at once while claims come back full, else wait for a
reason to look again (:meth:`Worker.idle`: by default a unit finishing, :meth:`Worker.wake`, or
``interval`` seconds). ``stop`` stops claiming, lets in-flight units finish for a grace period,
cancels the rest and gives back what they held (:meth:`Worker.release`) so nothing waits for a
lease to expire, then closes the worker's resources. A unit that raises is logged and dropped: its
lease expires and the work is claimed again. A claim that fails is logged and tried again after
``interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from hookline.ids import ulid
from hookline.runtime import Runtime

log = logging.getLogger(__name__)
U = TypeVar("U")


class Worker(ABC, Generic[U]):
    name = "worker"

    def __init__(
        self,
        rt: Runtime,
        *,
        concurrency: int,
        interval: float,
        owner: str | None = None,
        claim_batch: int | None = None,
    ) -> None:
        self.rt = rt
        self.concurrency = concurrency
        self.interval = interval
        self.claim_batch = claim_batch
        self.owner = owner or f"{self.name}-{ulid()[-10:]}"
        self._inflight: dict[asyncio.Task[None], U] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # what a worker does ----------------------------------------------------------------------
    @abstractmethod
    async def claim(self, limit: int) -> list[U]:
        """Lease up to ``limit`` units of due work."""

    @abstractmethod
    async def handle(self, unit: U) -> None:
        """Do one unit of work and record its result (ending its lease)."""

    async def release(self, units: list[U]) -> None:
        """Give back units cancelled at shutdown (default: let their leases expire)."""

    async def open(self) -> None:
        """Acquire resources (HTTP clients) before the first claim."""

    async def close(self) -> None:
        """Release resources after the last unit."""

    async def idle(self, *, free: int, claimed: int) -> None:
        """Wait for a reason to claim again, after a claim of ``claimed`` units with ``free`` slots
        (0: none was made, the worker is full): a unit finishing, :meth:`wake`, or ``interval``."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.interval)

    def finished(self) -> None:
        """A unit just finished (its slot is free): by default, look for work again."""
        self._wake.set()

    # lifecycle -------------------------------------------------------------------------------
    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._run(), name=self.name)
        log.info("%s started", self.name, extra={"owner": self.owner})

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give in-flight units ``grace`` seconds; cancel and release the rest."""
        self._stopping.set()
        self.wake()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(list(self._inflight), timeout=grace)
            unfinished = [self._inflight[t] for t in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if unfinished:
                log.warning("%s: giving back %d units still in flight at shutdown", self.name, len(unfinished))
                try:
                    await self.release(unfinished)
                except Exception:
                    # Their leases expire instead; the worker's resources must still be closed.
                    log.exception("%s: giving back leases failed; they will expire", self.name)
        await self.close()
        log.info("%s stopped", self.name, extra={"owner": self.owner})

    def wake(self) -> None:
        """Look for work now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            free = self.concurrency - len(self._inflight)
            asked = min(free, self.claim_batch) if self.claim_batch else free
            claimed = 0
            if asked > 0:
                try:
                    units = await self.claim(asked)
                except Exception:
                    log.exception("%s: claiming work failed; trying again in %g s", self.name, self.interval)
                    await asyncio.sleep(self.interval)
                    continue
                for unit in units:
                    self._spawn(unit)
                claimed = len(units)
                if claimed >= asked:
                    continue  # there may be more due right now
            await self.idle(free=max(0, free), claimed=claimed)

    def _spawn(self, unit: U) -> None:
        task = asyncio.create_task(self._guarded(unit), name=f"{self.name}-unit")
        self._inflight[task] = unit

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.pop(finished, None)
            self.finished()

        task.add_done_callback(done)

    async def _guarded(self, unit: U) -> None:
        try:
            await self.handle(unit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a unit of work failed; its lease will expire and it will be tried again", self.name)
