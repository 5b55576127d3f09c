-- hookline schema 2: hookline's own upstream work, in tables of their own, keyed by job id:
-- blend submissions (the durable submit queue), the reconciler's poll leases, the image archive.

CREATE TABLE submissions (
    job_id          TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    channel         TEXT,                 -- useapi channel whose maxJobs bounds it; NULL: no bound
    request         TEXT NOT NULL,        -- JSON {images, dimensions, bot_type}: no secrets
    state           TEXT NOT NULL,        -- pending | sent | refused
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,                 -- set while pending
    lease_until     REAL,
    lease_owner     TEXT,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    sent_at         REAL
);
CREATE INDEX submissions_due ON submissions (next_attempt_at, job_id) WHERE state = 'pending';
CREATE INDEX submissions_leased ON submissions (lease_until) WHERE lease_until IS NOT NULL;

CREATE TABLE polls (
    job_id         TEXT PRIMARY KEY,
    next_poll_at   REAL NOT NULL,
    lease_until    REAL,
    lease_owner    TEXT,
    polls          INTEGER NOT NULL DEFAULT 0,
    last_polled_at REAL
);
CREATE INDEX polls_leased ON polls (lease_until) WHERE lease_until IS NOT NULL;

CREATE TABLE archives (
    job_id          TEXT PRIMARY KEY,
    state           TEXT NOT NULL,        -- pending | archived | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,                 -- set while pending
    lease_until     REAL,
    lease_owner     TEXT,
    last_error      TEXT,
    images          TEXT NOT NULL DEFAULT '[]',  -- JSON list of archived images
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX archives_due ON archives (next_attempt_at) WHERE state = 'pending';
CREATE INDEX archives_leased ON archives (lease_until) WHERE lease_until IS NOT NULL;
