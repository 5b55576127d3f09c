"""Named SQL of the upstream work queues (schema 2) for the SQLite backend."""

from __future__ import annotations

from hookline.store.rows import JOB_COLUMNS

SCHEMA = 2  # the migration that made these tables

_J = ", ".join("j." + c.strip() for c in JOB_COLUMNS.split(","))
_OPEN = "('queued', 'submitted', 'in_progress')"  # the non-terminal statuses

# --- submissions ----------------------------------------------------------------------------------
SUBMISSION_COLUMNS = (
    "job_id, provider, channel, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at"
)
INSERT_SUBMISSION = (
    "INSERT INTO submissions (job_id, provider, channel, request, state, attempts, next_attempt_at, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
)
GET_SUBMISSION = f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE job_id = ?"
# A channel's running jobs: sent and not yet terminal, or being sent right now.
RUNNING_PER_CHANNEL = (
    "SELECT s.channel, COUNT(*) FROM jobs j JOIN submissions s ON s.job_id = j.id "
    f"WHERE j.status IN {_OPEN} AND s.channel IS NOT NULL "
    "AND (s.state = 'sent' OR (s.state = 'pending' AND s.lease_until > ?)) GROUP BY s.channel"
)
DUE_SUBMISSIONS = (
    "SELECT s.job_id, s.provider, s.channel, s.request, s.attempts, s.created_at "
    "FROM submissions s JOIN jobs j ON j.id = s.job_id "
    "WHERE s.state = 'pending' AND s.next_attempt_at <= ? AND (s.lease_until IS NULL OR s.lease_until <= ?) "
    f"AND j.status IN {_OPEN} "
    "AND (s.channel IS NULL OR s.channel NOT IN (SELECT value FROM json_each(?))) "
    "ORDER BY s.next_attempt_at, s.job_id LIMIT ?"
)
LEASE_SUBMISSIONS = (
    "UPDATE submissions SET lease_until = ?, lease_owner = ?, attempts = attempts + 1, updated_at = ? "
    "WHERE job_id IN (SELECT value FROM json_each(?))"
)
HOLD_SUBMISSION = (
    "UPDATE submissions SET next_attempt_at = ?, last_error = ?, updated_at = ?, lease_until = NULL, "
    "lease_owner = NULL WHERE job_id = ? AND lease_owner = ? AND state = 'pending'"
)
FINISH_SUBMISSION = (
    "UPDATE submissions SET state = ?, last_error = ?, updated_at = ?, sent_at = ?, next_attempt_at = NULL, "
    "lease_until = NULL, lease_owner = NULL WHERE job_id = ?"
)

# --- polls ----------------------------------------------------------------------------------------
# ?1 providers (JSON list), ?2 quiet since, ?3 now, ?4 limit
POLL_CANDIDATES = (
    # the job with its last upstream snapshot (a timeout keeps it), then when hookline began watching
    f"SELECT {_J}, u.body, COALESCE(s.sent_at, j.created_at) FROM jobs j "
    "LEFT JOIN callbacks u ON u.id = j.upstream_callback_id "
    "LEFT JOIN submissions s ON s.job_id = j.id LEFT JOIN polls p ON p.job_id = j.id "
    f"WHERE j.status IN {_OPEN} AND j.provider IN (SELECT value FROM json_each(?1)) "
    "AND (s.job_id IS NULL OR s.state = 'sent') "
    "AND COALESCE(j.last_seen_at, j.created_at) <= ?2 "
    "AND (p.job_id IS NULL OR (p.next_poll_at <= ?3 AND (p.lease_until IS NULL OR p.lease_until <= ?3))) "
    "ORDER BY COALESCE(j.last_seen_at, j.created_at), j.id LIMIT ?4"
)
LEASE_POLL = (
    "INSERT INTO polls (job_id, next_poll_at, lease_until, lease_owner, polls, last_polled_at) "
    "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (job_id) DO UPDATE SET next_poll_at = excluded.next_poll_at, "
    "lease_until = excluded.lease_until, lease_owner = excluded.lease_owner, polls = polls.polls + 1, "
    "last_polled_at = excluded.last_polled_at"
)
RELEASE_POLLS = (
    "UPDATE polls SET lease_until = NULL, lease_owner = NULL "
    "WHERE lease_owner = ? AND job_id IN (SELECT value FROM json_each(?))"
)

# --- archives -------------------------------------------------------------------------------------
ARCHIVE_COLUMNS = "job_id, state, attempts, next_attempt_at, last_error, images, created_at, updated_at"
QUEUE_ARCHIVE = (
    "INSERT INTO archives (job_id, state, attempts, next_attempt_at, images, created_at, updated_at) "
    "VALUES (?, 'pending', 0, ?, '[]', ?, ?) ON CONFLICT (job_id) DO NOTHING"
)
GET_ARCHIVE = f"SELECT {ARCHIVE_COLUMNS} FROM archives WHERE job_id = ?"
DUE_ARCHIVES = (
    "SELECT a.job_id, j.image_urls, a.images, a.attempts FROM archives a JOIN jobs j ON j.id = a.job_id "
    "WHERE a.state = 'pending' AND a.next_attempt_at <= ? AND (a.lease_until IS NULL OR a.lease_until <= ?) "
    "ORDER BY a.next_attempt_at, a.job_id LIMIT ?"
)
LEASE_ARCHIVES = (
    "UPDATE archives SET lease_until = ?, lease_owner = ?, attempts = attempts + 1, updated_at = ? "
    "WHERE job_id IN (SELECT value FROM json_each(?))"
)
ARCHIVE_LEASED_BY = "SELECT 1 FROM archives WHERE job_id = ? AND lease_owner = ? AND state = 'pending'"
COMPLETE_ARCHIVE = (
    "UPDATE archives SET state = 'archived', images = ?, last_error = NULL, next_attempt_at = NULL, "
    "lease_until = NULL, lease_owner = NULL, updated_at = ? WHERE job_id = ?"
)
FAIL_ARCHIVE = (
    "UPDATE archives SET state = CASE WHEN ?1 IS NULL THEN 'failed' ELSE 'pending' END, next_attempt_at = ?1, "
    "last_error = ?2, images = ?3, lease_until = NULL, lease_owner = NULL, updated_at = ?4 "
    "WHERE job_id = ?5 AND lease_owner = ?6 AND state = 'pending'"
)
JOB_SEQUENCE = "UPDATE jobs SET sequence = ?, updated_at = ? WHERE id = ?"

# Leases a killed process left behind (one process owns a SQLite file, so at start-up every lease is stale).
RELEASE_ALL = (
    "UPDATE submissions SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL",
    "UPDATE polls SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL",
    "UPDATE archives SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL",
)
