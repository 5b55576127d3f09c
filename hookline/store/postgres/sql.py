"""Named SQL for the PostgreSQL backend. Column lists come from ``hookline.store.rows``.

Batches are written with one statement per table: each column travels as one array parameter and
``unnest`` turns the arrays back into rows (a single round trip however large the batch). JSON
columns travel as ``text[]`` and are cast to ``json`` in the statement.
"""

from __future__ import annotations

from collections.abc import Sequence

from hookline.store.rows import (
    ATTEMPT_COLUMNS,
    CALLBACK_COLUMNS,
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    JOB_COLUMNS,
    JOB_UPDATE_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    prefixed,
)

# NOTIFY channel: a transaction that makes deliveries due notifies it; dispatchers listen.
CHANNEL = "hookline_deliveries"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"

# Advisory lock keys (pg_advisory_lock's bigint space). Migrations take MIGRATION_LOCK for the
# session; claims take one transaction lock per subscription (see ``deliveries.subscription_lock_key``).
MIGRATION_LOCK = 0x686F6F6B6C696E65  # "hookline"

CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"
)
SCHEMA_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())"


def _unnest(columns: list[tuple[str, str]], first: int = 1) -> tuple[str, str]:
    """(``unnest($1::t1[], ...) AS u(c1, ...)``, ``c1, c2::json, ...``) for ``(column, type)`` pairs."""
    arrays = ", ".join(f"${i}::{'text' if t == 'json' else t}[]" for i, (_, t) in enumerate(columns, first))
    names = ", ".join(c for c, _ in columns)
    select = ", ".join(f"u.{c}::json" if t == "json" else f"u.{c}" for c, t in columns)
    return f"unnest({arrays}) AS u({names})", select


def bulk_insert(table: str, columns: list[tuple[str, str]]) -> str:
    """An INSERT of every row of the parallel arrays, in array order."""
    source, select = _unnest(columns)
    names = ", ".join(c for c, _ in columns)
    return f"INSERT INTO {table} ({names}) SELECT {select} FROM {source}"


def storable(row: Sequence[object]) -> tuple[object, ...]:
    """``row`` with NUL characters in its strings replaced by U+FFFD: PostgreSQL text cannot hold
    NUL, and outside text (an upstream's error message, a subscriber's response) may contain it.
    Raw bodies are bytea and keep every byte."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in row)


def as_columns(values: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Rows → one list per column (strings made ``storable``): the parameters of a
    ``bulk_insert`` or an ``unnest`` UPDATE."""
    if not values:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*(storable(row) for row in values), strict=True)]


def _typed(columns: str, types: str) -> list[tuple[str, str]]:
    names = [c.strip() for c in columns.split(",")]
    kinds = types.split()
    if len(names) != len(kinds):
        raise ValueError(f"{len(names)} columns but {len(kinds)} types")
    return list(zip(names, kinds, strict=True))


JOB_TYPES = _typed(JOB_COLUMNS, "text text text text text int4 json text text json text int4 text float8 float8 float8")
CALLBACK_TYPES = _typed(CALLBACK_COLUMNS, "text text text text text float8 json bytea text")
EVENT_TYPES = _typed(EVENT_COLUMNS, "text text text int4 float8 bytea text")
ATTEMPT_TYPES = _typed(ATTEMPT_COLUMNS, "text text float8 int4 float8 text text")

GET_SETTING = "SELECT value FROM settings WHERE key = $1"
PUT_SETTING = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"

