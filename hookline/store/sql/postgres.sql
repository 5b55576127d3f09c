-- PostgreSQL's forms of what truly differs: bulk writes (each column one array parameter, turned
-- back into rows by unnest: one round trip however large the batch; JSON travels as text), row
-- locks across processes, the dispatchers' functions (in the migration) and NOTIFY.

-- name: jobs_for_ingest
-- The candidate jobs of an ingest batch, locked in id order (so concurrent batches never
-- deadlock): by (provider, upstream id), and by correlation key as a job id or as an unbound
-- job's key. A locked row is returned as it is after any concurrent change it waited for.
SELECT * FROM jobs WHERE id IN (
    SELECT j.id FROM jobs j JOIN unnest(:providers::text[], :upstream_ids::text[]) AS k(provider, upstream_id)
        ON j.provider = k.provider AND j.upstream_id = k.upstream_id
    UNION SELECT j.id FROM jobs j WHERE j.id = ANY(:keys)
    UNION SELECT j.id FROM jobs j WHERE j.correlation_key = ANY(:keys) AND j.upstream_id IS NULL
) ORDER BY id FOR UPDATE

-- name: insert_jobs
INSERT INTO jobs (id, provider, upstream_id, correlation_key, status, progress, image_urls, error, action,
                  metadata, upstream_callback_id, sequence, origin, created_at, updated_at, last_seen_at)
SELECT u.id, u.provider, u.upstream_id, u.correlation_key, u.status, u.progress, u.image_urls::json, u.error,
       u.action, u.metadata::json, u.upstream_callback_id, u.sequence, u.origin, u.created_at, u.updated_at,
       u.last_seen_at
  FROM unnest(:id::text[], :provider::text[], :upstream_id::text[], :correlation_key::text[], :status::text[],
              :progress::int4[], :image_urls::text[], :error::text[], :action::text[], :metadata::text[],
              :upstream_callback_id::text[], :sequence::int4[], :origin::text[], :created_at::float8[],
              :updated_at::float8[], :last_seen_at::float8[])
       AS u(id, provider, upstream_id, correlation_key, status, progress, image_urls, error, action, metadata,
            upstream_callback_id, sequence, origin, created_at, updated_at, last_seen_at)

-- name: update_jobs
UPDATE jobs SET upstream_id = u.upstream_id, correlation_key = u.correlation_key, status = u.status,
       progress = u.progress, image_urls = u.image_urls::json, error = u.error, action = u.action,
       upstream_callback_id = u.upstream_callback_id, sequence = u.sequence, updated_at = u.updated_at,
       last_seen_at = u.last_seen_at
  FROM unnest(:upstream_id::text[], :correlation_key::text[], :status::text[], :progress::int4[],
              :image_urls::text[], :error::text[], :action::text[], :upstream_callback_id::text[],
              :sequence::int4[], :updated_at::float8[], :last_seen_at::float8[], :id::text[])
       AS u(upstream_id, correlation_key, status, progress, image_urls, error, action, upstream_callback_id,
            sequence, updated_at, last_seen_at, id)
 WHERE jobs.id = u.id

-- name: insert_callbacks
INSERT INTO callbacks (id, job_id, provider, source, outcome, received_at, headers, body, error)
SELECT u.id, u.job_id, u.provider, u.source, u.outcome, u.received_at, u.headers::json, u.body, u.error
  FROM unnest(:id::text[], :job_id::text[], :provider::text[], :source::text[], :outcome::text[],
              :received_at::float8[], :headers::text[], :body::bytea[], :error::text[])
       AS u(id, job_id, provider, source, outcome, received_at, headers, body, error)

-- name: insert_events
INSERT INTO events (id, job_id, type, sequence, created_at, head, callback_id)
SELECT * FROM unnest(:id::text[], :job_id::text[], :type::text[], :sequence::int4[], :created_at::float8[],
                     :head::bytea[], :callback_id::text[])

-- name: insert_deliveries
-- Rows go in plan order (ORDER BY ord), so `n` follows the order of each chain.
INSERT INTO deliveries (id, event_id, subscription_id, job_id, event_type, sequence, status, attempts,
                        next_attempt_at, created_at, updated_at)
SELECT u.id, u.event_id, u.subscription_id, u.job_id, u.event_type, u.sequence, 'pending', 0, u.next_attempt_at,
       u.created_at, u.created_at
  FROM unnest(:id::text[], :event_id::text[], :subscription_id::text[], :job_id::text[], :event_type::text[],
              :sequence::int4[], :next_attempt_at::float8[], :created_at::float8[])
       WITH ORDINALITY AS u(id, event_id, subscription_id, job_id, event_type, sequence, next_attempt_at, created_at,
                            ord)
 ORDER BY u.ord

-- name: queue_archives
INSERT INTO archives (job_id, state, attempts, next_attempt_at, images, created_at, updated_at)
SELECT u.job_id, 'pending', 0, u.now, '[]', u.now, u.now FROM unnest(:job_id::text[], :now::float8[]) AS u(job_id, now)
    ON CONFLICT (job_id) DO NOTHING

