"""The dispatcher worker: claim due deliveries with a lease, send each in its own task, record the
attempt, repeat.

Shape: the one worker shape (``hookline.worker``): a stop event, a global bound on deliveries in
flight (``HOOKLINE_DISPATCH_CONCURRENCY``), claims of up to ``CLAIM_BATCH`` with a lease, a
per-subscription bound enforced by the claim (``HOOKLINE_SUBSCRIPTION_CONCURRENCY``), so a slow or
dead subscriber only ever holds its own few slots. Claims run ahead of the free slots: up to
``ahead`` deliveries wait, leased, in a local queue and start the moment a slot frees, and the
queue is refilled in batches once half of it is gone, so a slot never waits for a claim (that wait
held one dispatcher to 69-82 % of its ceiling against a subscriber answering in 50 ms). A queued
delivery whose lease could run out before its attempt ends, or whose rate-limit slot
(``Claim.send_at``) has passed by more than half the limit's margin, is given back unsent
(:meth:`Dispatcher.fresh`). A slot is a request in flight: it frees as the answer is read, before
the attempt is recorded (the lease stays until it is). What is its own is how it waits when idle:
until the next delivery is due or the store says new work arrived (:meth:`Dispatcher.idle`).
``stop`` stops claiming, gives back what is queued, lets in-flight attempts finish for a grace
period, then cancels the rest and gives their leases back so nothing waits for a lease to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from dispatcher.sender import Sender
from hookline.egress import EgressGuard
from hookline.ids import new_id
from hookline.models import Claim
from hookline.ratelimit import MARGIN
from hookline.retry import AttemptResult, RetryPolicy
from hookline.runtime import Runtime
from hookline.worker import Worker

log = logging.getLogger(__name__)

CLAIM_BATCH = 100
IDLE_POLL = 1.0
LEASE_SLACK = 5.0  # seconds of a lease kept for recording an attempt (at most half what the timeout leaves)


class Dispatcher(Worker[Claim]):
    name = "dispatcher"

    def __init__(self, rt: Runtime, *, rng: random.Random | None = None, owner: str | None = None) -> None:
        cfg = rt.config.delivery
        ahead = min(max(1, cfg.concurrency // 2), CLAIM_BATCH)
        super().__init__(
            rt, concurrency=cfg.concurrency, interval=IDLE_POLL, owner=owner, claim_batch=CLAIM_BATCH, ahead=ahead
        )
        self.cfg = cfg
        self.policy = RetryPolicy(cfg.retry_schedule)
        self.rng = rng or random.Random()
        self.sender = Sender(EgressGuard.from_config(rt.config), rt.clock, timeout=cfg.timeout)
        self._slot_freed = asyncio.Event()
        self._batch_free = asyncio.Event()  # room for a claim batch (slots and queue places)
        self._low_water = max(1, ahead // 2)
        self._claimed_at = 0  # ``completed`` when the last claim began
        self._batch = 1  # completions since then that are worth another claim
        self._next_retry_at: float | None = None  # the earliest retry this dispatcher scheduled

    async def open(self) -> None:
        await self.sender.start()

    async def close(self) -> None:
        await self.sender.close()

    async def claim(self, limit: int) -> list[Claim]:
        # Completions are counted from here: one that ends during the claim may have freed what
        # the claim could not take.
        self._claimed_at = self.completed
        self._slot_freed.clear()
        return await self.rt.store.claim_deliveries(
            self.owner, limit, self.rt.clock.now(), self.cfg.lease, self.cfg.per_subscription
        )

    async def release(self, units: list[Claim]) -> None:
        await self.rt.store.release_deliveries(self.owner, [claim.delivery_id for claim in units])

    def fresh(self, unit: Claim, waited: float) -> bool:
        # What is left of the lease must cover the whole attempt and its recording, or another
        # dispatcher could send it too (the config only promises a lease longer than the timeout).
        slack = min(LEASE_SLACK, (self.cfg.lease - self.cfg.timeout) / 2)
        if waited + self.cfg.timeout + slack > self.cfg.lease:
            return False
        # Sent later than half the margin after its slot, it could break the rate limit (see rates).
        return unit.send_at is None or self.rt.clock.now() - unit.send_at <= MARGIN / 2

    def wake(self) -> None:
        super().wake()
        self._slot_freed.set()
        self._batch_free.set()

    @property
    def _batch_finished(self) -> bool:
        """Whether a batch of units finished since the last claim began (worth claiming again)."""
        return self.completed - self._claimed_at >= self._batch

    def finished(self) -> None:
        if self._batch_finished:
            self._slot_freed.set()
        if self.room >= self._low_water:
            self._batch_free.set()

    async def idle(self, *, free: int, claimed: int) -> None:
        # After a claim that came back short, the store has no more due right now that this
        # dispatcher may take (or a subscription is at its bound): look again when new work arrives
        # or once a batch of the units held has finished (half of them, at most half the queue),
        # not at every completion, so claims stay batched.
        self._batch = max(1, min(self._low_water, self.held // 2))
        await self._idle(full=free <= 0)

    async def _idle(self, *, full: bool) -> None:
        """Wait for a reason to claim again: room for a batch (when full); otherwise new work (the
        store says so), a batch of units finished (a subscription at its bound may have more
        due), or the next retry this dispatcher scheduled — polling every ``IDLE_POLL`` s for
        anything else."""
        if full:
            # Busy: wait until there is room for a batch (one wake-up, not one per completion), so
            # claims stay batched; the queue keeps the slots busy meanwhile.
            self._batch_free.clear()
            if self.room < self._low_water and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._batch_free.wait(), 0.05)
            return
        timeout = IDLE_POLL
        if self._next_retry_at is not None:
            timeout = min(IDLE_POLL, max(0.005, self._next_retry_at - self.rt.clock.now()))
            if timeout <= 0.005:
                self._next_retry_at = None  # due now: the next claim takes it
        if self._batch_finished:
            return  # finished while the claim was under way
        waiters = [
            asyncio.ensure_future(self.rt.store.wait_for_work(timeout)),
            asyncio.ensure_future(self._slot_freed.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def handle(self, claim: Claim) -> None:
        if claim.send_at is not None:
            # The subscription's rate limit gave this delivery a slot (hookline.store.rates): not before.
            wait = claim.send_at - self.rt.clock.now()
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            result = await self.sender.send(claim)
        except Exception as exc:  # a bug, not the subscriber: record it, retry on schedule, keep going
            log.exception("sending a delivery failed inside hookline", extra={"delivery_id": claim.delivery_id})
            result = AttemptResult(self.rt.clock.now(), 0.0, error=f"hookline failed to send: {type(exc).__name__}")
        # The request is over: the next delivery may take its slot while this one is recorded (the
        # lease, and so the per-subscription bound, holds until the store has the result).
        self.free_slot()
        now = self.rt.clock.now()
        completion = self.policy.decide(claim, result, new_id("att"), self.owner, now, self.rng)
        if completion.status == "pending" and completion.next_attempt_at is not None:
            # Wake for it: the store is not asked when the next delivery is due (its own retries are
            # what this dispatcher would otherwise wait for; other work wakes it through the store).
            if self._next_retry_at is None or completion.next_attempt_at < self._next_retry_at:
                self._next_retry_at = completion.next_attempt_at
        metrics = self.rt.metrics
        metrics.attempted("retry" if completion.status == "pending" else completion.status, result.latency_ms / 1000)
        if completion.status != "delivered":
            log.info(
                "delivery attempt failed: %s",
                result.error,
                extra={
                    "delivery_id": claim.delivery_id,
                    "subscription_id": claim.subscription_id,
                    "attempt": claim.attempts + 1,
                    "next": completion.status,
                },
            )
        try:
            disabled = await self.rt.store.complete_delivery(completion, now, self.cfg.disable_after)
        except Exception:
            log.exception(
                "recording a delivery attempt failed; the lease will expire and it will be sent again",
                extra={"delivery_id": claim.delivery_id},
            )
            return
        if disabled is not None:
            # Counted here, from what the store did, not from what the attempt asked for: ten
            # concurrent 410s disable a subscription once, and the 5-day rule lives in the store.
            metrics.subscriptions_disabled.labels("gone" if completion.disable_reason else "failing").inc()
            log.warning(
                "subscription disabled: %s",
                disabled,
                extra={"subscription_id": claim.subscription_id, "delivery_id": claim.delivery_id},
            )