# --- jobs -----------------------------------------------------------------------------------------
INSERT_JOB = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 17))})"
INSERT_JOBS = bulk_insert("jobs", JOB_TYPES)
_JOB_UPDATE = _typed(f"{JOB_UPDATE_COLUMNS}, id", "text text text int4 json text text text int4 float8 float8 text")
_update_source, _ = _unnest(_JOB_UPDATE)
# The values of ``rows.job_update_values``, one array per column.
UPDATE_JOBS = (
    "UPDATE jobs SET upstream_id = u.upstream_id, correlation_key = u.correlation_key, status = u.status, "
    "progress = u.progress, image_urls = u.image_urls::json, error = u.error, action = u.action, "
    "upstream_callback_id = u.upstream_callback_id, sequence = u.sequence, updated_at = u.updated_at, "
    "last_seen_at = u.last_seen_at "
    f"FROM {_update_source} WHERE jobs.id = u.id"
)
# Jobs as the API shows them: with the body of the callback applied last (the raw upstream snapshot).
JOBS_WITH_UPSTREAM = (
    f"SELECT {prefixed(JOB_COLUMNS, 'j')}, u.body FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id"
)
GET_JOB = f"{JOBS_WITH_UPSTREAM} WHERE j.id = $1"
JOBS_BY_IDS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[])"
JOB_BY_UPSTREAM = "SELECT id FROM jobs WHERE provider = $1 AND upstream_id = $2"
# The candidate jobs of an ingest batch, locked in id order (so concurrent batches never deadlock):
# by (provider, upstream id), and by correlation key as a job id or as an unbound job's key. A
# locked row is returned as it is after any concurrent change it waited for.
LOCK_JOBS_FOR_INGEST = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ("
    "  SELECT j.id FROM jobs j JOIN unnest($1::text[], $2::text[]) AS k(provider, upstream_id)"
    "    ON j.provider = k.provider AND j.upstream_id = k.upstream_id"
    "  UNION SELECT j.id FROM jobs j WHERE j.id = ANY($3::text[])"
    "  UNION SELECT j.id FROM jobs j WHERE j.correlation_key = ANY($3::text[]) AND j.upstream_id IS NULL"
    ") ORDER BY id FOR UPDATE"
)
LOCK_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
LOCK_JOBS_OF_PENDING = (
    "SELECT id FROM jobs WHERE id IN (SELECT job_id FROM deliveries WHERE subscription_id = $1 "
    "AND status = 'pending') ORDER BY id FOR UPDATE"
)

# --- callbacks and events -----------------------------------------------------------------------
INSERT_CALLBACKS = bulk_insert("callbacks", CALLBACK_TYPES)
JOB_CALLBACKS = f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE job_id = $1 ORDER BY id DESC LIMIT $2"
INSERT_EVENTS = bulk_insert("events", EVENT_TYPES)
# Events with the body of their callback, which the payload carries as data.upstream.
_EVENTS = f"SELECT {prefixed(EVENT_COLUMNS, 'e')}, u.body FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id"
JOB_EVENTS = f"{_EVENTS} WHERE e.job_id = $1 ORDER BY e.sequence DESC LIMIT $2"
# The event feed, in the order of the inserting transactions' ids, holding back every event of a
# transaction not older than the oldest one still in flight: anything that commits later sorts
# after what a follower has read (migration 0004 says why).
FEED_EVENTS = (
    f"SELECT {prefixed(EVENT_COLUMNS, 'e')}, u.body, e.xact::text "
    "FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id"
)
# Transactions in flight are the whole server's, and the other databases' need not hold this one's
# feed back: FEED_ELSEWHERE, read first, lists the (32-bit) ids of those running in other databases;
# FEED_SETTLED's snapshot, taken after, leaves them out. One that begins in between cannot matter:
# its id is larger than any event's committed before the read. One it cannot place (no privilege to
# see other users' sessions, a prepared transaction) counts, so the error is only ever a lag.
FEED_ELSEWHERE = (
    "SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') FROM pg_stat_activity "
    "WHERE datname <> current_database() AND backend_xid IS NOT NULL"
)
FEED_SETTLED = (
    "e.xact < (SELECT coalesce(min(x.xid), pg_snapshot_xmax(pg_current_snapshot())) "
    "FROM pg_snapshot_xip(pg_current_snapshot()) AS x(xid) "
    "WHERE x.xid::text::bigint % 4294967296 <> ALL ($1::bigint[]))"
)
FEED_AFTER = "(e.xact, e.id) > (${}::text::xid8, ${})"
FEED_ORDER = "ORDER BY e.xact, e.id"
EVENTS_FOR_REPLAY = f"{_EVENTS} WHERE e.created_at >= $1 AND e.created_at < $2 ORDER BY e.created_at, e.id"