-- name: retry_delivery
UPDATE deliveries SET status = 'pending', updated_at = :now, lease_until = NULL, lease_owner = NULL,
       next_attempt_at = CASE WHEN (SELECT paused FROM subscriptions s WHERE s.id = deliveries.subscription_id)
                         THEN NULL ELSE :now::float8 END
 WHERE id = :id

-- name: lease_polls
-- Win the poll lease of each candidate, or not: another process may have won it since the
-- candidates were read; only the rows returned were won.
INSERT INTO polls (job_id, next_poll_at, lease_until, lease_owner, polls, last_polled_at)
SELECT u.job_id, :next_poll_at::float8, :lease_until::float8, :owner::text, 1, :now::float8
  FROM unnest(:job_ids::text[]) AS u(job_id)
    ON CONFLICT (job_id) DO UPDATE SET next_poll_at = excluded.next_poll_at, lease_until = excluded.lease_until,
       lease_owner = excluded.lease_owner, polls = polls.polls + 1, last_polled_at = excluded.last_polled_at
 WHERE polls.next_poll_at <= :now AND (polls.lease_until IS NULL OR polls.lease_until <= :now)
RETURNING job_id

-- locks (SQLite has one writer, so it takes none) -------------------------------------------------

-- name: lock_jobs_of_pending
SELECT id FROM jobs WHERE id IN (SELECT job_id FROM deliveries WHERE subscription_id = :id AND status = 'pending')
 ORDER BY id FOR UPDATE

-- name: lock_submission_claims
-- Claims of submissions count each channel's running jobs, then lease: one claim at a time across
-- every process, or two could both see "one slot left". The key spells "hl_submi".
SELECT pg_advisory_xact_lock(7524494026924518761)

-- dispatchers (see hookline/store/postgres/claims.py) -------------------------------------------

-- name: claim
SELECT * FROM hookline_claim(:owner, :limit, :now, :lease, :per_subscription)

-- name: release
UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = :owner AND id = ANY(:ids)

-- name: complete
SELECT * FROM hookline_complete(:a_id, :a_delivery_id, :a_attempted_at, :a_status_code, :a_latency_ms, :a_error,
                                :a_response_body, :c_id, :c_owner, :c_status, :c_next_attempt_at, :c_code,
                                :c_error, :c_now, :c_delivered_at, :succeeded, :succeeded_at, :resolution)

-- name: lease_of
SELECT lease_until FROM deliveries WHERE id = :id

-- name: save_health
UPDATE subscriptions SET last_success_at = COALESCE(u.success_at, subscriptions.last_success_at),
       failing_since = u.failing_since, throttled_until = u.throttled_until,
       enabled = subscriptions.enabled AND u.disable_reason IS NULL,
       disabled_reason = COALESCE(u.disable_reason, subscriptions.disabled_reason),
       updated_at = CASE WHEN u.disable_reason IS NULL THEN subscriptions.updated_at ELSE u.now END,
       consecutive_failures = u.consecutive_failures
  FROM unnest(:id::text[], :success_at::float8[], :failing_since::float8[], :throttled_until::float8[],
              :disable_reason::text[], :now::float8[], :consecutive_failures::int4[])
       AS u(id, success_at, failing_since, throttled_until, disable_reason, now, consecutive_failures)
 WHERE subscriptions.id = u.id

-- name: notify
SELECT pg_notify('hookline_deliveries', '')

-- the event feed --------------------------------------------------------------------------------

-- name: feed_elsewhere
-- The (32-bit) ids of the write transactions running in other databases of the server, read
-- before feed_events takes its snapshot, which leaves them out: they cannot commit events here.
-- One that begins in between cannot matter (its id is larger than any event's committed before
-- this read); one that cannot be placed (other users' sessions without pg_read_all_stats, a
-- prepared transaction) counts, so the error is only ever a lag.
SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') AS xids FROM pg_stat_activity
 WHERE datname <> current_database() AND backend_xid IS NOT NULL

-- name: feed_events
-- In the order of the inserting transactions' ids (migration 0004), holding back every event of a
-- transaction not older than the oldest one of this database still in flight: anything that
-- commits later sorts after what a follower has read.
SELECT e.*, u.body, e.xact::text AS position FROM events e LEFT JOIN callbacks u ON u.id = e.callback_id
 WHERE e.xact < (SELECT coalesce(min(x.xid), pg_snapshot_xmax(pg_current_snapshot()))
                   FROM pg_snapshot_xip(pg_current_snapshot()) AS x(xid)
                  WHERE x.xid::text::bigint % 4294967296 <> ALL (:elsewhere::bigint[]))
   AND (e.xact, e.id) > (:after_position::bigint::text::xid8, :after_id::text)
   AND (:type::text IS NULL OR e.type = :type) AND (:job_id::text IS NULL OR e.job_id = :job_id)
 ORDER BY e.xact, e.id LIMIT :limit

-- schema ----------------------------------------------------------------------------------------

-- name: create_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                              applied_at timestamptz NOT NULL)

-- name: schema_version
SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, now())

-- name: lock_correlation_key
-- Registrations of one (provider, correlation key) one at a time (SQLite has one writer and
-- takes no lock): otherwise two could each see no unbound job with the key and both register one.
SELECT pg_advisory_xact_lock(hashtextextended(:provider || '/' || :correlation_key, 0))
