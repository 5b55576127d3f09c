"""The shape shared by the submit queue, the reconciler and the archiver (STYLE.md, worker shape).

A stop event; a bound on units of work in flight; claim due work from the store with a lease,
run one task per unit, and look again every ``interval`` seconds (or as soon as a unit finishes).
``stop`` stops claiming, lets in-flight units finish for a grace period, cancels the rest and gives
back what they held (``release``), then closes the worker's resources. A unit that raises is
logged and dropped: its lease expires and the work is claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from hookline.ids import ulid
from hookline.models import Inbound
from hookline.runtime import Runtime
from receiver import ingest

log = logging.getLogger(__name__)
U = TypeVar("U")


class Worker(ABC, Generic[U]):
    name = "worker"

    def __init__(self, rt: Runtime, *, concurrency: int, owner: str | None = None) -> None:
        self.rt = rt
        self.concurrency = concurrency
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

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._run(), name=self.name)
        log.info("%s started", self.name, extra={"owner": self.owner})

    async def stop(self, grace: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
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
                    log.exception("%s: giving back leases failed; they will expire", self.name)
        await self.close()
        log.info("%s stopped", self.name, extra={"owner": self.owner})

    def heard(self, provider: str, source: str, body: bytes, **details: Any) -> Inbound:
        """What hookline heard from (or decided about) an upstream, received now: the one way in
        (``receiver.ingest.heard``; ``details`` are its keyword arguments)."""
        return ingest.heard(
            provider, source, body, self.rt.clock.now(), callback_token=self.rt.callback_token, **details
        )

    def wake(self) -> None:
        """Look for work now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        interval = self.rt.config.upstream.interval
        while not self._stopping.is_set():
            free = self.concurrency - len(self._inflight)
            if free > 0:
                try:
                    units = await self.claim(free)
                except Exception:
                    log.exception("%s: claiming work failed; trying again in %g s", self.name, interval)
                    units = []
                for unit in units:
                    self._spawn(unit)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    def _spawn(self, unit: U) -> None:
        task = asyncio.create_task(self._guarded(unit), name=f"{self.name}-unit")
        self._inflight[task] = unit

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.pop(finished, None)
            self._wake.set()

        task.add_done_callback(done)

    async def _guarded(self, unit: U) -> None:
        try:
            await self.handle(unit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a unit of work failed; its lease will expire and it will be tried again", self.name)
