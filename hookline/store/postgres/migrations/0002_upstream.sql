-- hookline schema 2 on PostgreSQL: hookline's own upstream work, in tables of their own, keyed by
-- job id: blend submissions (the durable submit queue), the reconciler's poll leases, the archive.

CREATE TABLE submissions (
    job_id          text COLLATE "C" PRIMARY KEY,
    provider        text NOT NULL,
    channel         text,                  -- useapi channel whose maxJobs bounds it; NULL: no bound
    request         json NOT NULL,         -- {images, dimensions, bot_type}: no secrets
    state           text NOT NULL,         -- pending | sent | refused
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision,      -- set while pending
    lease_until     double precision,
    lease_owner     text,
    last_error      text,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    sent_at         double precision
);
CREATE INDEX submissions_due ON submissions (next_attempt_at, job_id) WHERE state = 'pending';
CREATE INDEX submissions_running ON submissions (channel) WHERE channel IS NOT NULL AND state <> 'refused';

CREATE TABLE polls (
    job_id         text COLLATE "C" PRIMARY KEY,
    next_poll_at   double precision NOT NULL,
    lease_until    double precision,
    lease_owner    text,
    polls          integer NOT NULL DEFAULT 0,
    last_polled_at double precision
);

CREATE TABLE archives (
    job_id          text COLLATE "C" PRIMARY KEY,
    state           text NOT NULL,         -- pending | archived | failed
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision,      -- set while pending
    lease_until     double precision,
    lease_owner     text,
    last_error      text,
    images          json NOT NULL DEFAULT '[]',  -- list of archived images
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL
);
CREATE INDEX archives_due ON archives (next_attempt_at) WHERE state = 'pending';

-- The reconciler looks for open jobs that have been quiet: keep that to the open ones.
CREATE INDEX jobs_open_quiet ON jobs ((COALESCE(last_seen_at, created_at)), id)
    WHERE status IN ('queued', 'submitted', 'in_progress');
