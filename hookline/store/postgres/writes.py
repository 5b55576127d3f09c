"""The PostgreSQL write transactions (but claims and completions: see ``deliveries``). Each method
runs inside a transaction the store opened on ``tx.conn`` and must not commit.

Several processes write at once, so unlike on SQLite every read-modify-write locks what it reads.
Locks are always taken in one order — jobs (by id), then deliveries, then subscriptions — so that
transactions wait for each other instead of deadlocking. Above all, whatever appends to a job's
delivery chains (ingest, replay) and whatever promotes the next delivery of a chain (a completion,
enabling a subscription) lock the job's row first: otherwise an append that saw the head pending
and a promotion that saw no waiting delivery could commit side by side and leave a chain with no
head, stuck for ever.
"""

from __future__ import annotations

import asyncpg

from hookline.correlate import JobIndex, lookup_keys, plan_ingest
from hookline.errors import Conflict, NotFound
from hookline.fanout import NewDelivery, SubscriptionSet, plan_deliveries
from hookline.models import CallbackResult, Event, Inbound, Job, SigningSecret, Subscription
from hookline.store import rows
from hookline.store.base import NewJob, SubscriptionChanges
from hookline.store.postgres import sql, upstream_sql


class Tx:
    """One open transaction. ``wake`` becomes True when it made deliveries due: the store then
    runs NOTIFY in it, so every dispatcher hears of them when it commits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.wake = False


class Writes:
    """The write transactions of receiving, subscriptions and delivery administration."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.conn = tx.conn

    # receiving -------------------------------------------------------------------------------
    async def ingest(self, items: list[Inbound], now: float) -> list[CallbackResult]:
        """Correlate, apply and persist a batch of callbacks with their events and deliveries.
        Raises asyncpg.UniqueViolationError when another process created one of the batch's new
        jobs meanwhile: run it again and it finds that job."""
        conn = self.conn
        index = JobIndex(await self._lock_jobs(items))
        plan = plan_ingest(items, index, now)
        if plan.created:
            created = [rows.job_values(j) for j in plan.created.values()]
            await conn.execute(sql.INSERT_JOBS, *sql.as_columns(created, len(sql.JOB_TYPES)))
        if plan.changed:
            changed = [rows.job_update_values(j) for j in plan.changed.values()]
            await conn.execute(sql.UPDATE_JOBS, *sql.as_columns(changed, 12))
        callbacks = [rows.callback_values(c) for c in plan.callbacks]
        await conn.execute(sql.INSERT_CALLBACKS, *sql.as_columns(callbacks, len(sql.CALLBACK_TYPES)))
        if plan.events:
            jobs = {**plan.changed, **plan.created}
            await self.add_events(plan.events, jobs, now)
            await self._queue_archives(plan.events, jobs, now)
        return plan.results

    async def _queue_archives(self, events: list[Event], jobs: dict[str, Job], now: float) -> None:
        """Queue for the archive every job these events made ``succeeded`` with images to keep."""
        queued = [
            e.job_id
            for e in events
            if e.type == "job.succeeded" and jobs.get(e.job_id) is not None and jobs[e.job_id].image_urls
        ]
        if queued:
            await self.conn.execute(upstream_sql.QUEUE_ARCHIVES, queued, now)

    async def _lock_jobs(self, items: list[Inbound]) -> list[Job]:
        keys = lookup_keys(items)
        providers = [provider for provider, _ in keys.upstream_ids]
        upstream_ids = [upstream_id for _, upstream_id in keys.upstream_ids]
        candidates = list({key for _, key in keys.keys})
        if not upstream_ids and not candidates:
            return []
        found = await self.conn.fetch(sql.LOCK_JOBS_FOR_INGEST, providers, upstream_ids, candidates)
        return [rows.job(r) for r in found]

    async def add_events(self, events: list[Event], jobs: dict[str, Job], now: float) -> None:
        """Insert events and fan them out to the matching subscriptions (the events' jobs are locked)."""
        conn = self.conn
        values = [rows.event_values(e) for e in events]
        await conn.execute(sql.INSERT_EVENTS, *sql.as_columns(values, len(sql.EVENT_TYPES)))
        job_ids = list({e.job_id for e in events})
        subs = SubscriptionSet(rows.subscription(r) for r in await conn.fetch(sql.SUBSCRIPTIONS_FOR_FANOUT, job_ids))
        if not subs:
            return
        open_chains = {(r[0], r[1]) for r in await conn.fetch(sql.OPEN_CHAINS, job_ids)}
        await self._insert_deliveries(plan_deliveries(events, jobs, subs, open_chains, now), now)

    async def _insert_deliveries(self, planned: list[NewDelivery], now: float) -> None:
        if not planned:
            return
        values = [
            (d.id, d.event_id, d.subscription_id, d.job_id, d.event_type, d.sequence, d.next_attempt_at)
            for d in planned
        ]
        await self.conn.execute(sql.INSERT_DELIVERIES, *sql.as_columns(values, 7), now)
        if any(d.next_attempt_at is not None for d in planned):
            self.tx.wake = True

    async def register_job(self, new: NewJob, job: Job) -> Job:
        conn = self.conn
        if new.upstream_id is not None:
            existing = await conn.fetchval(sql.JOB_BY_UPSTREAM, new.provider, new.upstream_id)
            if existing is not None:
                raise _job_exists(str(existing), new)
        try:
            async with conn.transaction():  # a savepoint: the race below must not abort the whole transaction
                await conn.execute(sql.INSERT_JOB, *sql.storable(rows.job_values(job)))
        except asyncpg.UniqueViolationError:
            # Another process bound or created that upstream id since we looked.
            existing = await conn.fetchval(sql.JOB_BY_UPSTREAM, new.provider, new.upstream_id)
            raise _job_exists(str(existing), new) from None
        if new.subscription is not None:
            await self.create_subscription(new.subscription)
        return job

    async def ensure_setting(self, key: str, value: str) -> str:
        await self.conn.execute(sql.PUT_SETTING, key, value)
        return str(await self.conn.fetchval(sql.GET_SETTING, key))

    # subscriptions ---------------------------------------------------------------------------
    async def create_subscription(self, sub: Subscription) -> Subscription:
        await self.conn.execute(sql.INSERT_SUBSCRIPTION, *sql.storable(rows.subscription_values(sub)))
        return sub

    async def _subscription(self, sub_id: str, *, lock: bool = False) -> Subscription:
        row = await self.conn.fetchrow(sql.LOCK_SUBSCRIPTION if lock else sql.GET_SUBSCRIPTION, sub_id)
        if row is None:
            raise NotFound(f"no subscription {sub_id!r}")
        return rows.subscription(row)

    async def _save(self, sub: Subscription) -> None:
        values = sql.storable(rows.subscription_values(sub))
        # url, event_types, filter, description, secrets, enabled, disabled_reason, updated_at,
        # failing_since, throttled_until, id
        await self.conn.execute(
            sql.SAVE_SUBSCRIPTION, *values[1:8], sub.updated_at, sub.failing_since, sub.throttled_until, sub.id
        )

    async def update_subscription(self, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
        conn = self.conn
        toggles = "enabled" in changes.set_fields
        if toggles and changes.enabled:
            # Enabling promotes the head of each chain: lock their jobs first (see the module doc).
            await conn.execute(sql.LOCK_JOBS_OF_PENDING, sub_id)
        elif toggles:
            # Pause before locking the subscription row: a completion holds delivery rows while it
            # waits for that row, so taking them in the other order could deadlock.
            await conn.execute(sql.PAUSE_SUBSCRIPTIONS, [sub_id])
        sub = await self._subscription(sub_id, lock=True)
        was_enabled = sub.enabled
        changes.apply(sub, now)
        await self._save(sub)
        if sub.enabled and not was_enabled:
            await conn.execute(sql.RESUME_SUBSCRIPTION, now, sub.id)
            self.tx.wake = True
        return sub

    async def delete_subscription(self, sub_id: str) -> None:
        await self._subscription(sub_id)
        for statement in (
            sql.DELETE_SUBSCRIPTION_ATTEMPTS,
            sql.DELETE_SUBSCRIPTION_DELIVERIES,
            sql.DELETE_SUBSCRIPTION,
        ):
            await self.conn.execute(statement, sub_id)

    async def rotate_secret(self, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
        sub = await self._subscription(sub_id, lock=True)
        kept = [s for s in sub.secrets if s.active(now)]
        for secret in kept:
            if secret.expires_at is None or secret.expires_at > now + overlap:
                secret.expires_at = now + overlap
        sub.secrets = [*kept, SigningSecret(new_secret, now)]
        sub.updated_at = now
        await self._save(sub)
        return sub

    async def replay(self, sub_id: str, since: float, until: float | None, now: float) -> int:
        conn = self.conn
        sub = await self._subscription(sub_id)
        if not sub.enabled:
            raise Conflict(f"subscription {sub_id} is disabled ({sub.disabled_reason}); enable it before replaying")
        events = [rows.event(r) for r in await conn.fetch(sql.EVENTS_FOR_REPLAY, since, until or now + 1)]
        if not events:
            return 0
        # Appending to chains: lock the jobs first (see the module doc).
        locked = await conn.fetch(sql.LOCK_JOBS, sorted({e.job_id for e in events}))
        jobs = {r[0]: rows.job(r) for r in locked}
        events = [e for e in events if e.job_id in jobs]
        open_chains = {(sub.id, r[0]) for r in await conn.fetch(sql.OPEN_CHAINS_OF_SUBSCRIPTION, sub.id)}
        planned = plan_deliveries(events, jobs, SubscriptionSet([sub]), open_chains, now)
        await self._insert_deliveries(planned, now)
        return len(planned)

    # delivery administration -----------------------------------------------------------------
    async def release(self, owner: str, delivery_ids: list[str]) -> None:
        await self.conn.execute(sql.RELEASE, owner, delivery_ids)
        self.tx.wake = True

    async def retry(self, delivery_id: str, now: float) -> None:
        conn = self.conn
        row = await conn.fetchrow(sql.DELIVERY_STATE, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        _status, lease_until, sub_id = row
        if lease_until is not None and lease_until > now:
            raise Conflict(f"delivery {delivery_id} is being sent right now; look again in a moment")
        sub = await self._subscription(sub_id)
        if not sub.enabled:
            raise Conflict(
                f"subscription {sub_id} is disabled ({sub.disabled_reason}); enable it "
                f'(PATCH /v1/subscriptions/{sub_id} {{"enabled": true}}) before retrying'
            )
        await conn.execute(sql.RETRY_DELIVERY, now, delivery_id)
        self.tx.wake = True


def _job_exists(job_id: str, new: NewJob) -> Conflict:
    return Conflict(f"job {job_id} already has {new.provider} upstream id {new.upstream_id!r}", code="job_exists")
