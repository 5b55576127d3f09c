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
    upstream        json,                  -- latest applied raw snapshot; NULL before the first
    sequence        integer NOT NULL DEFAULT 0,
    origin          text NOT NULL,         -- registered | callback | submitted
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    last_seen_at    double precision
);
CREATE UNIQUE INDEX jobs_upstream ON jobs (provider, upstream_id) WHERE upstream_id IS NOT NULL;
CREATE INDEX jobs_correlation ON jobs (provider, correlation_key);
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
    created_at double precision NOT NULL,
    payload    bytea NOT NULL
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
    n                bigserial PRIMARY KEY, -- creation order: the order of a chain
    id               text COLLATE "C" NOT NULL UNIQUE,
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
CREATE INDEX deliveries_chain ON deliveries (subscription_id, job_id, n) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (subscription_id, lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX deliveries_status ON deliveries (status, id);
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
