"""Claims and completions on PostgreSQL, safe with any number of dispatcher processes.

Claim: due deliveries are locked with ``FOR UPDATE SKIP LOCKED`` (two dispatchers never wait for
or take the same row), then leased (``lease_owner``, ``lease_until``). A lease that expires — its
dispatcher died or hung — makes the delivery due again for anyone. The per-subscription bound is
global: a claim counts the live leases of each subscription it takes from while holding that
subscription's advisory transaction lock, so two dispatchers cannot both see "one slot left".

Completion (a batch, through the group committer): record every attempt; apply its result only if
its dispatcher still holds the lease (otherwise the attempt row is all that is kept); promote the
next delivery of each finished chain, under the job's row lock (see ``writes``); update the
health of the subscriptions involved.
"""

from __future__ import annotations

import hashlib

import asyncpg

from hookline.models import Claim, Completion
from hookline.store import rows
from hookline.store.health import Health
from hookline.store.postgres import sql
from hookline.store.postgres.writes import Tx

# A success only refreshes ``last_success_at`` when the stored one is older than this: on a busy,
# healthy subscription, completions from every dispatcher would otherwise all write (and lock) its
# row. ``failing_since`` is always cleared at once.
SUCCESS_RESOLUTION = 1.0


def subscription_lock_key(subscription_id: str) -> int:
    """The advisory lock key that serializes claims on one subscription (a stable 64-bit hash)."""
    digest = hashlib.blake2b(subscription_id.encode(), digest_size=8, person=b"hookline-claims").digest()
    return int.from_bytes(digest, "big", signed=True)


async def claim(
    conn: asyncpg.Connection, owner: str, limit: int, now: float, lease: float, per_subscription: int
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries to ``owner`` (inside the caller's transaction)."""
    leased = dict(await conn.fetch(sql.LEASED_PER_SUBSCRIPTION, now))
    # Only a hint (it is read without locks): it keeps a saturated subscription's backlog from
    # filling every candidate slot while other subscriptions have due work.
    saturated = [sub for sub, count in leased.items() if count >= per_subscription]
    candidates = await conn.fetch(sql.CLAIM_CANDIDATES, now, saturated, max(limit * 2, 10))
    if not candidates:
        return []
    subs = {r[3] for r in candidates}
    # Keys in ascending order: concurrent claims lock them in the same order and never deadlock.
    await conn.execute(sql.LOCK_SUBSCRIPTION_CLAIMS, sorted({subscription_lock_key(s) for s in subs}))
    live: dict[str, int] = dict(await conn.fetch(sql.LEASED_OF_SUBSCRIPTIONS, now, list(subs)))
    chosen: list[Claim] = []
    numbers: list[int] = []
    secrets_cache: dict[str, list[str]] = {}
    for n, delivery_id, event_id, sub_id, job_id, attempts, url, secrets, payload in candidates:
        if live.get(sub_id, 0) >= per_subscription:
            continue
        live[sub_id] = live.get(sub_id, 0) + 1
        if sub_id not in secrets_cache:
            secrets_cache[sub_id] = [s.secret for s in rows.secrets_from_json(secrets) if s.active(now)]
        numbers.append(n)
        chosen.append(
            Claim(delivery_id, event_id, sub_id, job_id, url, bytes(payload), secrets_cache[sub_id], attempts)
        )
        if len(chosen) >= limit:
            break
    if numbers:
        await conn.execute(sql.LEASE, now + lease, owner, numbers)
    return chosen


async def complete(tx: Tx, items: list[tuple[Completion, float, float]]) -> list[None]:
    """Record a batch of attempts and their consequences (``(completion, now, disable_after)``)."""
    conn = tx.conn
    finishing = [c.delivery_id for c, _, _ in items if c.status != "pending"]
    if finishing:
        # Lock the jobs before any delivery row: promotion must not race an ingest appending to
        # the same chain (see ``writes``).
        await conn.execute(sql.LOCK_JOBS_OF_DELIVERIES, finishing)
    attempts = [
        (a.id, a.delivery_id, a.attempted_at, a.status_code, a.latency_ms, a.error, a.response_body)
        for a in (c.attempt for c, _, _ in items)
    ]
    await conn.execute(sql.INSERT_ATTEMPTS, *sql.as_columns(attempts, len(sql.ATTEMPT_TYPES)))
    results = [
        (
            c.delivery_id,
            c.owner,
            c.status,
            c.next_attempt_at,
            c.attempt.status_code,
            c.attempt.error,
            now,
            now if c.status == "delivered" else None,
        )
        for c, now, _ in items
    ]
    finished = await conn.fetch(sql.FINISH_ATTEMPTS, *sql.as_columns(results, 8))
    applied = {r[0] for r in finished}  # the others lost their lease to another dispatcher
    health: dict[str, Health] = {}
    for c, now, disable_after in items:
        if c.delivery_id in applied:
            health.setdefault(c.subscription_id, Health(now, disable_after)).add(c)
    chains = sorted({(r[1], r[2]) for r in finished if r[3] != "pending"})
    if chains:
        latest = max(now for _, now, _ in items)
        status = await conn.execute(sql.PROMOTE_NEXT, [sub for sub, _ in chains], [job for _, job in chains], latest)
        if _row_count(status):
            tx.wake = True
    await _apply_health(conn, health)
    return [None] * len(items)


async def _apply_health(conn: asyncpg.Connection, health: dict[str, Health]) -> None:
    if not health:
        return
    ids = sorted(health)
    state = {r[0]: r for r in await conn.fetch(sql.SUBSCRIPTION_HEALTH, ids)}
    must_write = [sub_id for sub_id in ids if sub_id in state and _must_write(health[sub_id], state[sub_id])]
    if not must_write:
        return
    updates: list[tuple[object, ...]] = []
    disabled: list[str] = []
    for sub_id, failing_since, throttled_until, enabled in await conn.fetch(sql.LOCK_SUBSCRIPTION_HEALTH, must_write):
        h = health[sub_id]
        failing = h.failing_since(failing_since)
        if h.throttle_until is not None:
            throttled_until = max(throttled_until or 0.0, h.throttle_until)
        reason = h.reason_to_disable(failing) if enabled else None
        if reason is not None:
            disabled.append(sub_id)
        updates.append((sub_id, h.success_at, failing, throttled_until, reason, h.now))
    await conn.execute(sql.SAVE_HEALTH, *sql.as_columns(updates, 6))
    if disabled:
        await conn.execute(sql.PAUSE_SUBSCRIPTIONS, disabled)


def _must_write(h: Health, state: asyncpg.Record) -> bool:
    if h.failed_at is not None or h.throttle_until is not None or h.disable_reason is not None:
        return True
    _, failing_since, last_success_at = state
    if failing_since is not None or last_success_at is None or h.success_at is None:
        return True
    return bool(last_success_at < h.success_at - SUCCESS_RESOLUTION)


def _row_count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    _, _, count = status.rpartition(" ")
    return int(count) if count.isdigit() else 0