# --- subscriptions --------------------------------------------------------------------------------
INSERT_SUBSCRIPTION = (
    f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 15))})"
)
GET_SUBSCRIPTION = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
LOCK_SUBSCRIPTION = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1 FOR UPDATE"
# Fan-out reads the subscriptions in the ingest transaction: the general ones, and the one-off
# subscriptions of the batch's jobs (there may be one per job ever registered).
SUBSCRIPTIONS_FOR_FANOUT = (
    f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE enabled AND job_id IS NULL "
    f"UNION ALL SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE enabled AND job_id = ANY($1::text[])"
)
SAVE_SUBSCRIPTION = (
    "UPDATE subscriptions SET url = $1, event_types = $2, filter = $3, description = $4, secrets = $5, "
    "enabled = $6, disabled_reason = $7, updated_at = $8, failing_since = $9, throttled_until = $10 WHERE id = $11"
)
DELETE_SUBSCRIPTION = "DELETE FROM subscriptions WHERE id = $1"
DELETE_SUBSCRIPTION_ATTEMPTS = (
    "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription_id = $1)"
)
DELETE_SUBSCRIPTION_DELIVERIES = "DELETE FROM deliveries WHERE subscription_id = $1"
# Health after a batch of attempts with failures (successes are hookline_complete's): lock the rows
# in id order, then write what Python computed from them.
LOCK_SUBSCRIPTION_HEALTH = (
    "SELECT id, failing_since, throttled_until, enabled FROM subscriptions WHERE id = ANY($1::text[]) "
    "ORDER BY id FOR UPDATE"
)
SAVE_HEALTH = (
    "UPDATE subscriptions SET last_success_at = COALESCE(u.success_at, subscriptions.last_success_at), "
    "failing_since = u.failing_since, throttled_until = u.throttled_until, "
    "enabled = subscriptions.enabled AND u.disable_reason IS NULL, "
    "disabled_reason = COALESCE(u.disable_reason, subscriptions.disabled_reason), "
    "updated_at = CASE WHEN u.disable_reason IS NULL THEN subscriptions.updated_at ELSE u.now END "
    "FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::text[], $6::float8[]) "
    "AS u(id, success_at, failing_since, throttled_until, disable_reason, now) WHERE subscriptions.id = u.id"
)

# --- deliveries -----------------------------------------------------------------------------------
# Rows go in plan order (``ORDER BY ord``), so ``n`` follows the order of each chain.
INSERT_DELIVERIES = (
    "INSERT INTO deliveries (id, event_id, subscription_id, job_id, event_type, sequence, status, attempts, "
    "next_attempt_at, created_at, updated_at) "
    "SELECT u.id, u.event_id, u.subscription_id, u.job_id, u.event_type, u.sequence, 'pending', 0, "
    "u.next_attempt_at, $8, $8 "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::float8[]) "
    "WITH ORDINALITY AS u(id, event_id, subscription_id, job_id, event_type, sequence, next_attempt_at, ord) "
    "ORDER BY u.ord"
)
OPEN_CHAINS = (
    "SELECT DISTINCT subscription_id, job_id FROM deliveries WHERE status = 'pending' AND job_id = ANY($1::text[])"
)
OPEN_CHAINS_OF_SUBSCRIPTION = "SELECT DISTINCT job_id FROM deliveries WHERE status = 'pending' AND subscription_id = $1"
CLAIM = "SELECT * FROM hookline_claim($1, $2, $3, $4, $5)"
RELEASE = "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1 AND id = ANY($2::text[])"
COMPLETE = f"SELECT * FROM hookline_complete({', '.join(f'${i}' for i in range(1, 19))})"
PAUSE_SUBSCRIPTIONS = (
    "UPDATE deliveries SET next_attempt_at = NULL WHERE subscription_id = ANY($1::text[]) AND status = 'pending'"
)
RESUME_SUBSCRIPTION = (
    "UPDATE deliveries SET next_attempt_at = $1 WHERE id IN ("
    "  SELECT DISTINCT ON (job_id) id FROM deliveries WHERE subscription_id = $2 AND status = 'pending' "
    "  ORDER BY job_id, n)"
)
GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"
DELIVERY_STATE = "SELECT status, lease_until, subscription_id FROM deliveries WHERE id = $1 FOR UPDATE"
RETRY_DELIVERY = (
    "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, updated_at = $1, lease_until = NULL, "
    "lease_owner = NULL WHERE id = $2"
)
DELIVERY_ATTEMPTS = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 ORDER BY id"
BACKLOG = (
    "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'), "
    "(SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'), "
    "(SELECT count(*) FROM deliveries WHERE status = 'dead')"
)

# --- dashboard sessions ---------------------------------------------------------------------------
REVOKE_SESSION = "INSERT INTO revoked_sessions (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING"
FORGET_EXPIRED_SESSIONS = "DELETE FROM revoked_sessions WHERE expires_at < $1"
SESSION_REVOKED = "SELECT 1 FROM revoked_sessions WHERE nonce = $1"
