-- hookline's statements, written once for both databases (see hookline/store/queries.py).
-- Parameters are named (:job_id). Array membership is written `= ANY(:ids)` / `<> ALL(:ids)` and
-- row locks `FOR UPDATE`: the loader turns them into SQLite's forms. A dialect file overrides a
-- name only where the databases truly differ (bulk writes, index hints, locks, claims).

-- name: get_setting
SELECT value FROM settings WHERE key = :key

-- name: put_setting
INSERT INTO settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING

-- jobs ------------------------------------------------------------------------------------------

-- name: register_job
-- A job registered ahead of its callbacks; nothing when another one took its upstream id first.
INSERT INTO jobs (id, provider, upstream_id, correlation_key, status, progress, image_urls, error, action,
                  metadata, upstream_callback_id, sequence, origin, created_at, updated_at, last_seen_at)
VALUES (:id, :provider, :upstream_id, :correlation_key, :status, :progress, :image_urls, :error, :action,
        :metadata, :upstream_callback_id, :sequence, :origin, :created_at, :updated_at, :last_seen_at)
ON CONFLICT DO NOTHING

-- name: insert_jobs
INSERT INTO jobs (id, provider, upstream_id, correlation_key, status, progress, image_urls, error, action,
                  metadata, upstream_callback_id, sequence, origin, created_at, updated_at, last_seen_at)
VALUES (:id, :provider, :upstream_id, :correlation_key, :status, :progress, :image_urls, :error, :action,
        :metadata, :upstream_callback_id, :sequence, :origin, :created_at, :updated_at, :last_seen_at)

-- name: update_jobs
-- What ingest can change.
UPDATE jobs SET upstream_id = :upstream_id, correlation_key = :correlation_key, status = :status,
       progress = :progress, image_urls = :image_urls, error = :error, action = :action,
       upstream_callback_id = :upstream_callback_id, sequence = :sequence, updated_at = :updated_at,
       last_seen_at = :last_seen_at
 WHERE id = :id

-- name: get_job
-- A job as the API shows it: with the body of the callback applied last (the raw upstream snapshot).
SELECT j.*, u.body AS upstream FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id
 WHERE j.id = :id

-- name: lock_job_with_upstream
-- The job, locked, with the body of its last applied callback (the next event carries it).
SELECT j.*, u.body AS upstream FROM jobs j LEFT JOIN callbacks u ON u.id = j.upstream_callback_id
 WHERE j.id = :id FOR UPDATE OF j

-- name: lock_jobs
SELECT * FROM jobs WHERE id = ANY(:ids) ORDER BY id FOR UPDATE

-- name: job_by_upstream
SELECT id FROM jobs WHERE provider = :provider AND upstream_id = :upstream_id

-- name: job_sequence
UPDATE jobs SET sequence = :sequence, updated_at = :updated_at WHERE id = :id

-- callbacks and events --------------------------------------------------------------------------

-- name: insert_callbacks
INSERT INTO callbacks (id, job_id, provider, source, outcome, received_at, headers, body, error)
VALUES (:id, :job_id, :provider, :source, :outcome, :received_at, :headers, :body, :error)

-- name: job_callbacks
SELECT * FROM callbacks WHERE job_id = :job_id ORDER BY id DESC LIMIT :limit

-- name: insert_events
INSERT INTO events (id, job_id, type, sequence, created_at, head, callback_id)
VALUES (:id, :job_id, :type, :sequence, :created_at, :head, :callback_id)

-- name: job_events
-- Events with the body of their callback, which the payload carries as data.upstream.
SELECT e.*, u.body FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id
 WHERE e.job_id = :job_id ORDER BY e.sequence DESC LIMIT :limit

-- name: events_for_replay
SELECT e.*, u.body FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id
 WHERE e.created_at >= :since AND e.created_at < :until ORDER BY e.created_at, e.id

-- subscriptions ---------------------------------------------------------------------------------

-- name: insert_subscription
INSERT INTO subscriptions (id, url, event_types, filter, description, secrets, enabled, disabled_reason, job_id,
                           created_at, updated_at, failing_since, last_success_at, throttled_until,
                           headers, rate_limit, retry_schedule, paused)
