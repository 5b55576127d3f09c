"""Named SQL for the SQLite backend. Column lists come from ``hookline.store.rows``."""

from __future__ import annotations

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

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -32000",
)

CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
)
SCHEMA_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"


def in_list(statement: str, count: int) -> str:
    """``statement`` with its ``{in}`` replaced by ``count`` placeholders."""
    return statement.replace("{in}", ", ".join("?" * count))


GET_SETTING = "SELECT value FROM settings WHERE key = ?"
PUT_SETTING = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"

# --- jobs -----------------------------------------------------------------------------------------
_JOB_PLACEHOLDERS = ", ".join("?" * 16)
INSERT_JOB = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({_JOB_PLACEHOLDERS})"
UPDATE_JOB = f"UPDATE jobs SET {', '.join(c.strip() + ' = ?' for c in JOB_UPDATE_COLUMNS.split(','))} WHERE id = ?"
# Jobs as the API shows them: with the body of the callback applied last (the raw upstream snapshot).
JOBS_WITH_UPSTREAM = (
    f"SELECT {prefixed(JOB_COLUMNS, 'j')}, u.body FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id"
)
GET_JOB = f"{JOBS_WITH_UPSTREAM} WHERE j.id = ?"
# ``{in}`` becomes one ``?`` per value (see ``in_list``): ids are bound as they are, never re-encoded.
JOBS_BY_IDS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({{in}})"
JOBS_BY_UPSTREAM = f"SELECT {JOB_COLUMNS} FROM jobs WHERE provider = ? AND upstream_id IN ({{in}})"
JOBS_UNBOUND_BY_KEY = f"SELECT {JOB_COLUMNS} FROM jobs WHERE correlation_key IN ({{in}}) AND upstream_id IS NULL"
JOB_BY_UPSTREAM = "SELECT id FROM jobs WHERE provider = ? AND upstream_id = ?"

# --- callbacks and events -----------------------------------------------------------------------
INSERT_CALLBACK = f"INSERT INTO callbacks ({CALLBACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
JOB_CALLBACKS = f"SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE job_id = ? ORDER BY id DESC LIMIT ?"
INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
# Events with the body of their callback, which the payload carries as data.upstream.
_EVENTS = f"SELECT {prefixed(EVENT_COLUMNS, 'e')}, u.body FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id"
JOB_EVENTS = f"{_EVENTS} WHERE e.job_id = ? ORDER BY e.sequence DESC LIMIT ?"
EVENTS_FOR_REPLAY = f"{_EVENTS} WHERE e.created_at >= ? AND e.created_at < ? ORDER BY e.created_at, e.id"
# The event feed, in commit order: one writer commits at a time and rowids only grow, so a rowid is
# an event's place in commit order. A cursor names its event, whose rowid is looked up again (a
# VACUUM may renumber rowids); the rowid it carries is the fallback for an event since deleted.
FEED_EVENTS = (
    f"SELECT {prefixed(EVENT_COLUMNS, 'e')}, u.body, e.rowid "
    "FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id"
)
FEED_AFTER = "e.rowid > coalesce((SELECT rowid FROM events WHERE id = ?), ?)"

# --- subscriptions --------------------------------------------------------------------------------
INSERT_SUBSCRIPTION = f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({', '.join('?' * 14)})"
GET_SUBSCRIPTION = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"
ENABLED_SUBSCRIPTIONS = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE enabled = 1"
SAVE_SUBSCRIPTION = (
    "UPDATE subscriptions SET url = ?, event_types = ?, filter = ?, description = ?, secrets = ?, enabled = ?, "
    "disabled_reason = ?, updated_at = ?, failing_since = ?, throttled_until = ? WHERE id = ?"
)
DELETE_SUBSCRIPTION = "DELETE FROM subscriptions WHERE id = ?"
DELETE_SUBSCRIPTION_ATTEMPTS = (
    "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription_id = ?)"
)
DELETE_SUBSCRIPTION_DELIVERIES = "DELETE FROM deliveries WHERE subscription_id = ?"
SUBSCRIPTION_SUCCEEDED = "UPDATE subscriptions SET last_success_at = ?, failing_since = NULL WHERE id = ?"
SUBSCRIPTION_FAILED = "UPDATE subscriptions SET failing_since = COALESCE(failing_since, ?) WHERE id = ?"
SUBSCRIPTION_THROTTLE = "UPDATE subscriptions SET throttled_until = MAX(COALESCE(throttled_until, 0), ?) WHERE id = ?"
DISABLE_SUBSCRIPTION = (
    "UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1"
)
DISABLE_IF_FAILING_SINCE = (
    "UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? "
    "WHERE id = ? AND enabled = 1 AND failing_since IS NOT NULL AND failing_since <= ?"
)
GET_FAILING_SINCE = "SELECT failing_since FROM subscriptions WHERE id = ?"

