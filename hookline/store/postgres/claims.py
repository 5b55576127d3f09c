"""Claims and completions on PostgreSQL, safe with any number of dispatcher processes.

Claim: due deliveries are locked with ``FOR UPDATE SKIP LOCKED``, then leased; an expired lease
makes the delivery due again for anyone. The per-subscription bound is global: a claim counts a
subscription's live leases under that subscription's advisory transaction lock.

Completion (a batch, through a group committer): record every attempt; apply its result only if
its dispatcher still holds the lease; promote the next delivery of each finished chain, under the
job's row lock (see ``receiving``); update the subscriptions' health.

Both run in the database (``hookline_claim``, ``hookline_complete``, in the migrations): a busy
dispatcher's event loop delays every round trip, so round trips, not the database's work, bounded
a dispatcher's rate.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from hookline.models import Claim, Completion
from hookline.operational import FAILING_AFTER, build
from hookline.store import rows
from hookline.store.driver import Row, Tx
from hookline.store.groupcommit import Op
from hookline.store.operational import Notices, write_health
from hookline.subscription_health import Health

if TYPE_CHECKING:
    from hookline.store.postgres.driver import PostgresDriver, PostgresTx

# A success only refreshes ``last_success_at`` when the stored one is older than this: on a busy,
# healthy subscription, completions from every dispatcher would otherwise all write (and lock) its
# row. ``failing_since`` is always cleared at once.
SUCCESS_RESOLUTION = 1.0


class PostgresClaims:
    def __init__(self, driver: PostgresDriver) -> None:
        self.driver = driver

    async def claim(self, owner: str, limit: int, now: float, lease: float, per_subscription: int) -> list[Claim]:
        """One call of ``hookline_claim`` (see the migration), its own transaction."""
        params = {"owner": owner, "limit": limit, "now": now, "lease": lease, "per_subscription": per_subscription}

        async def run(tx: PostgresTx) -> tuple[list[Row], bool]:
            return await tx.fetch("claim", **params), False

        found = await self.driver.with_connection(run)
        secrets: dict[str, list[str]] = {}
        return [rows.claim(values, secrets, now) for values in map(rows.getter(found, *rows.CLAIM), found)]

    def complete(self, completion: Completion, now: float, disable_after: float) -> Awaitable[str | None]:
        result: Awaitable[str | None] = self.driver.grouped(
            "complete", self._complete_batch, (completion, now, disable_after)
        )
        return result

    async def _complete_batch(self, ops: list[Op]) -> list[str | None]:
        items = [op.payload for op in ops]

        async def run(tx: PostgresTx) -> tuple[list[str | None], bool]:
            return await _complete(tx, items)

        return await self.driver.with_connection(run)

    async def release(self, owner: str, delivery_ids: list[str]) -> None:
        async def unit(tx: Tx) -> None:
            await tx.execute("release", owner=owner, ids=delivery_ids)
            tx.wake = True

        await self.driver.write(unit)

    async def busy(self, tx: Tx, delivery_id: str, now: float) -> bool:
        row = await tx.fetch_one("lease_of", id=delivery_id)
        return row is not None and row["lease_until"] is not None and row["lease_until"] > now

    def forget(self, tx: Tx, delivery_id: str) -> None:
        """``retry_delivery`` cleared the lease columns."""


async def _complete(tx: PostgresTx, items: list[tuple[Completion, float, float]]) -> tuple[list[str | None], bool]:
    """Record a batch of attempts and their consequences with ``hookline_complete`` (see the
    migration). A batch of successes is one call, its own transaction; failures also change their
    subscriptions' health, in the same transaction. Returns, per item, the reason if recording it
    disabled its subscription (one item per disabling), and whether a delivery finished (so a
    waiting one may have become due)."""
    health: dict[str, Health] = {}
    for position, (c, now, disable_after) in enumerate(items):
        health.setdefault(c.subscription_id, Health(now, disable_after)).add(c, position)
    succeeded = {sub_id: h.success_at for sub_id, h in health.items() if h.only_succeeded}
    attempts = [c.attempt for c, _, _ in items]
    params: dict[str, Any] = {f"a_{f}": [getattr(a, f) for a in attempts] for f in attempts[0].__dataclass_fields__}
    params |= {
        "c_id": [c.delivery_id for c, _, _ in items],
        "c_owner": [c.owner for c, _, _ in items],
        "c_status": [c.status for c, _, _ in items],
        "c_next_attempt_at": [c.next_attempt_at for c, _, _ in items],
        "c_code": [c.attempt.status_code for c, _, _ in items],
        "c_error": [c.attempt.error for c, _, _ in items],
        "c_now": [now for _, now, _ in items],
        "c_delivered_at": [now if c.status == "delivered" else None for c, now, _ in items],
        "succeeded": list(succeeded),
        "succeeded_at": list(succeeded.values()),
        "resolution": SUCCESS_RESOLUTION,
    }
    disabled: list[str | None] = [None] * len(items)
    now = max(now for _, now, _ in items)
    notices = Notices()
    if len(succeeded) == len(health):
        finished = await tx.fetch("complete", **params)
        if _owed_recoveries(finished, succeeded):
            # Rare (a failing subscription's first success): its own transaction, which a crash
            # cannot lose: until it commits, the count stays up and the next success settles it.
            async with tx.conn.transaction():
                await _settle_recoveries(tx, notices, _owed_recoveries(finished, succeeded), now)
                await notices.write(tx)
    else:
        async with tx.conn.transaction():
            finished = await tx.fetch("complete", **params)
            await _settle_recoveries(tx, notices, _owed_recoveries(finished, succeeded), now)
            # Only attempts whose result was applied count (the others lost their lease).
            applied = {r["id"] for r in finished}
            failing: dict[str, Health] = {}
            for position, (c, now, disable_after) in enumerate(items):
                if c.delivery_id in applied and c.subscription_id not in succeeded:
                    failing.setdefault(c.subscription_id, Health(now, disable_after)).add(c, position)
            if failing:
                disabled = await write_health(tx, failing, notices, len(items))
            await notices.dead(tx, [r["id"] for r in finished if r["status"] == "dead"], now)
            await notices.write(tx)
    return disabled, any(r["status"] != "pending" for r in finished)


def _owed_recoveries(finished: list[Row], succeeded: dict[str, float | None]) -> list[str]:
    """Subscriptions that succeeded in this batch after failing (hookline_complete left their count up)."""
    return sorted(
        {
            r["subscription_id"]
            for r in finished
            if r["subscription_id"] in succeeded and r["consecutive_failures"] >= FAILING_AFTER
        }
    )


async def _settle_recoveries(tx: Tx, notices: Notices, sub_ids: list[str], now: float) -> None:
    if sub_ids:
        for r in await tx.fetch("settle_recoveries", ids=sub_ids, failing_after=FAILING_AFTER):
            notices.add(build("subscription.recovered", now, r["id"], r["url"]), r["id"])
