"""Delivery claims on SQLite: leases kept in memory, since one process owns the file (writing them
cost an UPDATE and two index changes per delivery; a restart forgets them, as releasing every
lease at start-up would). The semantics are PostgreSQL's: an expired lease can be taken over; a
result from a dispatcher that lost its lease is not applied. The driver snapshots the leases
before each write batch and restores them if it rolls back. Claims and completions are write
units of the one writer (completions batched: one transaction for every attempt waiting).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, NamedTuple

from hookline.models import Claim, Completion
from hookline.store import rows
from hookline.store.driver import Tx
from hookline.store.operational import Notices, write_health
from hookline.subscription_health import Health

if TYPE_CHECKING:
    from hookline.store.sqlite.driver import SqliteDriver


class Lease(NamedTuple):  # one per claimed delivery: a tuple is made in half the time of a frozen dataclass
    owner: str
    until: float
    subscription_id: str
    job_id: str


class Leases(dict[str, Lease]):
    """Delivery id → its lease. An expired lease no longer holds its delivery."""

    def live(self, now: float) -> list[str]:
        return [delivery_id for delivery_id, lease in self.items() if lease.until > now]

    def live_per_subscription(self, now: float) -> Counter[str]:
        return Counter(lease.subscription_id for lease in self.values() if lease.until > now)

    def finish(self, delivery_id: str, owner: str) -> Lease | None:
        """End ``owner``'s lease; None when ``owner`` does not hold it (another dispatcher took it
        over, or an operator's retry cleared it)."""
        lease = self.get(delivery_id)
        return self.pop(delivery_id) if lease is not None and lease.owner == owner else None


class SqliteClaims:
    def __init__(self, driver: SqliteDriver) -> None:
        self.driver = driver
        self.leases = Leases()

    async def claim(self, owner: str, limit: int, now: float, lease: float, per_subscription: int) -> list[Claim]:
        async def unit(tx: Tx) -> list[Claim]:
            leased = self.leases.live_per_subscription(now)
            saturated = [sub for sub, count in leased.items() if count >= per_subscription]
            found = await tx.fetch(
                "claim_candidates", now=now, leased=self.leases.live(now), saturated=saturated, limit=limit
            )
            chosen: list[Claim] = []
            secrets: dict[str, list[str]] = {}
            values_of, subscription_of = rows.getter(found, *rows.CLAIM), rows.getter(found, "subscription_id")
            for row in found:
                sub_id = subscription_of(row)
                if leased[sub_id] >= per_subscription:
                    continue
                leased[sub_id] += 1
                claim = rows.claim(values_of(row), secrets, now)
                self.leases[claim.delivery_id] = Lease(owner, now + lease, sub_id, claim.job_id)
                chosen.append(claim)
                if len(chosen) >= limit:
                    break
            return chosen

        return await self.driver.write(unit)

    def complete(self, completion: Completion, now: float, disable_after: float) -> Awaitable[str | None]:
        return self.driver.batched(self._complete, (completion, now, disable_after))

    async def _complete(self, tx: Tx, items: list[tuple[Completion, float, float]]) -> list[str | None]:
        """Record a batch of attempts. Returns, per item, the reason its subscription was disabled
        by this batch (reported on one item only: the 410 itself, or the first failure)."""
        await tx.many(
            "insert_attempts",
            ("id", "delivery_id", "attempted_at", "status_code", "latency_ms", "error", "response_body"),
            [
                (a.id, a.delivery_id, a.attempted_at, a.status_code, a.latency_ms, a.error, a.response_body)
                for a in (c.attempt for c, _, _ in items)
            ],
        )
        # Whose results still count: a delivery whose lease went to another dispatcher (or was
        # cleared by an operator's retry) keeps only its attempt row.
        job_of: dict[str, str] = {}
        for completion, _, _ in items:
            held = self.leases.finish(completion.delivery_id, completion.owner)
            if held is not None:
                job_of[completion.delivery_id] = held.job_id
        applied = [(i, c, now, limit) for i, (c, now, limit) in enumerate(items) if c.delivery_id in job_of]
        await tx.many(
            "finish_attempts",
            ("id", "status", "next_attempt_at", "status_code", "error", "now", "delivered_at"),
            [
                (c.delivery_id, c.status, c.next_attempt_at, c.attempt.status_code, c.attempt.error, now,
                 now if c.status == "delivered" else None)
                for _, c, now, _ in applied
            ],
        )  # fmt: skip
        health: dict[str, Health] = {}
        finished: dict[tuple[str, str], float] = {}  # chains whose head is no longer pending
        for position, completion, now, disable_after in applied:
            health.setdefault(completion.subscription_id, Health(now, disable_after)).add(completion, position)
            if completion.status != "pending":
                finished[(completion.subscription_id, job_of[completion.delivery_id])] = now
        if finished:
            # Promote the next delivery of each finished chain that has one waiting (most have none).
            waiting = await tx.fetch("waiting_chains", job_ids=list({job for _, job in finished}))
            promote = [
                (finished[chain], *chain)
                for chain in ((r["subscription_id"], r["job_id"]) for r in waiting)
                if chain in finished
            ]
            if promote:
                await tx.many("promote_next", ("now", "subscription_id", "job_id"), promote)
                tx.wake = True
        notices = Notices()
        disabled = await write_health(tx, health, notices, len(items))
        dead = [c.delivery_id for _, c, _, _ in applied if c.status == "dead"]
        await notices.dead(tx, dead, max((now for _, _, now, _ in applied), default=0.0))
        await notices.write(tx)
        return disabled

    async def release(self, owner: str, delivery_ids: list[str]) -> None:
        async def unit(tx: Tx) -> None:
            for delivery_id in delivery_ids:
                self.leases.finish(delivery_id, owner)
            tx.wake = True

        await self.driver.write(unit)

    async def busy(self, tx: Tx, delivery_id: str, now: float) -> bool:
        held = self.leases.get(delivery_id)
        return held is not None and held.until > now

    def forget(self, tx: Tx, delivery_id: str) -> None:
        self.leases.pop(delivery_id, None)