# --- deliveries -----------------------------------------------------------------------------------
INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, event_id, subscription_id, job_id, event_type, sequence, status, attempts, "
    "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
)
OPEN_CHAINS = (
    "SELECT DISTINCT subscription_id, job_id FROM deliveries INDEXED BY deliveries_chain "
    "WHERE status = 'pending' AND job_id IN ({in})"
)
OPEN_CHAINS_OF_SUBSCRIPTION = "SELECT DISTINCT job_id FROM deliveries WHERE status = 'pending' AND subscription_id = ?"
CLAIM_CANDIDATES = (
    "SELECT d.n, d.id, d.event_id, d.subscription_id, d.job_id, d.attempts, s.url, s.secrets, e.head, u.body "
    # Without INDEXED BY, SQLite (no statistics) walks the status index and sorts every pending
    # delivery on every claim; the partial index returns the earliest due ones already in order.
    "FROM deliveries d INDEXED BY deliveries_due "
    "JOIN subscriptions s ON s.id = d.subscription_id JOIN events e ON e.id = d.event_id "
    "LEFT JOIN callbacks u ON u.id = e.callback_id "
    "WHERE d.status = 'pending' AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= ? "
    "AND d.id NOT IN (SELECT value FROM json_each(?)) "
    "AND s.enabled = 1 AND (s.throttled_until IS NULL OR s.throttled_until <= ?) "
    "AND d.subscription_id NOT IN (SELECT value FROM json_each(?)) "
    "ORDER BY d.next_attempt_at LIMIT ?"
)
INSERT_ATTEMPT = f"INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
# Chains (subscription, job) with a delivery waiting behind the head.
WAITING_CHAINS = (
    "SELECT DISTINCT subscription_id, job_id FROM deliveries INDEXED BY deliveries_chain "
    "WHERE status = 'pending' AND next_attempt_at IS NULL AND job_id IN ({in})"
)
FINISH_ATTEMPT = (
    "UPDATE deliveries SET status = ?, attempts = attempts + 1, "
    "next_attempt_at = CASE WHEN (SELECT enabled FROM subscriptions WHERE id = deliveries.subscription_id) = 1 "
    "THEN ? ELSE NULL END, "
    "last_status_code = ?, last_error = ?, updated_at = ?, delivered_at = COALESCE(?, delivered_at) WHERE id = ?"
)
PROMOTE_NEXT = (
    "UPDATE deliveries SET next_attempt_at = ?1 WHERE n = ("
    "  SELECT n FROM deliveries WHERE subscription_id = ?2 AND job_id = ?3 AND status = 'pending' "
    "  AND next_attempt_at IS NULL ORDER BY n LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE subscription_id = ?2 AND job_id = ?3 AND status = 'pending' "
    "  AND next_attempt_at IS NOT NULL) "
    "AND EXISTS (SELECT 1 FROM subscriptions WHERE id = ?2 AND enabled = 1)"
)
PAUSE_SUBSCRIPTION = "UPDATE deliveries SET next_attempt_at = NULL WHERE subscription_id = ? AND status = 'pending'"
RESUME_SUBSCRIPTION = (
    "UPDATE deliveries SET next_attempt_at = ? WHERE n IN ("
    "  SELECT MIN(n) FROM deliveries WHERE subscription_id = ? AND status = 'pending' GROUP BY job_id)"
)
GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?"
DELIVERY_STATE = "SELECT status, subscription_id FROM deliveries WHERE id = ?"
RETRY_DELIVERY = "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?"
DELIVERY_ATTEMPTS = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ? ORDER BY id"
BACKLOG = (
    "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'",
    "SELECT COUNT(*) FROM deliveries WHERE status = 'dead'",
)

# --- dashboard sessions ---------------------------------------------------------------------------
REVOKE_SESSION = "INSERT INTO revoked_sessions (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING"
FORGET_EXPIRED_SESSIONS = "DELETE FROM revoked_sessions WHERE expires_at < ?"
SESSION_REVOKED = "SELECT 1 FROM revoked_sessions WHERE nonce = ?"