VALUES (:id, :url, :event_types, :filter, :description, :secrets, :enabled, :disabled_reason, :job_id,
        :created_at, :updated_at, :failing_since, :last_success_at, :throttled_until,
        :headers, :rate_limit, :retry_schedule, :paused)

-- name: get_subscription
SELECT * FROM subscriptions WHERE id = :id

-- name: lock_subscription
SELECT * FROM subscriptions WHERE id = :id FOR UPDATE

-- name: subscriptions_for_fanout
-- The general subscriptions, and the one-off subscriptions of these jobs (there may be one per
-- job ever registered).
SELECT * FROM subscriptions WHERE enabled AND job_id IS NULL
UNION ALL SELECT * FROM subscriptions WHERE enabled AND job_id = ANY(:job_ids)

-- name: save_subscription
UPDATE subscriptions SET url = :url, event_types = :event_types, filter = :filter, description = :description,
       secrets = :secrets, enabled = :enabled, disabled_reason = :disabled_reason, updated_at = :updated_at,
       failing_since = :failing_since, throttled_until = :throttled_until,
       headers = :headers, rate_limit = :rate_limit, retry_schedule = :retry_schedule, paused = :paused
 WHERE id = :id

-- name: delete_subscription_attempts
DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription_id = :id)

-- name: delete_subscription_deliveries
DELETE FROM deliveries WHERE subscription_id = :id

-- name: delete_subscription
DELETE FROM subscriptions WHERE id = :id

-- name: pause_subscriptions
UPDATE deliveries SET next_attempt_at = NULL WHERE subscription_id = ANY(:ids) AND status = 'pending'

-- name: resume_subscription
-- The head of each of its chains becomes due (when it is enabled and not paused).
UPDATE deliveries SET next_attempt_at = :now
 WHERE subscription_id = :id AND status = 'pending'
   AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = :id AND s.enabled AND NOT s.paused)
   AND n = (SELECT MIN(m.n) FROM deliveries m WHERE m.subscription_id = deliveries.subscription_id
               AND m.job_id = deliveries.job_id AND m.status = 'pending')

-- deliveries ------------------------------------------------------------------------------------

-- name: insert_deliveries
INSERT INTO deliveries (id, event_id, subscription_id, job_id, event_type, sequence, status, attempts,
                        next_attempt_at, created_at, updated_at)
VALUES (:id, :event_id, :subscription_id, :job_id, :event_type, :sequence, 'pending', 0, :next_attempt_at, :created_at,
        :created_at)

-- name: open_chains
SELECT DISTINCT subscription_id, job_id FROM deliveries WHERE status = 'pending' AND job_id = ANY(:job_ids)

-- name: open_chains_of_subscription
SELECT DISTINCT subscription_id, job_id FROM deliveries WHERE status = 'pending' AND subscription_id = :id

-- name: get_delivery
SELECT * FROM deliveries WHERE id = :id

-- name: delivery_state
SELECT status, subscription_id FROM deliveries WHERE id = :id FOR UPDATE

-- name: retry_delivery
-- Due now, or held while its subscription is paused (resuming sends it).
UPDATE deliveries SET status = 'pending', updated_at = :now,
       next_attempt_at = CASE WHEN (SELECT paused FROM subscriptions s WHERE s.id = deliveries.subscription_id)
                         THEN NULL ELSE :now END
 WHERE id = :id

-- name: delivery_attempts
SELECT * FROM attempts WHERE delivery_id = :id ORDER BY id

-- name: backlog
SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') AS pending,
       (SELECT MIN(created_at) FROM deliveries WHERE status = 'pending') AS oldest,
       (SELECT COUNT(*) FROM deliveries WHERE status = 'dead') AS dead

-- upstream: submissions -------------------------------------------------------------------------

-- name: insert_submission
INSERT INTO submissions (job_id, provider, channel, request, state, attempts, next_attempt_at, created_at, updated_at)
VALUES (:job_id, :provider, :channel, :request, 'pending', 0, :now, :now, :now)

