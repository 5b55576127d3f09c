"""The store: hookline's domain methods, written once over a :class:`~hookline.store.driver.Driver`
(``sqlite`` or ``postgres``). Callers never see SQL. A method returns only after its writes are
committed. Most write methods are a write unit of a capability module exposed as it is
(:func:`written`: the unit's documentation is the method's)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from hookline.apikeys import ApiKey
from hookline.clock import Clock
from hookline.models import (
    Attempt,
    Backlog,
    CallbackRecord,
    CallbackResult,
    Claim,
    Completion,
    Delivery,
    Event,
    Inbound,
    Job,
    Page,
    Subscription,
)
from hookline.pruning import DryRun, Removed, Sweep
from hookline.queries import MAX_PAGE, CallbackQuery, DeliveryQuery, EventQuery, JobQuery, SubscriptionQuery
from hookline.store import apikeys, deliveries, idempotency, rates, receiving, retention, rows, subscriptions, work
from hookline.store.driver import Driver, Row, Tx
from hookline.upstream_work import ArchiveState, Submission

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M")


def written(
    unit: Callable[Concatenate[Tx, P], Awaitable[T]],
) -> Callable[Concatenate[Store, P], Coroutine[Any, Any, T]]:
    """The store method that runs ``unit`` (see ``driver``) and returns once its writes are committed."""

    @functools.wraps(unit)
    async def method(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.driver.write(lambda tx: unit(tx, *args, **kwargs))

    return method


class Store:
    """Every store operation. ``open`` before use, ``close`` after."""

    def __init__(self, driver: Driver, clock: Clock) -> None:
        self.driver = driver
        self.clock = clock

    # lifecycle -------------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        """Connect, refuse a schema newer than this code (SchemaTooNew), migrate if asked."""
        await self.driver.open(migrate=migrate)

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        await self.driver.close()

    async def migrate(self) -> tuple[int, int]:
        """Apply pending migrations; return (version before, version after)."""
        return await self.driver.migrate()

    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""
        await self.driver.ping()

    async def ensure_setting(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is stored already; return the stored value."""

        async def unit(tx: Tx) -> str:
            await tx.execute("put_setting", key=key, value=value)
            (row,) = await tx.fetch("get_setting", key=key)
            return str(row["value"])

        return await self.driver.write(unit)

    # reads -----------------------------------------------------------------------------------
    async def _one(self, name: str, **params: Any) -> Row | None:
        found = await self.driver.fetch(name, **params)
        return found[0] if found else None

    async def _get(self, name: str, model: Callable[[Row], M], **params: Any) -> M | None:
        row = await self._one(name, **params)
        return None if row is None else model(row)

    async def _list(self, select: str, query: Any, model: Callable[[Row], M], alias: str = "") -> Page[M]:
        """One page, newest first, of ``select`` (``SELECT ... FROM ...``; its main table is
        ``alias`` when it joins), filtered by the query's column equalities, after its cursor."""
        limit = max(1, min(query.limit, MAX_PAGE))
        column = f"{alias}." if alias else ""
        params: dict[str, Any] = query.filters()
        clauses = [f"{column}{name} = :{name}" for name in params]
        if query.cursor:
            clauses.append(f"{column}id < :cursor")
            params["cursor"] = query.cursor
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        found = await self.driver.fetch(
            f"{select} {where} ORDER BY {column}id DESC LIMIT :limit", limit=limit + 1, **params
        )
        cursor = found[limit - 1]["id"] if len(found) > limit else None
        return Page([model(r) for r in found[:limit]], cursor)

    # receiving -------------------------------------------------------------------------------
    async def _ingest(self, tx: Tx, items: list[Inbound]) -> list[CallbackResult]:
        return await receiving.ingest(tx, items, self.clock.now())

    def record_callback(self, inbound: Inbound) -> Awaitable[CallbackResult]:
        """Correlate, apply and persist one callback with its events and deliveries, atomically,
        in a group commit with whatever other callbacks wait (``receiving.ingest``)."""
        # The driver's awaitable itself, not a coroutine around it: a frame less per callback.
        result: Awaitable[CallbackResult] = self.driver.batched(self._ingest, inbound)
        return result

    register_job = written(receiving.register_job)

    async def get_job(self, job_id: str) -> Job | None:
        return await self._get("get_job", rows.job, id=job_id)

    async def list_jobs(self, query: JobQuery) -> Page[Job]:
        return await self._list(
            "SELECT j.*, u.body AS upstream FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id",
            query,
            rows.job,
            alias="j",
        )

    async def job_callbacks(self, job_id: str, limit: int = 200) -> list[CallbackRecord]:
        return [rows.callback(r) for r in await self.driver.fetch("job_callbacks", job_id=job_id, limit=limit)]

    async def job_events(self, job_id: str, limit: int = 200) -> list[Event]:
        return [rows.event(r) for r in await self.driver.fetch("job_events", job_id=job_id, limit=limit)]

    async def list_callbacks(self, query: CallbackQuery) -> Page[CallbackRecord]:
        """The callback log, newest first (rejected callbacks included: they have no job)."""
        return await self._list("SELECT * FROM callbacks", query, rows.callback)

    async def list_events(self, query: EventQuery) -> Page[Event]:
        """The event feed, OLDEST first, after ``query.after``. ``next_cursor`` is the cursor of the
        last event returned (``query.after`` again when none is), so a follower never misses an
        event that commits after it read: the order is commit order, and an event of a transaction
        still in flight is held back until that transaction ends (``feed_events`` in the sql files).
        ``feed_elsewhere`` is read first, apart: the transactions running in other databases."""
        (elsewhere,) = await self.driver.fetch("feed_elsewhere")
        position, event_id = query.position() or (0, "")
        found = await self.driver.fetch(
            "feed_events",
            elsewhere=elsewhere["xids"],
            after_position=position,
            after_id=event_id,
            type=query.type,
            job_id=query.job_id,
            limit=max(1, min(query.limit, MAX_PAGE)),
        )
        return rows.feed_page(found, query.after)

    # subscriptions ---------------------------------------------------------------------------
    create_subscription = written(receiving.create_subscription)
    update_subscription = written(subscriptions.update)
    delete_subscription = written(subscriptions.delete)
    rotate_secret = written(subscriptions.rotate_secret)
    replay = written(subscriptions.replay)

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        return await self._get("get_subscription", rows.subscription, id=sub_id)

    async def list_subscriptions(self, query: SubscriptionQuery) -> Page[Subscription]:
        return await self._list("SELECT * FROM subscriptions", query, rows.subscription)

    # deliveries ------------------------------------------------------------------------------
    async def claim_deliveries(
        self, owner: str, limit: int, now: float, lease: float, per_subscription: int
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries to ``owner``, never more than ``per_subscription``
        in flight for one subscription (counting leases other dispatchers hold). Each claim
        carries its subscription's headers and retry schedule, and, when the subscription has a
        rate limit, the time it may be sent (``send_at``; see ``rates``)."""
        claims = await self.driver.claims.claim(owner, limit, now, lease, per_subscription)
        return await rates.with_settings(self.driver, claims, owner, now)

    async def complete_delivery(self, completion: Completion, now: float, disable_after: float) -> str | None:
        """Record an attempt and its consequences (retry, delivered, dead; subscription health;
        promotion of the next delivery in the chain; only the attempt row if the lease was lost).
        Returns why, when recording it disabled its subscription (410 Gone, or no success for
        ``disable_after`` seconds): one call per disabling, however many attempts were recorded
        together, so the dispatcher counts disablings honestly."""
        return await self.driver.claims.complete(completion, now, disable_after)

    async def release_deliveries(self, owner: str, delivery_ids: list[str]) -> None:
        """Give leases back unsent (shutdown), so another dispatcher can send them now."""
        if delivery_ids:
            await self.driver.claims.release(owner, delivery_ids)

    async def wait_for_work(self, timeout: float) -> None:
        """Return when new deliveries may be due, or after ``timeout`` seconds."""
        await self.driver.wait_for_work(timeout)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return await self._get("get_delivery", rows.delivery, id=delivery_id)

    async def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        return await self._list("SELECT * FROM deliveries", query, rows.delivery)

    async def delivery_attempts(self, delivery_id: str) -> list[Attempt]:
        return [rows.attempt(r) for r in await self.driver.fetch("delivery_attempts", id=delivery_id)]

    retry_delivery = written(deliveries.retry_delivery)
    retry_deliveries = written(deliveries.retry_deliveries)

    async def backlog(self, now: float) -> Backlog:
        row = await self._one("backlog")
        assert row is not None
        return Backlog(pending=row["pending"], oldest_pending_at=row["oldest"], dead=row["dead"])

    # upstream work (``work``) ----------------------------------------------------------------
    register_submission = written(work.register_submission)
    claim_submissions = written(work.claim_submissions)
    hold_submission = written(work.hold_submission)

    async def finish_submission(self, job_id: str, inbound: Inbound, sent: bool) -> CallbackResult:
        """``work.finish_submission``, now."""
        return await self.driver.write(lambda tx: work.finish_submission(tx, job_id, inbound, sent, self.clock.now()))

    async def get_submission(self, job_id: str) -> Submission | None:
        return await self._get("get_submission", work.submission, job_id=job_id)

    claim_polls = written(work.claim_polls)

    async def release_polls(self, owner: str, job_ids: list[str]) -> None:
        """End ``owner``'s leases on these jobs (their next poll stays scheduled)."""
        if job_ids:
            await self.driver.write(lambda tx: work.release_polls(tx, owner, job_ids))

    claim_archives = written(work.claim_archives)
    complete_archive = written(work.complete_archive)
    fail_archive = written(work.fail_archive)

    async def get_archive(self, job_id: str) -> ArchiveState | None:
        return await self._get("get_archive", work.archive_state, job_id=job_id)

    # retention and erasure (``retention``) -----------------------------------------------------
    erase_jobs = written(retention.erase)
    prune_jobs = written(retention.prune_jobs)
    prune_deliveries = written(retention.prune_deliveries)
    prune_sweep = written(retention.sweep)

    async def job_ids_by_key(
        self, *, key: str | None = None, prefix: str | None = None, after: str = "", limit: int = 100
    ) -> list[str]:
        """Ids (ascending, after ``after``) of the jobs whose correlation key is ``key``, or starts with ``prefix``."""
        if key is not None:
            found = await self.driver.fetch("jobs_by_key", key=key, after=after, limit=limit)
        else:
            assert prefix
            found = await self.driver.fetch(
                "jobs_by_key_prefix", prefix=prefix, length=len(prefix), after=after, limit=limit
            )
        return [r["id"] for r in found]

    async def prune_dry_run(self, cutoff: float, sweeps: list[tuple[Sweep, float]]) -> Removed:
        """What pruning everything before ``cutoff`` (each sweep before its own cutoff) would
        delete: done in one transaction, counted, and rolled back."""
        try:
            await self.driver.write(lambda tx: retention.dry_run(tx, cutoff, sweeps))
        except DryRun as rolled_back:
            return rolled_back.removed
        raise AssertionError("unreachable")

    # dashboard sessions ----------------------------------------------------------------------
    async def revoke_session(self, nonce: str, expires_at: float, now: float) -> None:
        """Revoke the dashboard session ``nonce`` until ``expires_at`` (when its cookie would expire
        anyway); revocations that have expired by ``now`` are forgotten."""

        async def unit(tx: Tx) -> None:
            await tx.execute("forget_expired_sessions", now=now)
            await tx.execute("revoke_session", nonce=nonce, expires_at=expires_at)

        await self.driver.write(unit)

    async def session_revoked(self, nonce: str) -> bool:
        """Whether the dashboard session ``nonce`` was logged out."""
        return await self._one("session_revoked", nonce=nonce) is not None

    # API keys (``apikeys``) ------------------------------------------------------------------
    create_api_key = written(apikeys.create)
    revoke_api_key = written(apikeys.revoke)

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key not revoked, newest first (expired ones too: they show their expiry)."""
        return [rows.api_key(r) for r in await self.driver.fetch("live_api_keys", limit=apikeys.MAX_LISTED)]

    async def find_api_key(self, hashed: str) -> ApiKey | None:
        """The key whose hash is ``hashed``, revoked or expired ones included, or None."""
        return await self._get("api_key_by_hash", rows.api_key, key_hash=hashed)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """The key ``key_id``, revoked or expired ones included, or None."""
        return await self._get("api_key_by_id", rows.api_key, id=key_id)

    # idempotency keys (``idempotency``) --------------------------------------------------------
    claim_idempotency_key = written(idempotency.claim)
    extend_idempotency_lock = written(idempotency.extend)
    save_idempotent_answer = written(idempotency.save)
    release_idempotency_key = written(idempotency.release)
    prune_idempotency = written(idempotency.prune)
