"""Named SQL of the upstream work queues (schema 2) for the PostgreSQL backend."""

from __future__ import annotations

from hookline.store.rows import JOB_COLUMNS, prefixed

_J = prefixed(JOB_COLUMNS, "j")
_OPEN = "('queued', 'submitted', 'in_progress')"  # the non-terminal statuses

# Claims of submissions count each channel's running jobs, then lease: one claim at a time across
# every process (a transaction lock), or two could both see "one slot left".
SUBMISSION_CLAIM_LOCK = 0x686C5F7375626D69  # "hl_submi"

# --- submissions ----------------------------------------------------------------------------------
SUBMISSION_COLUMNS = (
    "job_id, provider, channel, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at"
)
INSERT_SUBMISSION = (
    "INSERT INTO submissions (job_id, provider, channel, request, state, attempts, next_attempt_at, "
    "created_at, updated_at) VALUES ($1, $2, $3, $4::json, 'pending', 0, $5, $5, $5)"
)
GET_SUBMISSION = f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE job_id = $1"
# A channel's running jobs: sent and not yet terminal, or being sent right now.
RUNNING_PER_CHANNEL = (
    "SELECT s.channel, count(*) FROM jobs j JOIN submissions s ON s.job_id = j.id "
    f"WHERE j.status IN {_OPEN} AND s.channel IS NOT NULL "
    "AND (s.state = 'sent' OR (s.state = 'pending' AND s.lease_until > $1)) GROUP BY s.channel"
)
DUE_SUBMISSIONS = (
    "SELECT s.job_id, s.provider, s.channel, s.request::text, s.attempts, s.created_at "
    "FROM submissions s JOIN jobs j ON j.id = s.job_id "
    "WHERE s.state = 'pending' AND s.next_attempt_at <= $1 AND (s.lease_until IS NULL OR s.lease_until <= $1) "
    f"AND j.status IN {_OPEN} AND (s.channel IS NULL OR s.channel <> ALL ($2::text[])) "
    "ORDER BY s.next_attempt_at, s.job_id LIMIT $3"
)
LEASE_SUBMISSIONS = (
    "UPDATE submissions SET lease_until = $1, lease_owner = $2, attempts = attempts + 1, updated_at = $3 "
    "WHERE job_id = ANY ($4::text[])"
)
HOLD_SUBMISSION = (
    "UPDATE submissions SET next_attempt_at = $1, last_error = $2, updated_at = $3, lease_until = NULL, "
    "lease_owner = NULL WHERE job_id = $4 AND lease_owner = $5 AND state = 'pending'"
)
FINISH_SUBMISSION = (
    "UPDATE submissions SET state = $1, last_error = $2, updated_at = $3, sent_at = $4, next_attempt_at = NULL, "
    "lease_until = NULL, lease_owner = NULL WHERE job_id = $5"
)

# --- polls ----------------------------------------------------------------------------------------
# $1 providers, $2 quiet since, $3 now, $4 limit
POLL_CANDIDATES = (
    # the job with its last upstream snapshot (a timeout keeps it), then when hookline began watching
    f"SELECT {_J}, u.body, COALESCE(s.sent_at, j.created_at) FROM jobs j "
    "LEFT JOIN callbacks u ON u.id = j.upstream_callback_id "
    "LEFT JOIN submissions s ON s.job_id = j.id LEFT JOIN polls p ON p.job_id = j.id "
    f"WHERE j.status IN {_OPEN} AND j.provider = ANY ($1::text[]) "
    "AND (s.job_id IS NULL OR s.state = 'sent') "
    "AND COALESCE(j.last_seen_at, j.created_at) <= $2 "
    "AND (p.job_id IS NULL OR (p.next_poll_at <= $3 AND (p.lease_until IS NULL OR p.lease_until <= $3))) "
    "ORDER BY COALESCE(j.last_seen_at, j.created_at), j.id LIMIT $4"
)
# Win the poll lease of each candidate, or not: another process may have won it since the
# candidates were read; only the rows returned were won.
LEASE_POLLS = (
    "INSERT INTO polls (job_id, next_poll_at, lease_until, lease_owner, polls, last_polled_at) "
    "SELECT u.job_id, $2, $3, $4, 1, $1 FROM unnest($5::text[]) AS u(job_id) "
    "ON CONFLICT (job_id) DO UPDATE SET next_poll_at = excluded.next_poll_at, lease_until = excluded.lease_until, "
    "lease_owner = excluded.lease_owner, polls = polls.polls + 1, last_polled_at = excluded.last_polled_at "
    "WHERE polls.next_poll_at <= $1 AND (polls.lease_until IS NULL OR polls.lease_until <= $1) "
    "RETURNING job_id"
)
RELEASE_POLLS = (
    "UPDATE polls SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1 AND job_id = ANY ($2::text[])"
)

# --- archives -------------------------------------------------------------------------------------
ARCHIVE_COLUMNS = "job_id, state, attempts, next_attempt_at, last_error, images::text, created_at, updated_at"
QUEUE_ARCHIVES = (
    "INSERT INTO archives (job_id, state, attempts, next_attempt_at, images, created_at, updated_at) "
    "SELECT u.job_id, 'pending', 0, $2, '[]', $2, $2 FROM unnest($1::text[]) AS u(job_id) "
    "ON CONFLICT (job_id) DO NOTHING"
)
GET_ARCHIVE = f"SELECT {ARCHIVE_COLUMNS} FROM archives WHERE job_id = $1"
CLAIM_ARCHIVES = (
    "WITH due AS ("
    "  SELECT a.job_id FROM archives a WHERE a.state = 'pending' AND a.next_attempt_at <= $1 "
    "  AND (a.lease_until IS NULL OR a.lease_until <= $1) ORDER BY a.next_attempt_at, a.job_id LIMIT $2 "
    "  FOR UPDATE SKIP LOCKED"
    ") UPDATE archives a SET lease_until = $3, lease_owner = $4, attempts = a.attempts + 1, updated_at = $1 "
    "FROM due, jobs j WHERE a.job_id = due.job_id AND j.id = a.job_id "
    "RETURNING a.job_id, j.image_urls::text, a.images::text, a.attempts - 1"
)
ARCHIVE_LEASED_BY = "SELECT 1 FROM archives WHERE job_id = $1 AND lease_owner = $2 AND state = 'pending' FOR UPDATE"
# The job, locked, with the body of its last applied callback (the next event carries it).
LOCK_JOB_WITH_UPSTREAM = (
    f"SELECT {_J}, u.body FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id "
    "WHERE j.id = $1 FOR UPDATE OF j"
)
COMPLETE_ARCHIVE = (
    "UPDATE archives SET state = 'archived', images = $1::json, last_error = NULL, next_attempt_at = NULL, "
    "lease_until = NULL, lease_owner = NULL, updated_at = $2 WHERE job_id = $3"
)
FAIL_ARCHIVE = (
    "UPDATE archives SET state = CASE WHEN $1::float8 IS NULL THEN 'failed' ELSE 'pending' END, "
    "next_attempt_at = $1, last_error = $2, images = $3::json, lease_until = NULL, lease_owner = NULL, "
    "updated_at = $4 WHERE job_id = $5 AND lease_owner = $6 AND state = 'pending'"
)
JOB_SEQUENCE = "UPDATE jobs SET sequence = $1, updated_at = $2 WHERE id = $3"
