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

Both run in the database (functions ``hookline_claim`` and ``hookline_complete``, in the
migration): a busy dispatcher's event loop delays every round trip, so the number of round trips
per claim or per batch of completions, not the database's work, bounded a dispatcher's rate.
"""

from __future__ import annotations

import asyncpg

from hookline.events import assemble
from hookline.models import Claim, Completion
from hookline.store import rows
from hookline.store.health import Health
from hookline.store.postgres import sql

# A success only refreshes ``last_success_at`` when the stored one is older than this: on a busy,
# healthy subscription, completions from every dispatcher would otherwise all write (and lock) its
# row. ``failing_since`` is always cleared at once.
SUCCESS_RESOLUTION = 1.0


async def claim(
    conn: asyncpg.Connection, owner: str, limit: int, now: float, lease: float, per_subscription: int
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries to ``owner``: one call of ``hookline_claim`` (see the
    migration), its own transaction. ``conn`` must not be in a transaction."""
    found = await conn.fetch(sql.CLAIM, owner, limit, now, lease, per_subscription)
    secrets: dict[str, list[str]] = {}
    claims = []
    for delivery_id, event_id, sub_id, job_id, attempts, url, raw_secrets, head, body in found:
        if sub_id not in secrets:
            secrets[sub_id] = [s.secret for s in rows.secrets_from_json(raw_secrets) if s.active(now)]
        payload = assemble(bytes(head), None if body is None else bytes(body))
        claims.append(Claim(delivery_id, event_id, sub_id, job_id, url, payload, secrets[sub_id], attempts))
    return claims


async def complete(
    conn: asyncpg.Connection, items: list[tuple[Completion, float, float]]
) -> tuple[list[str | None], bool]:
    """Record a batch of attempts and their consequences (``(completion, now, disable_after)``)
    with ``hookline_complete`` (see the migration). A batch of successes is one call, its own
    transaction; failures also change their subscriptions' health, in the same transaction.
    ``conn`` must not be in a transaction. Returns, per item, the reason if recording it disabled
    its subscription (one item per disabling), and whether a delivery finished (so a waiting one
    may have become due)."""
    attempts = [
        (a.id, a.delivery_id, a.attempted_at, a.status_code, a.latency_ms, a.error, a.response_body)
        for a in (c.attempt for c, _, _ in items)
    ]
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
    health: dict[str, Health] = {}
    for position, (c, now, disable_after) in enumerate(items):
        health.setdefault(c.subscription_id, Health(now, disable_after)).add(c, position)
    succeeded = {sub_id: h.success_at for sub_id, h in health.items() if _only_succeeded(h)}
    args = (
        *sql.as_columns(attempts, len(sql.ATTEMPT_TYPES)),
        *sql.as_columns(results, 8),
        list(succeeded),
        list(succeeded.values()),
        SUCCESS_RESOLUTION,
    )
    disabled: list[str | None] = [None] * len(items)
    if len(succeeded) == len(health):
        finished = await conn.fetch(sql.COMPLETE, *args)
    else:
        async with conn.transaction():
            finished = await conn.fetch(sql.COMPLETE, *args)
            # Only attempts whose result was applied count (the others lost their lease).
            applied = {r[0] for r in finished}
            failing: dict[str, Health] = {}
            for position, (c, now, disable_after) in enumerate(items):
                if c.delivery_id in applied and c.subscription_id not in succeeded:
                    failing.setdefault(c.subscription_id, Health(now, disable_after)).add(c, position)
            if failing:
                for sub_id, reason in (await _write_health(conn, failing)).items():
                    blamed = failing[sub_id].blamed
                    if blamed is not None:
                        disabled[blamed] = reason
    return disabled, any(r[3] != "pending" for r in finished)


def _only_succeeded(h: Health) -> bool:
    return h.failed_at is None and h.disable_reason is None and h.throttle_until is None


async def _write_health(conn: asyncpg.Connection, health: dict[str, Health]) -> dict[str, str]:
    """Write each subscription's new health; return the ones this disabled, with the reason."""
    updates: list[tuple[object, ...]] = []
    disabled: dict[str, str] = {}
    for sub_id, failing_since, throttled_until, enabled in await conn.fetch(
        sql.LOCK_SUBSCRIPTION_HEALTH, sorted(health)
    ):
        h = health[sub_id]
        failing = h.failing_since(failing_since)
        if h.throttle_until is not None:
            throttled_until = max(throttled_until or 0.0, h.throttle_until)
        reason = h.reason_to_disable(failing) if enabled else None
        if reason is not None:
            disabled[sub_id] = reason
        updates.append((sub_id, h.success_at, failing, throttled_until, reason, h.now))
    await conn.execute(sql.SAVE_HEALTH, *sql.as_columns(updates, 6))
    if disabled:
        await conn.execute(sql.PAUSE_SUBSCRIPTIONS, list(disabled))
    return disabled
