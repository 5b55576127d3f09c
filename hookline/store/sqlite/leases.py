"""Delivery leases of the SQLite backend, kept in memory.

A lease says which dispatcher is sending a delivery, until when. On PostgreSQL, where many
processes share the work, leases must live in the database. A SQLite file is used by one process
(the lock file beside it makes sure), so its leases can live in that process: writing them to the
database cost an UPDATE and two index changes per delivery, and a restart forgets them, which is
what "release every lease at start-up" did. The semantics are the store protocol's: a lease can be
taken over once it expires; a result from a dispatcher that lost its lease is not applied.

The store snapshots the table before each write batch and restores it if the batch rolls back, so
it never disagrees with the database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    until: float
    subscription_id: str
    job_id: str


class Leases:
    def __init__(self) -> None:
        self._held: dict[str, Lease] = {}

    def snapshot(self) -> dict[str, Lease]:
        return dict(self._held)

    def restore(self, snapshot: dict[str, Lease]) -> None:
        self._held = snapshot

    def live(self, now: float) -> list[str]:
        """Deliveries leased right now (an expired lease no longer holds its delivery)."""
        return [delivery_id for delivery_id, lease in self._held.items() if lease.until > now]

    def live_per_subscription(self, now: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for lease in self._held.values():
            if lease.until > now:
                counts[lease.subscription_id] = counts.get(lease.subscription_id, 0) + 1
        return counts

    def take(self, delivery_id: str, lease: Lease) -> None:
        self._held[delivery_id] = lease

    def finish(self, delivery_id: str, owner: str) -> Lease | None:
        """End ``owner``'s lease; None when ``owner`` does not hold it (another dispatcher took it
        over, or an operator's retry cleared it)."""
        lease = self._held.get(delivery_id)
        if lease is None or lease.owner != owner:
            return None
        del self._held[delivery_id]
        return lease

    def release(self, owner: str, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            self.finish(delivery_id, owner)

    def busy(self, delivery_id: str, now: float) -> bool:
        lease = self._held.get(delivery_id)
        return lease is not None and lease.until > now

    def drop(self, delivery_id: str) -> None:
        self._held.pop(delivery_id, None)
