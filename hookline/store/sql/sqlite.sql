-- SQLite's forms of what truly differs: index hints the planner needs without statistics, JSON
-- arrays for pairs of values, and the dispatchers' statements (its delivery leases live in memory,
-- see hookline/store/sqlite/claims.py).

-- name: jobs_for_ingest
-- The candidate jobs of an ingest batch: by (provider, upstream id) pairs ([[provider, id], ...]),
-- and by correlation key as a job id or as an unbound job's key (a job may come twice).
SELECT j.* FROM json_each(:pairs) JOIN jobs j ON j.provider = json_each.value ->> 0 AND j.upstream_id = json_each.value ->> 1
UNION ALL SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(:keys))
UNION ALL SELECT * FROM jobs WHERE correlation_key IN (SELECT value FROM json_each(:keys)) AND upstream_id IS NULL

-- name: open_chains
SELECT DISTINCT subscription_id, job_id FROM deliveries INDEXED BY deliveries_chain
 WHERE status = 'pending' AND job_id IN (SELECT value FROM json_each(:job_ids))

-- name: lease_polls
INSERT INTO polls (job_id, next_poll_at, lease_until, lease_owner, polls, last_polled_at)
SELECT value, :next_poll_at, :lease_until, :owner, 1, :now FROM json_each(:job_ids) WHERE true
    ON CONFLICT (job_id) DO UPDATE SET next_poll_at = excluded.next_poll_at, lease_until = excluded.lease_until,
       lease_owner = excluded.lease_owner, polls = polls.polls + 1, last_polled_at = excluded.last_polled_at
 WHERE polls.next_poll_at <= :now AND (polls.lease_until IS NULL OR polls.lease_until <= :now)
RETURNING job_id

-- name: enabled_subscriptions
SELECT * FROM subscriptions WHERE enabled

-- dispatchers (see hookline/store/sqlite/claims.py) ---------------------------------------------

-- name: claim_candidates
-- Without INDEXED BY, SQLite (no statistics) walks the status index and sorts every pending
-- delivery on every claim; the partial index returns the earliest due ones already in order.
SELECT d.id, d.event_id, d.subscription_id, d.job_id, d.attempts, s.url, s.secrets, e.head, u.body
  FROM deliveries d INDEXED BY deliveries_due
  JOIN subscriptions s ON s.id = d.subscription_id JOIN events e ON e.id = d.event_id
  LEFT JOIN callbacks u ON u.id = e.callback_id
 WHERE d.status = 'pending' AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= :now
   AND d.id NOT IN (SELECT value FROM json_each(:leased))
   AND s.enabled AND (s.throttled_until IS NULL OR s.throttled_until <= :now)
   AND d.subscription_id NOT IN (SELECT value FROM json_each(:saturated))
 ORDER BY d.next_attempt_at LIMIT :limit

-- name: insert_attempts
-- Not for a delivery erased (with its job) while it was being sent: no row without its delivery.
INSERT INTO attempts (id, delivery_id, attempted_at, status_code, latency_ms, error, response_body)
SELECT :id, :delivery_id, :attempted_at, :status_code, :latency_ms, :error, :response_body
 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = :delivery_id)

-- name: finish_attempts
UPDATE deliveries SET status = :status, attempts = attempts + 1,
       next_attempt_at = CASE WHEN (SELECT enabled AND NOT paused FROM subscriptions WHERE id = deliveries.subscription_id)
                         THEN :next_attempt_at ELSE NULL END,
       last_status_code = :status_code, last_error = :error, updated_at = :now,
       delivered_at = COALESCE(:delivered_at, delivered_at)
 WHERE id = :id

-- name: waiting_chains
-- Chains (subscription, job) with a delivery waiting behind the head.
SELECT DISTINCT subscription_id, job_id FROM deliveries INDEXED BY deliveries_chain
 WHERE status = 'pending' AND next_attempt_at IS NULL AND job_id IN (SELECT value FROM json_each(:job_ids))

-- name: promote_next
UPDATE deliveries SET next_attempt_at = :now WHERE n = (
    SELECT n FROM deliveries WHERE subscription_id = :subscription_id AND job_id = :job_id AND status = 'pending'
       AND next_attempt_at IS NULL ORDER BY n LIMIT 1)
   AND NOT EXISTS (SELECT 1 FROM deliveries WHERE subscription_id = :subscription_id AND job_id = :job_id
                      AND status = 'pending' AND next_attempt_at IS NOT NULL)
   AND EXISTS (SELECT 1 FROM subscriptions WHERE id = :subscription_id AND enabled AND NOT paused)

-- name: save_health
-- One row at a time (PostgreSQL's is one statement over arrays).
UPDATE subscriptions SET last_success_at = COALESCE(:success_at, last_success_at),
       failing_since = :failing_since, throttled_until = :throttled_until,
       enabled = enabled AND :disable_reason IS NULL,
       disabled_reason = COALESCE(:disable_reason, disabled_reason),
       updated_at = CASE WHEN :disable_reason IS NULL THEN updated_at ELSE :now END,
       consecutive_failures = :consecutive_failures
 WHERE id = :id

-- the event feed --------------------------------------------------------------------------------

-- name: feed_elsewhere
-- Nothing: one writer commits at a time (see feed_events); PostgreSQL's says why it has one.
SELECT '[]' AS xids

-- name: feed_events
-- Commit order is rowid order: one writer commits at a time and rowids only grow. A cursor names its
-- event, whose rowid is looked up again (a VACUUM may renumber rowids); the rowid it carries is the
-- fallback for an event since deleted.
SELECT e.*, u.body, e.rowid AS position FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id
 WHERE e.rowid > coalesce((SELECT rowid FROM events WHERE id = :after_id), :after_position)
   AND (:type IS NULL OR e.type = :type) AND (:job_id IS NULL OR e.job_id = :job_id)
 ORDER BY e.rowid LIMIT :limit

-- schema and start-up ---------------------------------------------------------------------------

-- name: create_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)

-- name: schema_version
SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :now)

-- name: release_stale_leases
-- Leases a killed process left behind (one process owns a SQLite file: at start-up every lease is stale).
UPDATE submissions SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL;
UPDATE polls SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL;
UPDATE archives SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL

-- ==== retention and erasure (issue 14; hookline/store/retention.py) ====

-- name: archive_images_in_use
SELECT images FROM archives a WHERE EXISTS (SELECT 1 FROM json_each(:patterns) p WHERE a.images LIKE p.value)

-- name: prunable_jobs
-- Without INDEXED BY, SQLite (no statistics) walks every terminal job by status and sorts them;
-- the partial index returns the oldest finished ones already in order.
SELECT j.id FROM jobs j INDEXED BY jobs_finished
 WHERE j.status IN ('succeeded', 'failed', 'moderated', 'cancelled') AND j.updated_at < :cutoff
   AND COALESCE(j.last_seen_at, 0) < :cutoff
   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = j.id AND d.status = 'pending')
   AND NOT EXISTS (SELECT 1 FROM archives a WHERE a.job_id = j.id AND a.state = 'pending' AND a.updated_at >= :cutoff)
 ORDER BY j.updated_at LIMIT :limit

-- name: pending_deliveries_of_jobs
-- By job, not by status: the status index would walk every pending delivery.
SELECT id FROM deliveries INDEXED BY deliveries_job
 WHERE job_id IN (SELECT value FROM json_each(:ids)) AND status = 'pending'
