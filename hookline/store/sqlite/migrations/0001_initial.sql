-- hookline schema 1: jobs, their callbacks and events; subscriptions, deliveries and attempts.
-- Times are seconds since the epoch (REAL). JSON columns hold orjson text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    upstream_id     TEXT,
    correlation_key TEXT,
    status          TEXT NOT NULL,
    progress        INTEGER,
    image_urls      TEXT NOT NULL DEFAULT '[]',
    error           TEXT,
    action          TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}',
    upstream_callback_id TEXT,            -- the callback applied last (its body is the raw snapshot)
    sequence        INTEGER NOT NULL DEFAULT 0,
    origin          TEXT NOT NULL,        -- registered | callback | submitted
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    last_seen_at    REAL
);
CREATE UNIQUE INDEX jobs_upstream ON jobs (provider, upstream_id) WHERE upstream_id IS NOT NULL;
-- Correlation looks for *unbound* jobs by key: keep that lookup small however many bound jobs
-- share a key (a client that sends the same state on every job must not slow ingest down).
CREATE INDEX jobs_unbound_key ON jobs (correlation_key) WHERE upstream_id IS NULL;
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_key ON jobs (correlation_key, id);

CREATE TABLE callbacks (
    id          TEXT PRIMARY KEY,
    job_id      TEXT,
    provider    TEXT NOT NULL,
    source      TEXT NOT NULL,            -- callback | poll
    outcome     TEXT NOT NULL,            -- applied | duplicate | stale | conflict | rejected
    received_at REAL NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL,
    error       TEXT
);
CREATE INDEX callbacks_job ON callbacks (job_id, id);
CREATE INDEX callbacks_outcome ON callbacks (outcome, id);

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    sequence   INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    head        BLOB NOT NULL,            -- the event JSON without data.upstream
    callback_id TEXT                      -- whose body is data.upstream (see hookline.events)
);
CREATE UNIQUE INDEX events_job_sequence ON events (job_id, sequence);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    event_types     TEXT,                 -- JSON list, NULL for every type
    filter          TEXT NOT NULL DEFAULT '{}',
    description     TEXT,
    secrets         TEXT NOT NULL,        -- JSON list of {secret, created_at, expires_at}
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    job_id          TEXT,                 -- one-off subscription of one job
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    failing_since   REAL,
    last_success_at REAL,
    throttled_until REAL
);
CREATE INDEX subscriptions_job ON subscriptions (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE deliveries (
    n                INTEGER PRIMARY KEY,  -- creation order: the order of a chain
    id               TEXT NOT NULL UNIQUE,
    event_id         TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    job_id           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    sequence         INTEGER NOT NULL,
    status           TEXT NOT NULL,        -- pending | delivered | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,                 -- NULL: waiting behind an earlier delivery, or paused
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    delivered_at     REAL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
-- A job's pending deliveries per subscription, in chain order: ingest asks "does this job already
-- have a pending delivery for this subscription?", completion asks "which one is next?".
CREATE INDEX deliveries_chain ON deliveries (job_id, subscription_id, n) WHERE status = 'pending';
-- (Leases are kept in memory: one process uses a SQLite file. See hookline/store/sqlite/claims.py.)
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, id);
CREATE INDEX deliveries_job ON deliveries (job_id, id);

-- Keyed by (delivery, attempt): one B-tree, in the order a delivery's attempts are read.
CREATE TABLE attempts (
    delivery_id   TEXT NOT NULL,
    id            TEXT NOT NULL,
    attempted_at  REAL NOT NULL,
    status_code   INTEGER,
    latency_ms    REAL NOT NULL,
    error         TEXT,
    response_body TEXT,
    PRIMARY KEY (delivery_id, id)
) WITHOUT ROWID;
