"""Operations on many deliveries at once (issue 14): bulk retry, as a write unit (see ``driver``;
the lock order is ``receiving``'s: jobs, then deliveries, then subscriptions).

A bulk retry keeps each (subscription, job) chain in order: retried dead deliveries go back to
``pending`` held, then the head of each chain they belong to becomes due (unless the chain already
has a due head, or the subscription is paused: resuming sends it). Retrying ``pending`` makes
the due heads due now; what waits behind a head still follows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookline.store.driver import Tx


@dataclass(frozen=True, slots=True)
class BulkRetry:
    """Which deliveries ``POST /v1/deliveries/retry`` sends again: ``status`` (``dead`` or
    ``pending``), and optionally one subscription, one event type, created in [since, until)."""

    status: str = "dead"
    subscription_id: str | None = None
    event_type: str | None = None
    since: float | None = None
    until: float | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """The SQL condition on ``deliveries d`` joined with ``subscriptions s``, and its parameters.
        Disabled subscriptions are left out (enable one first); so are the held deliveries of a
        paused one when retrying ``pending``."""
        clauses = ["d.status = :status", "s.enabled"]
        params: dict[str, Any] = {"status": self.status}
        if self.status == "pending":
            clauses += ["d.next_attempt_at IS NOT NULL", "NOT s.paused"]
        for column, value, test in (
            ("subscription_id", self.subscription_id, "d.subscription_id = :subscription_id"),
            ("event_type", self.event_type, "d.event_type = :event_type"),
            ("since", self.since, "d.created_at >= :since"),
            ("until", self.until, "d.created_at < :until"),
        ):
            if value is not None:
                clauses.append(test)
                params[column] = value
        return " AND ".join(clauses), params


async def retry_deliveries(tx: Tx, wanted: BulkRetry, now: float) -> int:
    """Send again now every delivery ``wanted`` matches, each chain still in order; return how many
    were queued."""
    where, params = wanted.where()
    matched = f"FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE {where}"
    # Promoting a chain's head locks the job's row first (see ``receiving``).
    await tx.fetch(f"SELECT id FROM jobs WHERE id IN (SELECT d.job_id {matched}) ORDER BY id FOR UPDATE", **params)
    found = await tx.fetch(f"SELECT d.id, d.subscription_id {matched} ORDER BY d.id FOR UPDATE OF d", **params)
    ids = [r["id"] for r in found if wanted.status == "dead" or not await tx.claims.busy(tx, r["id"], now)]
    if not ids:
        return 0
    if wanted.status == "dead":
        await tx.execute("hold_for_retry", now=now, ids=ids)
        for sub_id in sorted({r["subscription_id"] for r in found}):
            await tx.execute("promote_heads", now=now, id=sub_id)
    else:
        await tx.execute("due_now", now=now, ids=ids)
    tx.wake = True
    return len(ids)