-- name: get_submission
SELECT job_id, provider, channel, state, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at
  FROM submissions WHERE job_id = :job_id

-- name: running_per_channel
-- A channel's running jobs: sent and not yet terminal, or being sent right now.
SELECT s.channel, COUNT(*) AS running FROM jobs j JOIN submissions s ON s.job_id = j.id
 WHERE j.status IN ('queued', 'submitted', 'in_progress') AND s.channel IS NOT NULL
   AND (s.state = 'sent' OR (s.state = 'pending' AND s.lease_until > :now))
 GROUP BY s.channel

-- name: due_submissions
SELECT s.job_id, s.provider, s.channel, s.request, s.attempts, s.created_at
  FROM submissions s JOIN jobs j ON j.id = s.job_id
 WHERE s.state = 'pending' AND s.next_attempt_at <= :now AND (s.lease_until IS NULL OR s.lease_until <= :now)
   AND j.status IN ('queued', 'submitted', 'in_progress')
   AND (s.channel IS NULL OR s.channel <> ALL(:saturated))
 ORDER BY s.next_attempt_at, s.job_id LIMIT :limit

-- name: lease_submissions
UPDATE submissions SET lease_until = :lease_until, lease_owner = :owner, attempts = attempts + 1, updated_at = :now
 WHERE job_id = ANY(:job_ids)

-- name: hold_submission
UPDATE submissions SET next_attempt_at = :next_attempt_at, last_error = :error, updated_at = :now,
       lease_until = NULL, lease_owner = NULL
 WHERE job_id = :job_id AND lease_owner = :owner AND state = 'pending'

-- name: finish_submission
UPDATE submissions SET state = :state, last_error = :error, updated_at = :now, sent_at = :sent_at,
       next_attempt_at = NULL, lease_until = NULL, lease_owner = NULL
 WHERE job_id = :job_id

-- upstream: polls -------------------------------------------------------------------------------

-- name: poll_candidates
-- Open jobs of these providers, quiet since :quiet_since, not leased: each with its last upstream
-- snapshot (a timeout keeps it), then when hookline began watching it.
SELECT j.*, u.body AS upstream, COALESCE(s.sent_at, j.created_at) AS watched_since FROM jobs j
  LEFT JOIN callbacks u ON u.id = j.upstream_callback_id
  LEFT JOIN submissions s ON s.job_id = j.id LEFT JOIN polls p ON p.job_id = j.id
 WHERE j.status IN ('queued', 'submitted', 'in_progress') AND j.provider = ANY(:providers)
   AND (s.job_id IS NULL OR s.state = 'sent')
   AND COALESCE(j.last_seen_at, j.created_at) <= :quiet_since
   AND (p.job_id IS NULL OR (p.next_poll_at <= :now AND (p.lease_until IS NULL OR p.lease_until <= :now)))
 ORDER BY COALESCE(j.last_seen_at, j.created_at), j.id LIMIT :limit

-- name: release_polls
UPDATE polls SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = :owner AND job_id = ANY(:job_ids)

-- upstream: archives ----------------------------------------------------------------------------

-- name: queue_archives
INSERT INTO archives (job_id, state, attempts, next_attempt_at, images, created_at, updated_at)
VALUES (:job_id, 'pending', 0, :now, '[]', :now, :now) ON CONFLICT (job_id) DO NOTHING

-- name: get_archive
SELECT job_id, state, attempts, next_attempt_at, last_error, images, created_at, updated_at
  FROM archives WHERE job_id = :job_id

-- name: claim_archives
UPDATE archives SET lease_until = :lease_until, lease_owner = :owner, attempts = attempts + 1, updated_at = :now
 WHERE job_id IN (SELECT job_id FROM archives WHERE state = 'pending' AND next_attempt_at <= :now
                     AND (lease_until IS NULL OR lease_until <= :now)
                   ORDER BY next_attempt_at, job_id LIMIT :limit FOR UPDATE SKIP LOCKED)
RETURNING job_id, (SELECT image_urls FROM jobs WHERE jobs.id = archives.job_id) AS image_urls, images,
          attempts - 1 AS attempts

