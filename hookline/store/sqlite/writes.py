"""The SQLite write transactions. Each function runs inside the writer's open transaction, on the
writer connection, and must not commit: the group committer commits the whole batch at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from hookline.correlate import JobIndex, lookup_keys, plan_ingest
from hookline.errors import Conflict, NotFound
from hookline.events import assemble
from hookline.fanout import NewDelivery, SubscriptionSet, plan_deliveries
from hookline.models import CallbackResult, Claim, Completion, Event, Inbound, Job, Subscription
from hookline.store import rows
from hookline.store.base import NewJob, SubscriptionChanges
from hookline.store.health import Health
from hookline.store.sqlite import sql
from hookline.store.sqlite.leases import Lease, Leases
from hookline.store.sqlite.upstream import queue_archives


def _json_list(values: Iterable[Any]) -> str:
    return orjson.dumps(list(values)).decode()


class SubscriptionCache:
    """Enabled subscriptions for fan-out. One process owns a SQLite file, so every change goes
    through this writer, which drops the cache whenever it touches a subscription."""

    def __init__(self) -> None:
        self._set: SubscriptionSet | None = None

    def get(self, conn: sqlite3.Connection) -> SubscriptionSet:
        if self._set is None:
            self._set = SubscriptionSet(rows.subscription(r) for r in conn.execute(sql.ENABLED_SUBSCRIPTIONS))
        return self._set

    def invalidate(self) -> None:
        self._set = None


class Writes:
    """Write transactions over one connection. ``wake`` becomes True when a batch made
    deliveries due (the store then wakes its dispatcher after the commit)."""

    def __init__(self, conn: sqlite3.Connection, leases: Leases) -> None:
        self.conn = conn
        self.leases = leases
        self.subscriptions = SubscriptionCache()
        self.wake = False

    # receiving -------------------------------------------------------------------------------
    def ingest(self, items: list[Inbound], now: float) -> list[CallbackResult]:
        conn = self.conn
        index = JobIndex(self._load_jobs(items))
        plan = plan_ingest(items, index, now)
        if plan.created:
            conn.executemany(sql.INSERT_JOB, [rows.job_values(j) for j in plan.created.values()])
        if plan.changed:
            conn.executemany(sql.UPDATE_JOB, [rows.job_update_values(j) for j in plan.changed.values()])
        conn.executemany(sql.INSERT_CALLBACK, [rows.callback_values(c) for c in plan.callbacks])
        if plan.events:
            jobs = {**plan.changed, **plan.created}
            self.add_events(plan.events, jobs, now)
            queue_archives(conn, plan.events, jobs, now)
        return plan.results

    def add_events(self, events: list[Event], jobs: dict[str, Job], now: float) -> None:
        """Insert events and fan them out to the matching subscriptions."""
        conn = self.conn
        conn.executemany(sql.INSERT_EVENT, [rows.event_values(e) for e in events])
        subs = self.subscriptions.get(conn)
        if not subs:
            return
        job_ids = list({e.job_id for e in events})
        open_chains = {(r[0], r[1]) for r in conn.execute(sql.in_list(sql.OPEN_CHAINS, len(job_ids)), job_ids)}
        self._insert_deliveries(plan_deliveries(events, jobs, subs, open_chains, now), now)

    def _insert_deliveries(self, planned: list[NewDelivery], now: float) -> None:
        if not planned:
            return
        self.conn.executemany(
            sql.INSERT_DELIVERY,
            [
                (d.id, d.event_id, d.subscription_id, d.job_id, d.event_type, d.sequence, d.next_attempt_at, now, now)
                for d in planned
            ],
        )
        if any(d.next_attempt_at is not None for d in planned):
            self.wake = True

    def _load_jobs(self, items: list[Inbound]) -> list[Job]:
        keys = lookup_keys(items)
        found: dict[str, Job] = {}
        by_provider: dict[str, list[str]] = {}
        for provider, upstream_id in keys.upstream_ids:
            by_provider.setdefault(provider, []).append(upstream_id)
        for provider, ids in by_provider.items():
            for row in self.conn.execute(sql.in_list(sql.JOBS_BY_UPSTREAM, len(ids)), (provider, *ids)):
                found[row[0]] = rows.job(row)
        if keys.keys:
            candidates = list({key for _, key in keys.keys})
            for query in (sql.JOBS_BY_IDS, sql.JOBS_UNBOUND_BY_KEY):
                for row in self.conn.execute(sql.in_list(query, len(candidates)), candidates):
                    found.setdefault(row[0], rows.job(row))
        return list(found.values())

    def register_job(self, new: NewJob, job: Job) -> Job:
        conn = self.conn
        if new.upstream_id is not None:
            existing = conn.execute(sql.JOB_BY_UPSTREAM, (new.provider, new.upstream_id)).fetchone()
            if existing is not None:
                raise Conflict(
                    f"job {existing[0]} already has {new.provider} upstream id {new.upstream_id!r}",
                    code="job_exists",
                )
        conn.execute(sql.INSERT_JOB, rows.job_values(job))
        if new.subscription is not None:
            self.create_subscription(new.subscription)
        return job

    # subscriptions ---------------------------------------------------------------------------
    def create_subscription(self, sub: Subscription) -> Subscription:
        self.conn.execute(sql.INSERT_SUBSCRIPTION, rows.subscription_values(sub))
        self.subscriptions.invalidate()
        return sub

    def _subscription(self, sub_id: str) -> Subscription:
        row = self.conn.execute(sql.GET_SUBSCRIPTION, (sub_id,)).fetchone()
        if row is None:
            raise NotFound(f"no subscription {sub_id!r}")
        return rows.subscription(row)

    def _save(self, sub: Subscription) -> None:
        values = rows.subscription_values(sub)
        # url, event_types, filter, description, secrets, enabled, disabled_reason, updated_at,
        # failing_since, throttled_until, id
        self.conn.execute(
            sql.SAVE_SUBSCRIPTION,
            (*values[1:8], sub.updated_at, sub.failing_since, sub.throttled_until, sub.id),
        )
        self.subscriptions.invalidate()

    def update_subscription(self, sub_id: str, changes: SubscriptionChanges, now: float) -> Subscription:
        sub = self._subscription(sub_id)
        was_enabled = sub.enabled
        changes.apply(sub, now)
        self._save(sub)
        if sub.enabled and not was_enabled:
            self.conn.execute(sql.RESUME_SUBSCRIPTION, (now, sub.id))
            self.wake = True
        elif was_enabled and not sub.enabled:
            self.conn.execute(sql.PAUSE_SUBSCRIPTION, (sub.id,))
        return sub

    def delete_subscription(self, sub_id: str) -> None:
        self._subscription(sub_id)
        for statement in (
            sql.DELETE_SUBSCRIPTION_ATTEMPTS,
            sql.DELETE_SUBSCRIPTION_DELIVERIES,
            sql.DELETE_SUBSCRIPTION,
        ):
            self.conn.execute(statement, (sub_id,))
        self.subscriptions.invalidate()

    def rotate_secret(self, sub_id: str, new_secret: str, now: float, overlap: float) -> Subscription:
        from hookline.models import SigningSecret

        sub = self._subscription(sub_id)
        kept = [s for s in sub.secrets if s.active(now)]
        for secret in kept:
            if secret.expires_at is None or secret.expires_at > now + overlap:
                secret.expires_at = now + overlap
        sub.secrets = [*kept, SigningSecret(new_secret, now)]
        sub.updated_at = now
        self._save(sub)
        return sub

    def replay(self, sub_id: str, since: float, until: float | None, now: float) -> int:
        sub = self._subscription(sub_id)
        if not sub.enabled:
            raise Conflict(f"subscription {sub_id} is disabled ({sub.disabled_reason}); enable it before replaying")
        events = [rows.event(r) for r in self.conn.execute(sql.EVENTS_FOR_REPLAY, (since, until or now + 1))]
        if not events:
            return 0
        jobs = self._jobs_by_id({e.job_id for e in events})
        open_chains = {(sub.id, r[0]) for r in self.conn.execute(sql.OPEN_CHAINS_OF_SUBSCRIPTION, (sub.id,))}
        planned = plan_deliveries(events, jobs, SubscriptionSet([sub]), open_chains, now)
        self._insert_deliveries(planned, now)
        return len(planned)

    def _jobs_by_id(self, job_ids: set[str]) -> dict[str, Job]:
        ids = list(job_ids)
        return {r[0]: rows.job(r) for r in self.conn.execute(sql.in_list(sql.JOBS_BY_IDS, len(ids)), ids)}

    # deliveries ------------------------------------------------------------------------------
    def claim(self, owner: str, limit: int, now: float, lease: float, per_subscription: int) -> list[Claim]:
        leased = self.leases.live_per_subscription(now)
        saturated = [sub for sub, count in leased.items() if count >= per_subscription]
        chosen: list[Claim] = []
        secrets_cache: dict[str, list[str]] = {}
        for _n, delivery_id, event_id, sub_id, job_id, attempts, url, secrets, head, body in self.conn.execute(
            sql.CLAIM_CANDIDATES, (now, _json_list(self.leases.live(now)), now, _json_list(saturated), limit)
        ):
            if leased.get(sub_id, 0) >= per_subscription:
                continue
            leased[sub_id] = leased.get(sub_id, 0) + 1
            if sub_id not in secrets_cache:
                secrets_cache[sub_id] = [s.secret for s in rows.secrets_from_json(secrets) if s.active(now)]
            self.leases.take(delivery_id, Lease(owner, now + lease, sub_id, job_id))
            chosen.append(
                Claim(delivery_id, event_id, sub_id, job_id, url, assemble(head, body), secrets_cache[sub_id], attempts)
            )
            if len(chosen) >= limit:
                break
        return chosen

    def complete(self, items: list[tuple[Completion, float, float]]) -> list[str | None]:
        """Record a batch of attempts. Returns, per item, the reason its subscription was disabled
        by this batch (reported on one item only: the 410 itself, or the first failure)."""
        conn = self.conn
        conn.executemany(
            sql.INSERT_ATTEMPT,
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
        applied = [
            (position, c, now, limit) for position, (c, now, limit) in enumerate(items) if c.delivery_id in job_of
        ]
        conn.executemany(
            sql.FINISH_ATTEMPT,
            [
                (
                    c.status,
                    c.next_attempt_at,
                    c.attempt.status_code,
                    c.attempt.error,
                    now,
                    now if c.status == "delivered" else None,
                    c.delivery_id,
                )
                for _, c, now, _ in applied
            ],
        )
        health: dict[str, Health] = {}
        finished: dict[tuple[str, str], float] = {}  # chains whose head is no longer pending
        for position, completion, now, disable_after in applied:
            health.setdefault(completion.subscription_id, Health(now, disable_after)).add(completion, position)
            if completion.status != "pending":
                finished[(completion.subscription_id, job_of[completion.delivery_id])] = now
        if finished:
            # Promote the next delivery of each finished chain that has one waiting (most have none).
            job_ids = list({job for _, job in finished})
            waiting = conn.execute(sql.in_list(sql.WAITING_CHAINS, len(job_ids)), job_ids).fetchall()
            promote = [(finished[chain], *chain) for chain in map(tuple, waiting) if chain in finished]
            if promote:
                conn.executemany(sql.PROMOTE_NEXT, promote)
                self.wake = True
        disabled: list[str | None] = [None] * len(items)
        for sub_id, h in health.items():
            reason = self._apply_health(sub_id, h)
            if reason is not None and h.blamed is not None:
                disabled[h.blamed] = reason
        return disabled

    def _apply_health(self, sub_id: str, h: Health) -> str | None:
        """Update the subscription's health; return the reason if this disabled it."""
        conn = self.conn
        if h.success_at is not None:
            conn.execute(sql.SUBSCRIPTION_SUCCEEDED, (h.success_at, sub_id))
        elif h.failed_at is not None:
            conn.execute(sql.SUBSCRIPTION_FAILED, (h.failed_at, sub_id))
        if h.throttle_until is not None:
            conn.execute(sql.SUBSCRIPTION_THROTTLE, (h.throttle_until, sub_id))
        disabled: str | None = None
        if h.disable_reason is not None:
            if conn.execute(sql.DISABLE_SUBSCRIPTION, (h.disable_reason, h.now, sub_id)).rowcount > 0:
                disabled = h.disable_reason
        elif h.success_at is None and h.failed_at is not None:
            row = conn.execute(sql.GET_FAILING_SINCE, (sub_id,)).fetchone()
            reason = h.reason_to_disable(row[0] if row is not None else None)
            cutoff = h.now - h.disable_after
            if (
                reason is not None
                and conn.execute(sql.DISABLE_IF_FAILING_SINCE, (reason, h.now, sub_id, cutoff)).rowcount
            ):
                disabled = reason
        if disabled is not None:
            conn.execute(sql.PAUSE_SUBSCRIPTION, (sub_id,))
        if disabled is not None or h.throttle_until is not None:
            self.subscriptions.invalidate()
        return disabled

    def release(self, owner: str, delivery_ids: list[str]) -> None:
        self.leases.release(owner, delivery_ids)
        self.wake = True

    def retry(self, delivery_id: str, now: float) -> None:
        conn = self.conn
        row = conn.execute(sql.DELIVERY_STATE, (delivery_id,)).fetchone()
        if row is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        _status, sub_id = row
        if self.leases.busy(delivery_id, now):
            raise Conflict(f"delivery {delivery_id} is being sent right now; look again in a moment")
        sub = self._subscription(sub_id)
        if not sub.enabled:
            raise Conflict(
                f"subscription {sub_id} is disabled ({sub.disabled_reason}); enable it "
                f'(PATCH /v1/subscriptions/{sub_id} {{"enabled": true}}) before retrying'
            )
        conn.execute(sql.RETRY_DELIVERY, (now, now, delivery_id))
        self.leases.drop(delivery_id)  # a late result of an expired lease must not undo the retry
        self.wake = True
