"""Receiving, as write units (see ``driver``): a batch of callbacks correlated, applied and
persisted with their events, deliveries and archive work; a job registered ahead of its callbacks.

Several processes may write a PostgreSQL database at once, so every read-modify-write locks what
it reads (a no-op on SQLite's one writer). Locks are taken in one order — jobs (by id), then
deliveries, then subscriptions — so transactions wait for each other instead of deadlocking.
Above all, whatever appends to a job's delivery chains (ingest, replay) and whatever promotes the
next delivery of a chain (a completion, enabling a subscription) lock the job's row first:
otherwise an append that saw the head pending and a promotion that saw no waiting delivery could
commit side by side and leave a chain with no head, stuck for ever.
"""

from __future__ import annotations

from typing import Any

from hookline.changes import NewJob
from hookline.correlate import JobIndex, lookup_keys, plan_ingest
from hookline.errors import Conflict
from hookline.fanout import NewDelivery, SubscriptionSet, plan_deliveries
from hookline.ids import new_id
from hookline.models import CallbackResult, Event, Inbound, Job, Subscription
from hookline.store import rows
from hookline.store.driver import Tx


async def ingest(tx: Tx, items: list[Inbound], now: float) -> list[CallbackResult]:
    """Correlate, apply and persist a batch of callbacks with their events and deliveries; queue
    the archive of every job they made ``succeeded`` with images. On PostgreSQL, raises a unique
    violation when another process created one of the batch's new jobs meanwhile: the driver runs
    the unit again and it finds that job."""
    keys = lookup_keys(items)
    candidates = list({key for _, key in keys.keys})
    found = []
    if keys.upstream_ids or candidates:
        found = await tx.fetch(
            "jobs_for_ingest",
            providers=[provider for provider, _ in keys.upstream_ids],
            upstream_ids=[upstream_id for _, upstream_id in keys.upstream_ids],
            pairs=[list(pair) for pair in keys.upstream_ids],
            keys=candidates,
        )
    index = JobIndex({row["id"]: rows.job(row) for row in found}.values())
    plan = plan_ingest(items, index, now)
    if plan.created:
        await tx.many("insert_jobs", rows.JOB, [rows.job_values(j) for j in plan.created.values()])
    if plan.changed:
        await tx.many("update_jobs", rows.JOB, [rows.job_values(j) for j in plan.changed.values()])
    await tx.many("insert_callbacks", rows.CALLBACK, [rows.callback_values(c) for c in plan.callbacks])
    if plan.events:
        jobs = {**plan.changed, **plan.created}
        await add_events(tx, plan.events, jobs, now)
        queued = [
            (e.job_id, now)
            for e in plan.events
            if e.type == "job.succeeded" and e.job_id in jobs and jobs[e.job_id].image_urls
        ]
        if queued:
            await tx.many("queue_archives", ("job_id", "now"), queued)
    return plan.results


async def add_events(tx: Tx, events: list[Event], jobs: dict[str, Job], now: float) -> None:
    """Insert events (their jobs are locked) and fan them out to the matching subscriptions."""
    await tx.many("insert_events", rows.EVENT, [rows.event_values(e) for e in events])
    job_ids = list({e.job_id for e in events})
    subs = await tx.fanout_subscriptions(job_ids)
    if not subs:
        return
    open_chains = {(r["subscription_id"], r["job_id"]) for r in await tx.fetch("open_chains", job_ids=job_ids)}
    await insert_deliveries(tx, plan_deliveries(events, jobs, subs, open_chains, now))


async def insert_deliveries(tx: Tx, planned: list[NewDelivery]) -> None:
    if not planned:
        return
    await tx.many("insert_deliveries", rows.DELIVERY, [rows.delivery_values(d) for d in planned])
    if any(d.next_attempt_at is not None for d in planned):
        tx.wake = True


async def replay(tx: Tx, sub: Subscription, since: float, until: float | None, now: float) -> int:
    """Queue again, for ``sub``, every matching event created in [since, until)."""
    events = [rows.event(r) for r in await tx.fetch("events_for_replay", since=since, until=until or now + 1)]
    if not events:
        return 0
    # Appending to chains: lock the jobs first (see the module doc).
    jobs = {r["id"]: rows.job(r) for r in await tx.fetch("lock_jobs", ids=sorted({e.job_id for e in events}))}
    events = [e for e in events if e.job_id in jobs]
    found = await tx.fetch("open_chains_of_subscription", id=sub.id)
    open_chains = {(r["subscription_id"], r["job_id"]) for r in found}
    planned = plan_deliveries(events, jobs, SubscriptionSet([sub]), open_chains, now)
    await insert_deliveries(tx, planned)
    return len(planned)


async def register_job(tx: Tx, new: NewJob, now: float, job_id: str | None = None) -> Job:
    """Create the job ``new`` describes, ahead of its callbacks, with its one-off subscription (its
    id ``job_id``, else a new one). Raises Conflict (``job_exists``) when a job
    already has its upstream id — also when another process bound or created one meanwhile — and
    Conflict (``correlation_key_taken``) when, registered without one, it would wait behind a job
    with its correlation key that no callback has bound yet (callbacks bind the oldest such job
    only: this one would never hear of its task)."""
    job = new.job(job_id or new_id("job"), now)
    if new.upstream_id is not None:
        await _refuse_taken(tx, new)
    elif new.correlation_key is not None:
        await _refuse_waiting(tx, new)
    if not await tx.execute("register_job", **dict(zip(rows.JOB, rows.job_values(job), strict=True))):
        await _refuse_taken(tx, new)
    if new.subscription is not None:
        await create_subscription(tx, new.subscription)
    return job


async def _refuse_taken(tx: Tx, new: NewJob) -> None:
    existing: Any = await tx.fetch_one("job_by_upstream", provider=new.provider, upstream_id=new.upstream_id)
    if existing is not None:
        raise Conflict(
            f"job {existing['id']} already has {new.provider} upstream id {new.upstream_id!r}", code="job_exists"
        )


async def _refuse_waiting(tx: Tx, new: NewJob) -> None:
    # Registrations of one key one at a time, or two could each see none waiting.
    await tx.lock("lock_correlation_key", provider=new.provider, correlation_key=new.correlation_key)
    waiting: Any = await tx.fetch_one("unbound_job_by_key", provider=new.provider, correlation_key=new.correlation_key)
    if waiting is not None:
        raise Conflict(
            f"job {waiting['id']} already waits for a {new.provider} callback with correlation key "
            f"{new.correlation_key!r}; use another key, or register with its upstream_id",
            code="correlation_key_taken",
        )


async def create_subscription(tx: Tx, sub: Subscription) -> Subscription:
    """Store a new subscription."""
    await tx.execute("insert_subscription", **rows.subscription_params(sub))
    tx.subscriptions_changed()
    return sub