-- name: archive_leased_by
SELECT 1 FROM archives WHERE job_id = :job_id AND lease_owner = :owner AND state = 'pending' FOR UPDATE

-- name: complete_archive
UPDATE archives SET state = 'archived', images = :images, last_error = NULL, next_attempt_at = NULL,
       lease_until = NULL, lease_owner = NULL, updated_at = :now
 WHERE job_id = :job_id

-- name: fail_archive
UPDATE archives SET state = :state, next_attempt_at = :retry_at, last_error = :error, images = :images,
       lease_until = NULL, lease_owner = NULL, updated_at = :now
 WHERE job_id = :job_id AND lease_owner = :owner AND state = 'pending'

-- dashboard sessions ----------------------------------------------------------------------------

-- name: revoke_session
INSERT INTO revoked_sessions (nonce, expires_at) VALUES (:nonce, :expires_at) ON CONFLICT (nonce) DO NOTHING

-- name: forget_expired_sessions
DELETE FROM revoked_sessions WHERE expires_at < :now

-- name: session_revoked
SELECT 1 AS revoked FROM revoked_sessions WHERE nonce = :nonce

-- ==== pause, operational events, bulk retry (issue 14; hookline/store/deliveries.py) ====

-- name: hold_for_retry
-- Dead deliveries back to pending, held: promote_heads then makes each chain's head due.
UPDATE deliveries SET status = 'pending', next_attempt_at = NULL, updated_at = :now WHERE id = ANY(:ids)

-- name: promote_heads
-- The first pending delivery of each of a subscription's chains becomes due, unless the chain
-- already has a due one (it follows that one) or the subscription is paused or disabled.
UPDATE deliveries SET next_attempt_at = :now
 WHERE subscription_id = :id AND status = 'pending' AND next_attempt_at IS NULL
   AND n = (SELECT MIN(m.n) FROM deliveries m WHERE m.subscription_id = deliveries.subscription_id
               AND m.job_id = deliveries.job_id AND m.status = 'pending')
   AND NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.subscription_id = deliveries.subscription_id
                      AND h.job_id = deliveries.job_id AND h.status = 'pending' AND h.next_attempt_at IS NOT NULL)
   AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = :id AND s.enabled AND NOT s.paused)

-- name: due_now
UPDATE deliveries SET next_attempt_at = :now, updated_at = :now WHERE id = ANY(:ids)

-- name: dead_deliveries
-- What delivery.dead tells about each of these dead deliveries of job events.
SELECT d.id, d.event_id, d.event_type, d.job_id, d.attempts, d.last_error, d.subscription_id, s.url
  FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
 WHERE d.id = ANY(:ids) AND d.status = 'dead' AND d.event_type LIKE 'job.%'
 ORDER BY d.id

