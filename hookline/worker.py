"""One worker shape for every background worker — the dispatcher, the submit queue, the reconciler
and the archiver (STYLE.md, worker shape).

A stop event; a bound on units of work in flight (``concurrency``); claim due work from the store
with a lease (:meth:`Worker.claim`, at most ``claim_batch`` at a time), run one task per unit
(:meth:`Worker.handle`), and claim again at once while claims come back full, else wait for a
reason to look again (:meth:`Worker.idle`: by default a unit finishing, :meth:`Worker.wake`, or
``interval`` seconds). ``stop`` stops claiming, gives back what was claimed but not started, lets
in-flight units finish for a grace period, cancels the rest and gives back what they held
(:meth:`Worker.release`) so nothing waits for a lease to expire, then closes the worker's
resources. A unit that raises is logged and dropped: its lease expires and the work is claimed
again. A claim that fails is logged and tried again after ``interval``.

With ``ahead`` > 0 a worker claims up to ``ahead`` units more than it has free slots and keeps them
in a local queue, leased; a unit finishing starts the next queued one at once, from its done
callback, so a slot never waits for a claim's round trip to the store (against subscribers that
answer in 50 ms, that round trip was what kept a dispatcher below its ceiling). A queued unit is
started only while :meth:`Worker.fresh` says the time it waited leaves its lease enough room;
otherwise it is given back. A unit whose remaining work is only recording its result may give its
slot up early (:meth:`Worker.free_slot`); it still counts as unfinished at shutdown, and while more
than ``concurrency`` such units wait on the store, claims wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
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
        ahead: int = 0,
    ) -> None:
        self.rt = rt
        self.concurrency = concurrency
        self.interval = interval
        self.claim_batch = claim_batch
        self.ahead = ahead
        self.owner = owner or f"{self.name}-{ulid()[-10:]}"
        self._inflight: dict[asyncio.Task[None], U] = {}  # holding a slot
        self._recording: dict[asyncio.Task[None], U] = {}  # gave the slot up, not finished
        self._queue: deque[tuple[U, float]] = deque()  # claimed, not started: (unit, when claimed)
        self._releasing: set[asyncio.Task[None]] = set()
        self.completed = 0  # units finished since the start
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
        """Give back units not done: cancelled or never started at shutdown, or queued too long
        (default: let their leases expire)."""

    def fresh(self, unit: U, waited: float) -> bool:
        """Whether a unit that waited ``waited`` seconds in the local queue may still be started
        (its lease leaves room for the work); else it is given back."""
        return True

    async def open(self) -> None:
        """Acquire resources (HTTP clients) before the first claim."""

    async def close(self) -> None:
        """Release resources after the last unit."""

    async def idle(self, *, free: int, claimed: int) -> None:
        """Wait for a reason to claim again, after a claim of ``claimed`` units with room for
        ``free`` (free slots plus the queue's free places; 0: no claim was made, the worker is
        full): a unit finishing, :meth:`wake`, or ``interval``."""
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
    def queued(self) -> int:
        return len(self._queue)

    @property
    def room(self) -> int:
        """How many units a claim may take now: free slots plus free places in the queue (fewer
        while more than ``concurrency`` units wait to record their results)."""
        backlog = max(0, len(self._recording) - self.concurrency)
        return self.concurrency - len(self._inflight) + self.ahead - len(self._queue) - backlog

    @property
    def held(self) -> int:
        """Units claimed and not finished: in flight, queued, or recording their results."""
        return len(self._inflight) + len(self._queue) + len(self._recording)

    def free_slot(self) -> None:
        """Called from :meth:`handle`: what is left of this unit does not need its slot (only
        recording the result), so the next unit may start now."""
        task = asyncio.current_task()
        if task is not None and task in self._inflight:
            self._recording[task] = self._inflight.pop(task)
            self._start_queued()
            self.finished()

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
        if self._queue:
            unstarted = [unit for unit, _ in self._queue]
            self._queue.clear()
            try:
                await self.release(unstarted)
            except Exception:
                log.exception("%s: giving back unstarted units failed; their leases will expire", self.name)
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        units = {**self._inflight, **self._recording}
        if units:
            _, pending = await asyncio.wait(list(units), timeout=grace)
            unfinished = [units[t] for t in pending]
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
            room = self.room
            asked = min(room, self.claim_batch) if self.claim_batch else room
            claimed = 0
            if asked > 0:
                try:
                    units = await self.claim(asked)
                except Exception:
                    log.exception("%s: claiming work failed; trying again in %g s", self.name, self.interval)
                    await asyncio.sleep(self.interval)
                    continue
                claimed_at = time.monotonic()
                self._queue.extend((unit, claimed_at) for unit in units)
                self._start_queued()
                claimed = len(units)
                if claimed >= asked:
                    continue  # there may be more due right now
            await self.idle(free=max(0, room), claimed=claimed)

    def _start_queued(self) -> None:
        """Start queued units in the free slots (the stale ones are given back instead)."""
        stale: list[U] = []
        while self._queue and len(self._inflight) < self.concurrency and not self._stopping.is_set():
            unit, claimed_at = self._queue.popleft()
            if self.fresh(unit, time.monotonic() - claimed_at):
                self._spawn(unit)
            else:
                stale.append(unit)
        if stale:
            task = asyncio.create_task(self._release_stale(stale), name=f"{self.name}-release")
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release_stale(self, units: list[U]) -> None:
        log.warning("%s: giving back %d units that waited too long to start", self.name, len(units))
        try:
            await self.release(units)
        except Exception:
            log.exception("%s: giving back leases failed; they will expire", self.name)

    def _spawn(self, unit: U) -> None:
        task = asyncio.create_task(self._guarded(unit), name=f"{self.name}-unit")
        self._inflight[task] = unit

        def done(finished: asyncio.Task[None]) -> None:
            if self._recording.pop(finished, None) is None:
                self._inflight.pop(finished, None)
                self._start_queued()
            self.completed += 1
            self.finished()

        task.add_done_callback(done)

    async def _guarded(self, unit: U) -> None:
        try:
            await self.handle(unit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: a unit of work failed; its lease will expire and it will be tried again", self.name)
