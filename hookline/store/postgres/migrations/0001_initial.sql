-- hookline schema 1 on PostgreSQL: the SQLite schema's tables, columns and indexes, in PostgreSQL types.
-- Times are seconds since the epoch (double precision), as on SQLite, so both backends share their
-- row mappers. JSON columns are `json`: an exact copy of what hookline wrote (key order kept, and
-- `\u0000` accepted, which jsonb refuses). Ids sort bytewise (COLLATE "C") whatever the database's
-- collation, because "newest first" is "largest id first".

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE jobs (
    id              text COLLATE "C" PRIMARY KEY,
    provider        text NOT NULL,
    upstream_id     text,
    correlation_key text,
    status          text NOT NULL,
    progress        integer,
    image_urls      json NOT NULL DEFAULT '[]',
    error           text,
    action          text,
    metadata        json NOT NULL DEFAULT '{}',
    upstream_callback_id text COLLATE "C", -- the callback applied last (its body is the raw snapshot)
    sequence        integer NOT NULL DEFAULT 0,
    origin          text NOT NULL,         -- registered | callback | submitted
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    last_seen_at    double precision
);
CREATE UNIQUE INDEX jobs_upstream ON jobs (provider, upstream_id) WHERE upstream_id IS NOT NULL;
-- Correlation looks for *unbound* jobs by key: keep that lookup small however many bound jobs
-- share a key (a client that sends the same state on every job must not slow ingest down).
CREATE INDEX jobs_unbound_key ON jobs (correlation_key) WHERE upstream_id IS NULL;
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_key ON jobs (correlation_key, id);

CREATE TABLE callbacks (
    id          text COLLATE "C" PRIMARY KEY,
    job_id      text COLLATE "C",
    provider    text NOT NULL,
    source      text NOT NULL,             -- callback | poll
    outcome     text NOT NULL,             -- applied | duplicate | stale | conflict | rejected
    received_at double precision NOT NULL,
    headers     json NOT NULL,
    body        bytea NOT NULL,
    error       text
);
CREATE INDEX callbacks_job ON callbacks (job_id, id);
CREATE INDEX callbacks_outcome ON callbacks (outcome, id);