-- name: lock_subscription_health
-- Health after a batch of attempts (on PostgreSQL, one with failures: a batch of successes is
-- hookline_complete's): lock the rows in id order, then write what Python computed from them.
SELECT id, failing_since, throttled_until, enabled, consecutive_failures, url FROM subscriptions
 WHERE id = ANY(:ids) ORDER BY id FOR UPDATE

-- name: set_failures_in_a_row
UPDATE subscriptions SET consecutive_failures = :count WHERE id = :id

-- name: settle_recoveries
-- Subscriptions that succeeded again after failing (hookline_complete left their count for this).
UPDATE subscriptions SET consecutive_failures = 0
 WHERE id = ANY(:ids) AND consecutive_failures >= :failing_after AND failing_since IS NULL
RETURNING id, url

-- ==== idempotency ==== (hookline/store/idempotency.py; table in migration 0006)

-- name: claim_idempotency_key
-- Take the key for a new request: a new row, or a dead one (its answer expired, or the request
-- that held it crashed and its lock ran out) taken over. A live row is left as it is: the caller
-- reads it to learn whether this request replays, reuses the key wrongly, or must wait.
INSERT INTO idempotency_keys (credential, key, fingerprint, owner, status, content_type, body, created_at, expires_at)
VALUES (:credential, :key, :fingerprint, :owner, NULL, NULL, NULL, :now, :locked_until)
ON CONFLICT (credential, key) DO UPDATE
   SET fingerprint = excluded.fingerprint, owner = excluded.owner, status = NULL, content_type = NULL,
       body = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at
 WHERE idempotency_keys.expires_at <= :now

-- name: get_idempotency_key
SELECT * FROM idempotency_keys WHERE credential = :credential AND key = :key

-- name: extend_idempotency_lock
UPDATE idempotency_keys SET expires_at = :locked_until
 WHERE credential = :credential AND key = :key AND owner = :owner AND status IS NULL

-- name: save_idempotent_answer
UPDATE idempotency_keys SET status = :status, content_type = :content_type, body = :body, owner = NULL,
       expires_at = :expires_at
 WHERE credential = :credential AND key = :key AND owner = :owner AND status IS NULL

-- name: release_idempotency_key
DELETE FROM idempotency_keys WHERE credential = :credential AND key = :key AND owner = :owner AND status IS NULL

-- name: prune_idempotency_keys
-- At most :limit rows dead by :cutoff (now: expires_at already counts the 24 h), oldest first;
-- rows a claim holds are skipped, not waited for. Shaped as a retention sweep (:cutoff, :limit),
-- so the pruner takes it as Sweep("idempotency_keys", "prune_idempotency_keys", keep_for=0).
DELETE FROM idempotency_keys WHERE (credential, key) IN (
    SELECT credential, key FROM idempotency_keys WHERE expires_at <= :cutoff
     ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED)

-- name: unbound_job_by_key
-- The job a callback with this correlation key and an unknown task id would be bound to.
SELECT id FROM jobs WHERE provider = :provider AND correlation_key = :correlation_key AND upstream_id IS NULL
 ORDER BY created_at, id LIMIT 1

-- ==== subscription settings (issue 15; see hookline/store/rates.py) ====

-- name: subscription_settings
-- What a claimed delivery carries of its subscription's settings.
SELECT id, headers, rate_limit, retry_schedule FROM subscriptions WHERE id = ANY(:ids)

-- name: ensure_rate_buckets
INSERT INTO rate_buckets (subscription_id, next_at)
SELECT id, 0 FROM subscriptions WHERE id = ANY(:ids) ON CONFLICT (subscription_id) DO NOTHING

-- name: lock_rate_buckets
SELECT subscription_id, next_at FROM rate_buckets WHERE subscription_id = ANY(:ids) ORDER BY subscription_id
   FOR UPDATE

-- name: save_rate_bucket
UPDATE rate_buckets SET next_at = :next_at WHERE subscription_id = :id

-- name: throttle_for_rate
UPDATE subscriptions SET throttled_until = :until WHERE id = :id AND (throttled_until IS NULL OR throttled_until < :until)

-- name: delete_rate_bucket
DELETE FROM rate_buckets WHERE subscription_id = :id

-- ==== api keys (issue 15) ====

-- name: insert_api_key
INSERT INTO api_keys (id, name, scopes, key_hash, prefix, created_at, expires_at, revoked_at)
VALUES (:id, :name, :scopes, :key_hash, :prefix, :created_at, :expires_at, NULL)

-- name: api_key_by_hash
SELECT * FROM api_keys WHERE key_hash = :key_hash

-- name: api_key_by_id
SELECT * FROM api_keys WHERE id = :id

-- name: live_api_keys
-- Every key not revoked (expired ones included: they are listed with their expiry), newest first.
SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY id DESC LIMIT :limit

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL

-- ==== retention and erasure (issue 14; hookline/store/retention.py) ====

-- name: prunable_jobs
-- Terminal jobs that have not changed (nor heard from upstream) since :cutoff, with no pending
-- delivery and no archive being worked on (one left pending since :cutoff, with HOOKLINE_ARCHIVE
-- off, waits for nothing): what retention deletes, oldest first. Locked without waiting (a job
-- being changed right now is left for the next batch).
SELECT j.id FROM jobs j
 WHERE j.status IN ('succeeded', 'failed', 'moderated', 'cancelled') AND j.updated_at < :cutoff
   AND COALESCE(j.last_seen_at, 0) < :cutoff
   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = j.id AND d.status = 'pending')
   AND NOT EXISTS (SELECT 1 FROM archives a WHERE a.job_id = j.id AND a.state = 'pending' AND a.updated_at >= :cutoff)
 ORDER BY j.updated_at LIMIT :limit FOR UPDATE OF j SKIP LOCKED

-- name: still_prunable
-- Of these locked jobs, those still prunable (read again after the lock: a delivery or an archive
-- may have been queued just before it was taken).
SELECT j.id FROM jobs j
 WHERE j.id = ANY(:ids) AND j.status IN ('succeeded', 'failed', 'moderated', 'cancelled')
   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = j.id AND d.status = 'pending')
   AND NOT EXISTS (SELECT 1 FROM archives a WHERE a.job_id = j.id AND a.state = 'pending' AND a.updated_at >= :cutoff)

-- name: jobs_by_key
SELECT id FROM jobs WHERE correlation_key = :key AND id > :after ORDER BY id LIMIT :limit

-- name: jobs_by_key_prefix
SELECT id FROM jobs WHERE substr(correlation_key, 1, :length) = :prefix AND id > :after ORDER BY id LIMIT :limit

-- name: pending_deliveries_of_jobs
SELECT id FROM deliveries WHERE job_id = ANY(:ids) AND status = 'pending'

-- name: archived_images_of_jobs
SELECT images FROM archives WHERE job_id = ANY(:ids)

-- name: erase_attempts_of_jobs
DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE job_id = ANY(:ids))

-- name: erase_deliveries_of_jobs
DELETE FROM deliveries WHERE job_id = ANY(:ids)

-- name: erase_events_of_jobs
DELETE FROM events WHERE job_id = ANY(:ids)

-- name: erase_callbacks_of_jobs
DELETE FROM callbacks WHERE job_id = ANY(:ids)

-- name: erase_archives_of_jobs
DELETE FROM archives WHERE job_id = ANY(:ids)

-- name: erase_submissions_of_jobs
DELETE FROM submissions WHERE job_id = ANY(:ids)

-- name: erase_polls_of_jobs
DELETE FROM polls WHERE job_id = ANY(:ids)

-- name: erase_subscriptions_of_jobs
-- The jobs' one-off subscriptions (``callback_url``); their deliveries went with the jobs'.
DELETE FROM subscriptions WHERE job_id = ANY(:ids)

-- name: erase_jobs
DELETE FROM jobs WHERE id = ANY(:ids)

-- name: archive_images_in_use
-- Every archived image list that still names one of these files (content-addressed: two jobs may
-- share an image); the caller keeps the files it finds in them.
SELECT images FROM archives WHERE images::text LIKE ANY(:patterns)

-- name: prunable_deliveries
-- Finished (delivered or dead) deliveries unchanged since :cutoff, of jobs retention keeps.
SELECT id FROM deliveries WHERE status <> 'pending' AND updated_at < :cutoff
 ORDER BY updated_at LIMIT :limit FOR UPDATE SKIP LOCKED

-- name: prune_attempts_of
DELETE FROM attempts WHERE delivery_id = ANY(:ids)

-- name: prune_deliveries
DELETE FROM deliveries WHERE id = ANY(:ids) AND status <> 'pending'

-- name: prune_callbacks
-- Callbacks no job or event refers to (rejected ones, and duplicate, stale and conflicting ones:
-- only an applied callback is ever referred to), received before :cutoff.
DELETE FROM callbacks WHERE id IN (SELECT id FROM callbacks WHERE received_at < :cutoff
                                      AND (job_id IS NULL OR outcome <> 'applied') LIMIT :limit)

-- name: prune_operational_events
-- Operational events (subscription.*, delivery.dead) belong to no job, so no job's pruning takes
-- them: those created before :cutoff whose deliveries are all gone (each is its own chain:
-- job_id = its own id).
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
     WHERE e.type NOT LIKE 'job.%' AND e.created_at < :cutoff
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = e.job_id)
     LIMIT :limit)