CREATE TABLE events (
    id         text COLLATE "C" PRIMARY KEY,
    job_id     text COLLATE "C" NOT NULL,
    type       text NOT NULL,
    sequence   integer NOT NULL,
    created_at  double precision NOT NULL,
    head        bytea NOT NULL,            -- the event JSON without data.upstream
    callback_id text COLLATE "C"           -- whose body is data.upstream (see hookline.events)
);
CREATE UNIQUE INDEX events_job_sequence ON events (job_id, sequence);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE subscriptions (
    id              text COLLATE "C" PRIMARY KEY,
    url             text NOT NULL,
    event_types     json,                  -- list, NULL for every type
    filter          json NOT NULL DEFAULT '{}',
    description     text,
    secrets         json NOT NULL,         -- list of {secret, created_at, expires_at}
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    job_id          text COLLATE "C",      -- one-off subscription of one job
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    failing_since   double precision,
    last_success_at double precision,
    throttled_until double precision
);
CREATE INDEX subscriptions_job ON subscriptions (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE deliveries (
    id               text COLLATE "C" PRIMARY KEY,
    n                bigserial NOT NULL,    -- creation order: the order of a chain
    event_id         text COLLATE "C" NOT NULL,
    subscription_id  text COLLATE "C" NOT NULL,
    job_id           text COLLATE "C" NOT NULL,
    event_type       text NOT NULL,
    sequence         integer NOT NULL,
    status           text NOT NULL,         -- pending | delivered | dead
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  double precision,      -- NULL: waiting behind an earlier delivery, or paused
    lease_until      double precision,
    lease_owner      text,
    last_status_code integer,
    last_error       text,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    delivered_at     double precision
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
-- A job's pending deliveries per subscription, in chain order: ingest asks "does this job already
-- have a pending delivery for this subscription?", completion asks "which one is next?".
CREATE INDEX deliveries_chain ON deliveries (job_id, subscription_id, n) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (subscription_id, lease_until) WHERE lease_until IS NOT NULL;
-- Every attempt rewrites its delivery's row, and each index is one more write: index what the
-- dispatchers and the API look up, and leave delivered rows out where a list can do without.
CREATE INDEX deliveries_status ON deliveries (status, id) WHERE status <> 'delivered';
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_job ON deliveries (job_id, id);

CREATE TABLE attempts (
    id            text COLLATE "C" PRIMARY KEY,
    delivery_id   text COLLATE "C" NOT NULL,
    attempted_at  double precision NOT NULL,
    status_code   integer,
    latency_ms    double precision NOT NULL,
    error         text,
    response_body text
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

-- The dispatchers' two hot paths as functions: one round trip each (the call is its own
-- transaction), where the same statements sent one by one would wait for a round trip apiece —
-- and a busy dispatcher's event loop makes each round trip slow. Their contracts are in
-- hookline/store/postgres/claims.py, which calls them.

-- Lease up to p_limit due deliveries to p_owner, never more than p_per_subscription live leases
-- per subscription, counting every dispatcher's: candidates are locked without waiting (SKIP
-- LOCKED), then each of their subscriptions' claim lock is taken in key order, then the live
-- leases are counted in a new statement, so under the locks.
CREATE FUNCTION hookline_claim(p_owner text, p_limit integer, p_now double precision,
                               p_lease double precision, p_per_subscription integer)
RETURNS TABLE (id text, event_id text, subscription_id text, job_id text, attempts integer, url text,
               secrets json, head bytea, body bytea)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids text[];
    v_subs text[];
    v_full text[];
    v_wanted integer := p_limit;
BEGIN
    -- Live leases per subscription, read without locks: a hint. Subscriptions at their bound are
    -- left out of the candidates, so they cannot take every slot; if one is close to it, twice as
    -- many candidates are locked, as some may turn out to be over the bound once counted under
    -- the lock. (Locking a row is a write: not more than needed.)
    SELECT coalesce(array_agg(l.subscription_id) FILTER (WHERE l.leased >= p_per_subscription), '{}'),
           CASE WHEN bool_or(l.leased + p_limit > p_per_subscription) THEN p_limit * 2 ELSE p_limit END
      INTO v_full, v_wanted
      FROM (SELECT d.subscription_id, count(*) AS leased FROM deliveries d WHERE d.lease_until > p_now
             GROUP BY d.subscription_id) l;
    v_wanted := coalesce(v_wanted, p_limit);
    IF p_limit > p_per_subscription THEN
        v_wanted := p_limit * 2;  -- a claim may meet a subscription with no lease yet and fill it
    END IF;
    SELECT array_agg(c.id ORDER BY c.next_attempt_at, c.n), array_agg(c.subscription_id ORDER BY c.next_attempt_at, c.n)
      INTO v_ids, v_subs
      FROM (SELECT d.id, d.subscription_id, d.next_attempt_at, d.n
              FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= p_now
               AND (d.lease_until IS NULL OR d.lease_until <= p_now)
               AND s.enabled AND (s.throttled_until IS NULL OR s.throttled_until <= p_now)
               AND d.subscription_id <> ALL (v_full)
             ORDER BY d.next_attempt_at
             LIMIT v_wanted
             FOR UPDATE OF d SKIP LOCKED) c;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(k.key)
       FROM (SELECT DISTINCT hashtextextended(x.sub, 7) AS key FROM unnest(v_subs) AS x(sub) ORDER BY 1) k;
    RETURN QUERY
    WITH cand AS (
        SELECT c.id, c.subscription_id, c.ord FROM unnest(v_ids, v_subs) WITH ORDINALITY AS c(id, subscription_id, ord)
    ), live AS (
        SELECT l.subscription_id, count(*) AS leased FROM deliveries l
         WHERE l.lease_until > p_now AND l.subscription_id = ANY (v_subs) GROUP BY l.subscription_id
    ), chosen AS (
        SELECT r.id FROM (
            SELECT c.id, c.ord,
                   row_number() OVER (PARTITION BY c.subscription_id ORDER BY c.ord) + coalesce(live.leased, 0) AS slot
              FROM cand c LEFT JOIN live ON live.subscription_id = c.subscription_id) r
         WHERE r.slot <= p_per_subscription ORDER BY r.ord LIMIT p_limit
    ), leased AS (
        UPDATE deliveries d SET lease_until = p_now + p_lease, lease_owner = p_owner
          FROM chosen WHERE d.id = chosen.id
        RETURNING d.id, d.event_id, d.subscription_id, d.job_id, d.attempts, d.next_attempt_at, d.n
    )
    SELECT l.id, l.event_id, l.subscription_id, l.job_id, l.attempts, s.url, s.secrets, e.head, u.body
      FROM leased l JOIN subscriptions s ON s.id = l.subscription_id JOIN events e ON e.id = l.event_id
      LEFT JOIN callbacks u ON u.id = e.callback_id
     ORDER BY l.next_attempt_at, l.n;
END
$$;

-- Record a batch of attempts (a_*) and their consequences (c_*): a delivery whose lease went to
-- another dispatcher keeps only its attempt row. The jobs of deliveries that finish are locked
-- first (the order every writer locks in), so promoting the next delivery of a chain cannot race a
-- receiver appending to it. NOTIFY when a promotion made a delivery due. Subscriptions whose
-- attempts in this batch all succeeded (p_succeeded, at p_succeeded_at) get their health refreshed
-- here, at most once per p_resolution seconds; any other health change is the caller's, in the same
-- transaction. Returns the deliveries whose result was applied, with their subscription's health as
-- stored before this call.
CREATE FUNCTION hookline_complete(
    a_id text[], a_delivery_id text[], a_attempted_at double precision[], a_status_code integer[],
    a_latency_ms double precision[], a_error text[], a_response_body text[],
    c_id text[], c_owner text[], c_status text[], c_next_attempt_at double precision[], c_code integer[],
    c_error text[], c_now double precision[], c_delivered_at double precision[],
    p_succeeded text[], p_succeeded_at double precision[], p_resolution double precision)
RETURNS TABLE (id text, subscription_id text, job_id text, status text, failing_since double precision,
               last_success_at double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids text[];
    v_subs text[];
    v_jobs text[];
    v_statuses text[];
    v_failing double precision[];
    v_success double precision[];
    v_promoted integer;
BEGIN
    PERFORM 1 FROM jobs j
     WHERE j.id IN (SELECT d.job_id FROM deliveries d JOIN unnest(c_id, c_status) AS u(id, status) ON d.id = u.id
                     WHERE u.status <> 'pending')
     ORDER BY j.id FOR UPDATE;
    WITH attempt AS (
        INSERT INTO attempts (id, delivery_id, attempted_at, status_code, latency_ms, error, response_body)
        SELECT * FROM unnest(a_id, a_delivery_id, a_attempted_at, a_status_code, a_latency_ms, a_error, a_response_body)
    ), finished AS (
        UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1,
               next_attempt_at = CASE WHEN s.enabled THEN u.next_attempt_at END,
               lease_until = NULL, lease_owner = NULL, last_status_code = u.code, last_error = u.error,
               updated_at = u.now, delivered_at = coalesce(u.delivered_at, d.delivered_at)
          FROM unnest(c_id, c_owner, c_status, c_next_attempt_at, c_code, c_error, c_now, c_delivered_at)
               AS u(id, owner, status, next_attempt_at, code, error, now, delivered_at),
               subscriptions s
         WHERE d.id = u.id AND d.lease_owner = u.owner AND s.id = d.subscription_id
        RETURNING d.id, d.subscription_id, d.job_id, d.status, s.failing_since, s.last_success_at
    )
    SELECT array_agg(f.id), array_agg(f.subscription_id), array_agg(f.job_id), array_agg(f.status),
           array_agg(f.failing_since), array_agg(f.last_success_at)
      INTO v_ids, v_subs, v_jobs, v_statuses, v_failing, v_success
      FROM finished f;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    -- The next waiting delivery of each finished chain becomes due, unless the chain still has a
    -- head (retried by an operator) or the subscription is disabled.
    UPDATE deliveries SET next_attempt_at = (SELECT max(x) FROM unnest(c_now) AS x)
     WHERE deliveries.id IN (
        SELECT w.id
          FROM (SELECT DISTINCT f.sub, f.job FROM unnest(v_subs, v_jobs, v_statuses) AS f(sub, job, status)
                 WHERE f.status <> 'pending') c
         CROSS JOIN LATERAL (
               SELECT n.id FROM deliveries n
                WHERE n.subscription_id = c.sub AND n.job_id = c.job AND n.status = 'pending'
                  AND n.next_attempt_at IS NULL
                ORDER BY n.n LIMIT 1) w
         WHERE NOT EXISTS (SELECT 1 FROM deliveries h WHERE h.subscription_id = c.sub AND h.job_id = c.job
                              AND h.status = 'pending' AND h.next_attempt_at IS NOT NULL)
           AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = c.sub AND s.enabled));
    GET DIAGNOSTICS v_promoted = ROW_COUNT;
    IF v_promoted > 0 THEN
        PERFORM pg_notify('hookline_deliveries', '');
    END IF;
    -- Successes clear failing_since at once; last_success_at is refreshed at most once per
    -- p_resolution seconds, so a busy healthy subscription's row is not written (and locked) by
    -- every batch of every dispatcher. Rows are locked in id order.
    PERFORM 1 FROM subscriptions s JOIN unnest(p_succeeded, p_succeeded_at) AS u(id, at) ON s.id = u.id
     WHERE u.id = ANY (v_subs)
       AND (s.failing_since IS NOT NULL OR s.last_success_at IS NULL OR s.last_success_at < u.at - p_resolution)
     ORDER BY s.id FOR UPDATE OF s;
    UPDATE subscriptions s SET last_success_at = u.at, failing_since = NULL
      FROM unnest(p_succeeded, p_succeeded_at) AS u(id, at)
     WHERE s.id = u.id AND u.id = ANY (v_subs)
       AND (s.failing_since IS NOT NULL OR s.last_success_at IS NULL OR s.last_success_at < u.at - p_resolution);
    RETURN QUERY SELECT * FROM unnest(v_ids, v_subs, v_jobs, v_statuses, v_failing, v_success);
END
$$;
